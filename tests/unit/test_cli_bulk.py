"""``taskapi cancel --project`` (bulk, after a confirmation) and ``taskapi events`` (a task's timeline),
in-process over a fresh SQLite file, their JSON compared with what the HTTP API answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from taskapi.cli import app
from tests.helpers.server import TASKS, InProcessApi, complete, envelope, in_process_api, start

RUNNER = CliRunner()


def run(*args: str, answer: str | None = None) -> Result:
    """The CLI with ``args``; ``answer`` is what the person types (``None``: no terminal input at all)."""
    return RUNNER.invoke(app, list(args), input=answer, catch_exceptions=False)


@pytest.fixture
def api(sqlite_path: Path) -> Iterator[InProcessApi]:
    with in_process_api(sqlite_path) as opened:
        yield opened


def statuses(api: InProcessApi, *ids: int) -> list[str]:
    return [api.detail(task_id)["status"] for task_id in ids]


def test_bulk_cancel_asks_first_then_cancels_only_the_matching_active_tasks(
    api: InProcessApi, database_url: str
) -> None:
    done = api.create(3, "ocr")
    complete(api.store, done, {})
    running = api.create(3, "ocr")
    start(api.store, running)
    waiting, other_type, elsewhere = api.create(3, "ocr"), api.create(3, "dedup"), api.create(4, "ocr")
    before = statuses(api, waiting, running, other_type, done, elsewhere)
    assert before == ["pending", "running", "pending", "completed", "pending"]

    for answer in ("n\n", None):
        declined = run("cancel", "--project", "3", "--type", "ocr", "--db", database_url, answer=answer)
        assert declined.exit_code == 1 and declined.stdout.strip() in ("", "n")  # the runner echoes input
        assert "Cancel every pending and running ocr task of project 3? [y/N]" in declined.stderr
        assert declined.stderr.rstrip().endswith(
            "error: not confirmed: nothing cancelled (pass --yes to skip the question)"
        )
        assert statuses(api, waiting, running, other_type, done, elsewhere) == before

    confirmed = run("cancel", "-p", "3", "--type", "ocr", "--db", database_url, answer="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert confirmed.stdout.splitlines()[-1] == "2 tasks of project 3 cancelled"
    assert statuses(api, waiting, running, other_type, done, elsewhere) == [
        "cancelled",
        "cancelled",
        "pending",
        "completed",
        "pending",
    ]

    by_cli = run("cancel", "-p", "3", "--yes", "--json", "--db", database_url)
    assert by_cli.exit_code == 0 and by_cli.stderr == ""  # --yes: no question asked
    by_api = envelope(api.post(f"{TASKS}/cancel", json={"project_id": 4}), 200)
    assert (
        json.loads(by_cli.stdout)
        == by_api
        == {"code": 200, "message": "1 tasks cancelled", "data": {"cancelled": 1}}
    )
    assert statuses(api, other_type, elsewhere) == ["cancelled", "cancelled"]
    again = run("cancel", "-p", "3", "-y", "--db", database_url)
    assert again.exit_code == 0 and again.stdout == "0 tasks of project 3 cancelled\n"


def test_bulk_cancel_by_status_leaves_the_other_status(api: InProcessApi, database_url: str) -> None:
    running, pending = api.create(5, "index"), api.create(5, "index")
    start(api.store, running)
    result = run("cancel", "-p", "5", "--status", "running", "--yes", "--db", database_url)
    assert result.exit_code == 0 and result.stdout == "1 task of project 5 cancelled\n"
    assert statuses(api, running, pending) == ["cancelled", "pending"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-p", "3", "--status", "completed"],
            "error: --status: must be pending or running, got 'completed'",
        ),
        (["-p", "3", "--status", "done"], "error: status: must be one of pending"),
        (["-p", "3", "--type", "fetch"], "error: task_type: must be one of search"),
        (["-p", "0"], "error: project_id: must be an integer between 1"),
        (["1", "-p", "3"], "error: give a task ID or --project, not both"),
        ([], "error: give a task ID, or --project"),
        (["1", "--yes"], "error: give a task ID, or --project"),
        (["1", "--status", "pending"], "error: give a task ID, or --project"),
    ],
)
def test_bad_bulk_cancels_exit_2_before_asking_and_change_nothing(
    api: InProcessApi, database_url: str, args: list[str], message: str
) -> None:
    task = api.create(3, "ocr")
    result = run("cancel", *args, "--db", database_url, answer="y\n")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1
    assert statuses(api, task) == ["pending"]


def test_events_show_the_timeline_with_who_did_what(api: InProcessApi, database_url: str) -> None:
    submitted = run("submit", "crawl", "-p", "2", "--json", "--db", database_url)
    task: dict[str, Any] = json.loads(submitted.stdout)
    start(api.store, task["id"])
    assert run("cancel", str(task["id"]), "--db", database_url).exit_code == 0

    timeline = run("events", str(task["id"]), "--json", "--db", database_url)
    assert timeline.exit_code == 0, timeline.stderr
    rows = json.loads(timeline.stdout)
    assert rows == envelope(api.get(f"{TASKS}/{task['id']}/events"), 200)["data"]
    assert [(row["kind"], row["attempt"]) for row in rows] == [
        ("created", 0),
        ("claimed", 1),
        ("cancelled", 1),
    ]
    assert rows[0]["actor"] == rows[2]["actor"] == "cli" and "test-worker" in rows[1]["actor"]

    table = run("events", str(task["id"]), "--db", database_url)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert [line.split()[1] for line in lines[2:]] == ["created", "claimed", "cancelled"]
    assert lines[2].split()[3] == "cli" and rows[0]["at"] in lines[2]


@pytest.mark.parametrize(
    ("task_id", "code", "message"), [("99", 1, "error: Task 99 not found"), ("0", 2, "error: id:")]
)
def test_events_of_no_task(database_url: str, task_id: str, code: int, message: str) -> None:
    result = run("events", task_id, "--db", database_url)
    assert result.exit_code == code and result.stdout == "" and result.stderr.startswith(message)
