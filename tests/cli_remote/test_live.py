"""The live views against a server, as real processes: ``watch`` and ``list --watch`` follow the
server's live stream (the ``--interval`` of an hour would show any polling), a server's embedded
worker runs the tasks (``tests.handlers.gated``: each step waits for a gate the test opens), and
Ctrl-C ends a view with 130. Also the pipeline's ``run`` to its end and ``papers import`` of an
export naming local PDFs, which a server cannot take."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskapi.service import TaskService
from tests.cli_remote.conftest import OPERATE, TOKENS, Served, fresh_database, invoke, serving
from tests.conftest import wait_until
from tests.e2e.test_cli_watch import EVENT_FIELDS, Cli, Processes
from tests.handlers.gated import open_gate
from tests.papers.test_cli_papers import Library

pytestmark = pytest.mark.slow

HOUR = "3600"  # as --interval: a view that polled would show nothing within a test's deadline


@pytest.fixture
def gates(tmp_path: Path) -> Path:
    path = tmp_path / "gates"
    path.mkdir()
    return path


@pytest.fixture
def served(dialect: str, tmp_path: Path) -> Iterator[Served]:
    """A server with its embedded worker running the gated ``ocr``, wanting tokens."""
    env = {
        "TASKAPI_API_TOKENS": TOKENS,
        "TASKAPI_HANDLERS": "tests.handlers.gated",
        "TASKAPI_CONCURRENCY": "8",
    }
    with (
        fresh_database(dialect, tmp_path, "served") as url,
        serving(url, tmp_path / "serve.log", env, worker=True) as server,
    ):
        yield server


@pytest.fixture
def procs(tmp_path: Path, served: Served) -> Iterator[Processes]:
    """The CLI as processes, pointed at the server by the environment (its database URL is not used)."""
    opened = Processes(tmp_path, "sqlite:///unused.db")
    opened.env.update({"TASKAPI_SERVER": served.base_url, "TASKAPI_TOKEN": OPERATE})
    try:
        yield opened
    finally:
        opened.close()


def create(url: str, project_id: int, **params: object) -> int:
    """A gated ``ocr`` task, created by another process on the server's database."""
    with TaskService.open(url, migrate=False) as service:
        return service.create(project_id, "ocr", params).id


def step_through(watch: Cli, gates: Path, task_id: int, steps: int) -> None:
    for step in range(1, steps + 1):
        open_gate(gates, task_id, step)
        watch.wait_event(id=task_id, progress=step)


def test_watch_project_follows_the_stream_to_the_last_task_ending(
    procs: Processes, served: Served, gates: Path
) -> None:
    url = served.database_url
    over = create(url, 1, steps=1, gates=str(gates))  # waits at its gate: still cancellable below
    with TaskService.open(url, migrate=False) as service:
        service.cancel(over)  # ended before the watch: not shown
    good = create(url, 1, steps=2, gates=str(gates))
    bad = create(url, 1, steps=1, gates=str(gates), fail="bad scan")
    watch = procs.cli("watch", "--project", "1", "--json", "--interval", HOUR)
    for task in (good, bad):
        watch.wait_event(id=task, status="running")
    late = create(url, 1, steps=1, gates=str(gates))
    watch.wait_event(id=late, project_id=1)
    step_through(watch, gates, good, 2)
    step_through(watch, gates, bad, 1)
    assert watch.process.poll() is None  # the new task still runs
    step_through(watch, gates, late, 1)
    assert watch.exit_code() == 1
    assert watch.stderr is not None and watch.stderr.all() == ""
    events = watch.events()
    assert all(set(event) == EVENT_FIELDS for event in events)
    assert {event["id"] for event in events} == {good, bad, late}
    final = {e["id"]: e for e in events if e["event"] in ("completed", "failed", "cancelled")}
    assert {task: event["status"] for task, event in final.items()} == {
        good: "completed",
        bad: "failed",
        late: "completed",
    }
    assert "bad scan" in final[bad]["error_message"]
    assert events[-1]["id"] == late


def test_watch_one_task_in_a_pipe_prints_its_lines_and_exits_1_when_it_fails(
    procs: Processes, served: Served, gates: Path
) -> None:
    task = create(served.database_url, 1, steps=2, gates=str(gates), fail="scan unreadable")
    watch = procs.cli("watch", str(task), "--interval", HOUR)
    for step in (1, 2):
        watch.stdout.contains(f"task {task} ocr running {step - 1}/2")
        open_gate(gates, task, step)
    assert watch.exit_code() == 1
    lines = watch.stdout.all().splitlines()
    assert re.fullmatch(rf"task {task} ocr failed 2/2 100%: .*scan unreadable", lines[-2]), lines
    assert lines[-1] == "1 task: 1 failed"
    assert f"task {task} ocr running 1/2 50%" in lines


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_list_watch_redraws_as_the_stream_tells_and_ctrl_c_ends_views_with_130(
    procs: Processes, served: Served, gates: Path
) -> None:
    listing = procs.cli("list", "--watch", "--project", "5", "--interval", "0.05")
    listing.stdout.contains("No tasks.")
    task = create(served.database_url, 5, steps=1, gates=str(gates))
    listing.stdout.wait(lambda text: re.search(rf"\b{task}\s+5\s+ocr\s+running", text) is not None, "running")
    watch = procs.cli("watch", str(task), "--json", "--interval", HOUR)
    watch.wait_event(id=task, status="running")
    for view in (listing, watch):
        assert view.interrupt() == 130
        assert view.stderr is not None and "Traceback" not in view.stderr.all()
    open_gate(gates, task, 1)  # Ctrl-C ended the views, not the task: it goes on to its end

    def status() -> str:
        shown = invoke("show", str(task), "--json", "--server", served.base_url, "--token", OPERATE)
        return str(json.loads(shown.stdout)["status"])

    wait_until(lambda: status() == "completed", timeout=30, interval=0.05, what="the task to complete")


# -- pipeline runs and imports ----------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_a_pipeline_run_followed_through_the_server_shows_the_same_as_the_database(
    dialect: str, tmp_path: Path
) -> None:
    env = {"TASKAPI_HANDLERS": "tests.handlers.pipeline_steps", "TASKAPI_BUILTIN_HANDLERS": "false"}
    with (
        fresh_database(dialect, tmp_path, "runs") as url,
        serving(url, tmp_path / "serve.log", env, worker=True) as server,
    ):
        remote = ["--server", server.base_url]
        params = json.dumps({"dedup": {"n": 4}})
        ran = invoke(
            "pipeline",
            "run",
            "-p",
            "1",
            "-q",
            "x",
            "--steps",
            "search,dedup",
            "--params",
            params,
            "--json",
            "--interval",
            "0.05",
            *remote,
        )
        assert ran.exit_code == 0, ran.stderr
        events = [json.loads(line) for line in ran.stdout.splitlines()]
        assert events[0]["event"] == "started" and events[-1]["event"] == "ended"
        assert [s["status"] for s in events[-1]["steps"]] == ["completed", "completed"]
        done = [e for e in events if e["event"] == "step" and e["status"] == "completed"]
        assert [(e["task_type"], e["progress"], e["total"]) for e in done] == [
            ("search", 3, 3),
            ("dedup", 4, 4),
        ]
        run_id = str(events[0]["id"])
        for args in (
            ["pipeline", "show", run_id],
            ["pipeline", "show", run_id, "--json"],
            ["pipeline", "cancel", run_id],
        ):
            local, there = invoke(*args, "--db", url), invoke(*args, *remote)
            assert (there.exit_code, there.stdout, there.stderr) == (
                local.exit_code,
                local.stdout,
                local.stderr,
            )
        assert "4/4" in invoke("pipeline", "show", run_id, *remote).stdout  # the steps' progress is read


def test_an_import_sends_the_records_and_names_each_pdf_it_could_not_send(
    tmp_path: Path, served: Served
) -> None:
    library = Library(tmp_path)
    remote = ["--server", served.base_url, "--token", OPERATE]
    imported = invoke("papers", "import", str(library.export), "-p", "1", *remote)
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout == "Imported 2 records into project 1: 2 new, 0 merged; 0 PDFs attached\n"
    pdf = library.export.parent / "files" / "12" / "Vaswani et al. - 2017 - Attention Is All You Need.pdf"
    assert imported.stderr.splitlines() == [
        f"warning: not attached (missing, unreadable or not a PDF): {library.missing}",
        f"warning: not attached (a server takes no PDF upload): {pdf}",
    ]
    listed = json.loads(invoke("papers", "list", "--json", *remote).stdout)
    assert [paper["title"] for paper in listed] == [
        "Deep Residual Learning for Image Recognition",
        "Attention Is All You Need",
    ]
    assert not any(paper["has_pdf"] for paper in listed)
    shown = invoke("papers", "show", str(listed[1]["id"]), "--json", *remote)
    assert json.loads(shown.stdout)["doi"] == "10.48550/arxiv.1706.03762"
    # Imported again on the server's database itself, the PDF is attached; the list says so both ways.
    local = ["--db", served.database_url]
    data_dir = ["--data-dir", str(library.data_dir)]
    again = invoke("papers", "import", str(library.export), "-p", "1", *data_dir, *local)
    assert again.exit_code == 0 and "1 PDF attached" in again.stdout, again.stderr
    for args in (["papers", "list", "--json"], ["papers", "list"], ["papers", "show", str(listed[1]["id"])]):
        there, here = invoke(*args, *remote), invoke(*args, *local)
        assert (there.exit_code, there.stdout) == (here.exit_code, here.stdout) == (0, here.stdout)
    assert [paper["has_pdf"] for paper in json.loads(invoke("papers", "list", "--json", *remote).stdout)] == [
        False,
        True,
    ]
