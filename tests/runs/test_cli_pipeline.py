"""``taskapi pipeline run|show|cancel`` as real processes beside a real worker (the stand-in steps of
``tests.handlers.pipeline_steps``), in a pipe, as NDJSON and on a real pseudo-terminal; Ctrl-C is a
real SIGINT, and it stops the following, never the run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskapi.run_records import PipelineRun
from taskapi.runs import RunService
from taskapi.service import TaskService
from tests.e2e.test_cli_watch import Cli, Processes, plain

pytestmark = pytest.mark.slow

STEPS = "tests.handlers.pipeline_steps"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    if request.param == "sqlite":
        yield database_url
        return
    from tests.integration.pg import cloned_database

    with cloned_database() as cloned:
        yield cloned


@pytest.fixture
def procs(tmp_path: Path, url: str) -> Iterator[Processes]:
    """The CLI and the worker with the stand-in steps only (as the CLI's params checks too)."""
    opened = Processes(tmp_path, url)
    opened.env["TASKAPI_HANDLERS"] = STEPS
    opened.env["TASKAPI_BUILTIN_HANDLERS"] = "false"
    try:
        yield opened
    finally:
        opened.close()


def start_worker(procs: Processes, log: Path) -> None:
    with log.open("wb") as sink:
        procs.popen(("worker", "--shutdown-timeout", "1"), stdout=sink, stderr=sink)


def run_of(url: str, run_id: int) -> PipelineRun:
    with TaskService.open(url) as tasks:
        return RunService.of(tasks).get(run_id)


def errors_of(cli: Cli) -> str:
    assert cli.stderr is not None
    return cli.stderr.all()


def test_run_json_follows_every_step_to_completed_and_exits_0(procs: Processes, tmp_path: Path) -> None:
    start_worker(procs, tmp_path / "worker.log")
    params = json.dumps({"crawl": {"n": 4}})
    cli = procs.cli(
        "pipeline",
        "run",
        "-p",
        "1",
        "-q",
        "graphene",
        "--steps",
        "search,dedup",
        "--steps",
        "crawl",
        "--params",
        params,
        "--json",
        "--interval",
        "0.05",
    )
    assert cli.exit_code() == 0, errors_of(cli)
    assert errors_of(cli) == ""
    events = cli.events()
    assert events[0]["event"] == "started" and events[0]["status"] == "running"
    assert events[-1]["event"] == "ended" and events[-1]["status"] == "completed"
    assert [s["status"] for s in events[-1]["steps"]] == ["completed"] * 3
    steps = [e for e in events if e["event"] == "step"]
    assert {(e["task_type"], e["status"]) for e in steps} >= {
        ("search", "completed"),
        ("dedup", "completed"),
        ("crawl", "completed"),
    }
    done = [e for e in steps if e["status"] == "completed"]
    assert [e["task_type"] for e in done] == ["search", "dedup", "crawl"]
    assert done[-1]["progress"] == done[-1]["total"] == 4
    assert all(e["run_id"] == events[0]["id"] for e in steps)


def test_run_in_a_pipe_prints_lines_and_exits_1_naming_the_failed_step(
    procs: Processes, tmp_path: Path
) -> None:
    start_worker(procs, tmp_path / "worker.log")
    params = json.dumps({"dedup": {"fail": "no luck"}})
    cli = procs.cli(
        "pipeline",
        "run",
        "--project",
        "1",
        "--steps",
        "dedup,crawl",
        "--params",
        params,
        "--interval",
        "0.05",
    )
    assert cli.exit_code() == 1
    lines = cli.stdout.all().splitlines()
    assert "\x1b" not in "".join(lines)
    assert re.fullmatch(r"run \d+ started: dedup -> crawl \(project 1\)", lines[0]), lines
    assert re.fullmatch(r"run \d+ failed at dedup: RuntimeError: no luck", lines[-1]), lines
    assert any(re.fullmatch(r"run \d+ step 1/2 dedup task \d+ failed 3/3 100%", line) for line in lines), (
        lines
    )
    assert any(re.fullmatch(r"run \d+ step 2/2 crawl skipped", line) for line in lines), lines


def test_bad_input_exits_2_an_unreachable_store_3_and_an_unknown_run_1(
    tmp_path: Path, database_url: str
) -> None:
    procs = Processes(tmp_path, database_url)
    try:
        run = ("pipeline", "run", "-p", "1")
        clis = [  # all at once: each is a process start
            procs.cli(*run, "--steps", "dedup,search", "-q", "x"),
            procs.cli(*run, "--steps", "search"),
            procs.cli(*run, "--steps", "dedup", "--params", '{"crawl": {}}'),
            procs.cli(*run, "--params", "[1]"),
            procs.cli(*run, "--steps", "dedup", "--db", "sqlite:////proc/nope/x.db"),
            procs.cli("pipeline", "show", "4242"),
            procs.cli("pipeline", "cancel", "4242"),
        ]
        outcomes = [(cli.exit_code(), errors_of(cli)) for cli in clis]
    finally:
        procs.close()
    expected = [
        (2, "error: steps.1: 'search' cannot follow 'dedup'"),
        (2, "error: query: must be a non-empty string for a run with search"),
        (2, "error: params.crawl: crawl is not a step of this run"),
        (2, "error: --params: must be a JSON object"),
        (3, "error: task store unavailable"),
        (1, "error: Pipeline run 4242 not found"),
        (1, "error: Pipeline run 4242 not found"),
    ]
    for (code, said), (want_code, start) in zip(outcomes, expected, strict=True):
        assert code == want_code and start in said, (code, said)
    with TaskService.open(database_url) as tasks:
        assert tasks.list(limit=10) == []


def test_ctrl_c_stops_following_not_the_run_which_cancel_then_stops(
    procs: Processes, url: str, tmp_path: Path
) -> None:
    start_worker(procs, tmp_path / "worker.log")
    params = json.dumps({"crawl": {"gate": str(tmp_path / "never")}})
    cli = procs.cli(
        "pipeline",
        "run",
        "-p",
        "1",
        "--steps",
        "dedup,crawl,ocr",
        "--params",
        params,
        "--json",
        "--interval",
        "0.05",
    )
    cli.wait_event(event="step", task_type="crawl", status="running")
    run_id = cli.events()[0]["id"]
    assert cli.interrupt() == 130
    said = errors_of(cli)
    assert f"the run goes on (taskapi pipeline cancel {run_id} stops it)" in said and "Traceback" not in said
    assert [s.status for s in run_of(url, run_id).steps] == ["completed", "running", "waiting"]

    shown = procs.cli("pipeline", "show", str(run_id), "--json")
    assert shown.exit_code() == 0 and json.loads(shown.stdout.all())["status"] == "running"
    cancel = procs.cli("pipeline", "cancel", str(run_id))
    assert cancel.exit_code() == 0
    assert re.fullmatch(
        rf"Pipeline run {run_id} cancelled \(step crawl, task \d+, stopped\)\n", cancel.stdout.all()
    )
    run = run_of(url, run_id)
    assert [s.status for s in run.steps] == [
        "completed",
        "cancelled",
        "skipped",
    ] and run.error == "cancelled by cli"
    again = procs.cli("pipeline", "cancel", str(run_id), "--json")
    assert again.exit_code() == 1 and "already cancelled" in errors_of(again)


def test_on_a_terminal_each_step_has_a_live_bar_and_show_draws_the_run(
    procs: Processes, url: str, tmp_path: Path
) -> None:
    start_worker(procs, tmp_path / "worker.log")
    gate = tmp_path / "gate"
    params = json.dumps({"dedup": {"gate": str(gate), "n": 7}})
    bars = procs.terminal(
        "pipeline",
        "run",
        "-p",
        "1",
        "-q",
        "graphene",
        "--steps",
        "search,dedup,crawl",
        "--params",
        params,
        "--interval",
        "0.05",
    )
    bars.stdout.wait(
        lambda text: bool(re.search(r"2/3 dedup\s.*running", plain(text))), "dedup's bar running"
    )
    gate.touch()
    assert bars.exit_code() == 0
    screen = plain(bars.stdout.all())
    assert "Pipeline run 1 (project 1): graphene" in screen
    for label in ("1/3 search", "2/3 dedup", "3/3 crawl"):
        assert re.search(rf"{label}\s.*completed", screen), screen
    assert re.search(r"2/3 dedup\s.*7/7", screen), screen
    assert "Pipeline run 1 completed" in screen
    assert "\x1b[" in bars.stdout.all()  # drawn live: colours and cursor moves

    shown = procs.terminal("pipeline", "show", "1")
    assert shown.exit_code() == 0
    table = plain(shown.stdout.all())
    assert "Pipeline run 1" in table and "completed" in table
    assert all(re.search(rf"{n}/3\s+{t}\s+\d+\s+completed", table) for n, t in ((1, "search"), (3, "crawl")))
