"""``taskapi watch`` and ``list --watch`` in-process, over a real SQLite file.

What a tick reads (``ProjectTasks``, ``OneTask``) is driven here by moving tasks through the store's
own worker methods between polls; the rate and ETA by a ``Follower`` on a clock the test sets; the
command's exit codes and messages by Typer's runner on tasks that have already ended (a live worker
and real terminals are in ``tests/e2e/test_cli_watch.py``).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.progress import Progress
from typer.testing import CliRunner, Result

from taskapi.cli import app
from taskapi.cli.backend import LocalTasks
from taskapi.cli.watch import Board, Change, Follower, OneTask, ProjectTasks, Reading, json_of, line_of
from taskapi.domain import TaskNotFound, TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Completion, ListedTask, ProgressWrite
from taskapi.store.sqlite import SQLiteStore
from tests.helpers.server import complete, fail, insert_rows, start

RUNNER = CliRunner()
EVENT_FIELDS = {
    "event",
    "id",
    "project_id",
    "task_type",
    "status",
    "progress",
    "total",
    "created_at",
    "error_message",
    "rate",
    "eta_seconds",
}


@pytest.fixture
def service(sqlite_path: Path) -> Iterator[TaskService]:
    store = SQLiteStore(sqlite_path)
    store.migrate()
    try:
        yield TaskService(store)
    finally:
        store.close()


def report(service: TaskService, task_id: int, progress: int, total: int) -> None:
    """Progress of the running attempt, written as the worker writes it."""
    task = service.get(task_id)
    write = ProgressWrite(id=task_id, attempt=task.attempt, progress=progress, total=total)
    assert service.store.task_set_progress([write], lease_seconds=300) == []


def seen(readings: list[Reading]) -> dict[int, tuple[str, int, int, str]]:
    return {
        r.task.id: (r.task.status.value, r.task.progress, r.task.total, r.error_message) for r in readings
    }


def run(*args: str) -> Result:
    return RUNNER.invoke(app, list(args), catch_exceptions=False)


# -- what a tick reads ------------------------------------------------------------------------------


def test_a_project_is_followed_from_its_active_tasks_to_the_last_one_ending(service: TaskService) -> None:
    ended_before = service.create(1, "search").id
    complete(service.store, ended_before, {})
    running = service.create(1, "search").id
    start(service.store, running)
    pending = service.create(1, "ocr").id
    elsewhere = service.create(2, "ocr").id
    source = ProjectTasks(LocalTasks(service), 1)

    assert seen(source.poll()) == {running: ("running", 0, 0, ""), pending: ("pending", 0, 0, "")}
    assert not source.done
    report(service, running, 3, 10)
    late = service.create(1, "index").id  # created while watching: followed too
    assert seen(source.poll()) == {
        running: ("running", 3, 10, ""),
        pending: ("pending", 0, 0, ""),
        late: ("pending", 0, 0, ""),
    }
    fail(service.store, pending, "scan unreadable", progress=1, total=4)
    service.cancel(late)
    assert seen(source.poll()) == {
        running: ("running", 3, 10, ""),
        pending: ("failed", 1, 4, "scan unreadable"),
        late: ("cancelled", 0, 0, ""),
    }
    assert not source.done
    task = service.get(running)
    finished = Completion(id=running, attempt=task.attempt, progress=10, total=10, result={})
    assert service.store.task_finish([finished]) == [running]
    assert seen(source.poll()) == {running: ("completed", 10, 10, "")}  # the ended ones are told once
    assert source.done
    assert elsewhere not in seen(source.poll())


def test_a_project_without_active_tasks_is_done_at_once(service: TaskService) -> None:
    complete(service.store, service.create(3, "search").id, {})
    source = ProjectTasks(LocalTasks(service), 3)
    assert source.poll() == [] and source.done
    empty = ProjectTasks(LocalTasks(service), 4)
    assert empty.poll() == [] and empty.done


def test_a_task_whose_creation_committed_late_is_still_found(service: TaskService) -> None:
    """Its created_at is older than a task already seen (it was stamped before it committed)."""
    first = service.create(1, "search")
    source = ProjectTasks(LocalTasks(service), 1)
    assert seen(source.poll()).keys() == {first.id}
    moment = (first.created_at - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    [late] = insert_rows(Path(service.store.path), [(1, "ocr", moment)])  # type: ignore[attr-defined]
    assert seen(source.poll()).keys() == {first.id, late}


def test_a_followed_task_whose_row_is_deleted_is_let_go(service: TaskService, sqlite_path: Path) -> None:
    kept, deleted = service.create(1, "ocr").id, service.create(1, "ocr").id
    source = ProjectTasks(LocalTasks(service), 1)
    assert seen(source.poll()).keys() == {kept, deleted}
    with closing(sqlite3.connect(sqlite_path)) as conn, conn:
        conn.execute("DELETE FROM task_events WHERE task_id = ?", (deleted,))
        conn.execute("DELETE FROM tasks WHERE id = ?", (deleted,))
    assert seen(source.poll()).keys() == {kept}
    service.cancel(kept)
    assert seen(source.poll()) == {kept: ("cancelled", 0, 0, "")} and source.done


def test_more_tasks_than_a_page_are_all_followed_with_one_list_query_per_tick(
    service: TaskService,
) -> None:
    ids = [task.id for task in service.create_many([(1, "dedup", {})] * 2500)]

    class Counting(TaskService):
        lists = 0
        gets = 0

        def list(self, **filters: Any) -> list[ListedTask]:
            Counting.lists += 1
            return super().list(**filters)

        def get(self, task_id: int) -> Any:
            Counting.gets += 1
            return super().get(task_id)

    source = ProjectTasks(LocalTasks(Counting(service.store)), 1)
    assert sorted(seen(source.poll())) == ids
    Counting.lists = 0
    assert sorted(seen(source.poll())) == ids
    assert (Counting.lists, Counting.gets) == (3, 0)  # one query, read in pages of 1,000
    service.cancel(ids[0])
    Counting.lists = 0
    assert seen(source.poll())[ids[0]][0] == "cancelled"
    assert (Counting.lists, Counting.gets) == (3, 0)  # only a failed task costs a get (its error)


def test_one_task_is_read_by_id_until_it_ends(service: TaskService) -> None:
    task = service.create(1, "crawl").id
    source = OneTask(LocalTasks(service), task)
    assert seen(source.poll()) == {task: ("pending", 0, 0, "")} and not source.done
    fail(service.store, task, "robots.txt forbids it")
    assert seen(source.poll()) == {task: ("failed", 3, 10, "robots.txt forbids it")} and source.done
    with pytest.raises(TaskNotFound):
        OneTask(LocalTasks(service), 99).poll()


# -- changes, rate and ETA ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reading(status: str, progress: int, total: int, error: str = "", task_id: int = 7) -> Reading:
    task = ListedTask(
        task_id, 1, "ocr", TaskStatus(status), progress, total, datetime(2025, 3, 12, tzinfo=UTC)
    )
    return Reading(task, error)


def test_rate_and_eta_come_from_successive_readings() -> None:
    clock = Clock()
    follower = Follower(Progress(disable=True, get_time=clock))
    first = follower.see(reading("running", 10, 100))
    assert first is not None and (first.event, first.rate, first.eta_seconds) == ("running", None, None)
    assert follower.see(reading("running", 10, 100)) is None  # nothing changed: nothing to tell
    clock.now += 2
    second = follower.see(reading("running", 30, 100))
    assert second is not None and (second.event, second.rate, second.eta_seconds) == ("progress", 10.0, 7)
    clock.now += 2
    third = follower.see(reading("running", 50, 100))
    assert third is not None and (third.rate, third.eta_seconds) == (10.0, 5)
    clock.now += 1
    done = follower.see(reading("completed", 100, 100))
    assert done is not None and (done.event, done.rate, done.eta_seconds) == ("completed", None, None)
    assert follower.outcomes() == {TaskStatus.COMPLETED: 1}


def test_a_new_attempt_starts_its_rate_afresh_and_an_unknown_total_has_no_eta() -> None:
    clock = Clock()
    follower = Follower(Progress(disable=True, get_time=clock))
    follower.see(reading("running", 0, 0))
    clock.now += 1
    unknown = follower.see(reading("running", 5, 0))
    clock.now += 1
    unknown = follower.see(reading("running", 10, 0))
    assert unknown is not None and (unknown.rate, unknown.eta_seconds) == (5.0, None)
    rescued = follower.see(reading("pending", 10, 0))
    assert rescued is not None and rescued.event == "pending"
    clock.now += 1
    again = follower.see(reading("running", 1, 0))  # progress went back: the run restarted
    assert again is not None and again.event == "running" and again.rate is None


def test_a_projects_board_shows_totals_and_the_bars_that_fit_running_first() -> None:
    clock = Clock()
    progress = Progress(disable=True, get_time=clock)
    follower = Follower(progress)
    board = Board(follower, "project 1", rows=lambda: 7)  # room for 4 bars
    states = {
        1: "completed",
        2: "failed",
        3: "running",
        4: "pending",
        5: "pending",
        6: "running",
        7: "pending",
    }
    for task_id, status in states.items():
        follower.see(reading(status, 1, 10, task_id=task_id))
    board.show()
    shown = {task.description for task in progress.tasks if task.visible}
    assert shown == {"project 1", "task 3 ocr", "task 6 ocr", "task 4 ocr", "task 5 ocr"}
    totals = progress.tasks[0]
    assert (totals.completed, totals.total) == (2, 7)
    assert totals.fields["status"] == "2 running, 3 pending, 1 completed, 1 failed (3 not shown)"
    for task_id in (3, 6, 4, 5, 7):
        clock.now += 1
        follower.see(reading("completed", 10, 10, task_id=task_id))
    board.show()
    shown = {task.description for task in progress.tasks if task.visible}
    assert shown == {"project 1", "task 7 ocr", "task 5 ocr", "task 4 ocr", "task 6 ocr"}  # the latest ended
    assert (totals.completed, totals.total, totals.speed) == (7, 7, 1.0)  # tasks ended per second
    assert totals.fields["status"] == "6 completed, 1 failed (3 not shown)"


def test_lines_and_json_say_what_a_person_and_a_script_need() -> None:
    change = Change("progress", reading("running", 30, 100), 2.5, 28)
    assert line_of(change) == "task 7 ocr running 30/100 30% 2.5/s eta 0:00:28"
    failed = Change("failed", reading("failed", 3, 0, "[red]source[/red] timed out"), None, None)
    assert line_of(failed) == "task 7 ocr failed 3/0: [red]source[/red] timed out"
    data = json_of(change)
    assert set(data) == EVENT_FIELDS
    assert data["created_at"] == "2025-03-12T00:00:00" and data["status"] == "running"
    assert (data["event"], data["rate"], data["eta_seconds"]) == ("progress", 2.5, 28)


# -- the command ------------------------------------------------------------------------------------


def test_watch_answers_with_the_outcome_of_the_tasks(service: TaskService, database_url: str) -> None:
    done, broken, stopped = (service.create(1, "search").id for _ in range(3))
    complete(service.store, done, {"papers_found": 3})
    fail(service.store, broken, "source timed out")
    service.cancel(stopped)

    ok = run("watch", str(done), "--db", database_url)
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout == f"task {done} search completed 100/100 100%\n1 task: 1 completed\n"
    bad = run("watch", str(broken), "--db", database_url)
    assert bad.exit_code == 1
    assert bad.stdout.splitlines()[0] == f"task {broken} search failed 3/10 30%: source timed out"
    cancelled = run("watch", str(stopped), "--json", "--db", database_url)
    assert cancelled.exit_code == 1 and cancelled.stderr == ""
    [event] = [json.loads(line) for line in cancelled.stdout.splitlines()]
    assert set(event) == EVENT_FIELDS
    assert (event["event"], event["id"], event["status"]) == ("cancelled", stopped, "cancelled")


def test_watching_a_project_with_nothing_active_exits_0_and_says_so(database_url: str) -> None:
    result = run("watch", "--project", "5", "--json", "--db", database_url)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "Project 5 has no pending or running task.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["watch", "99"], "error: Task 99 not found"),
        (["watch"], "error: give a task ID or --project"),
        (["watch", "1", "--project", "1"], "error: give a task ID or --project"),
        (["watch", "0"], "error: id: must be an integer between 1"),
        (["watch", "--project", "0"], "error: project_id: must be an integer between 1"),
        (["list", "--watch", "--json"], "error: --watch redraws a table; for JSON"),
    ],
)
def test_bad_input_exits_2_with_one_line(database_url: str, args: list[str], message: str) -> None:
    result = run(*args, "--db", database_url)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1


def test_an_interval_outside_its_range_is_refused(database_url: str) -> None:
    assert run("watch", "1", "--interval", "0", "--db", database_url).exit_code == 2
    assert run("list", "--watch", "--interval", "-1", "--db", database_url).exit_code == 2


def test_watch_of_an_unavailable_store_exits_3(tmp_path: Path) -> None:
    result = run("watch", "1", "--db", f"sqlite:///{tmp_path}")
    assert result.exit_code == 3 and result.stderr.startswith("error: task store unavailable")


def test_watch_with_json_does_not_load_the_web_framework(service: TaskService, database_url: str) -> None:
    """The CLI starts fast because it never imports FastAPI, not even to print the API's shapes."""
    done = service.create(1, "search").id
    complete(service.store, done, {})
    code = (
        "import sys\n"
        "from taskapi.cli import app\n"
        f"try:\n    app(['watch', '{done}', '--json', '--db', {database_url!r}])\n"
        "except SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
        "print('fastapi' in sys.modules, 'taskapi.api.schemas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines()[-1] == "False True", out.stderr
    assert json.loads(out.stdout.splitlines()[0])["status"] == "completed"


def test_changes_from_the_stream_follow_new_tasks_and_skip_those_ended_before(service: TaskService) -> None:
    """What a server's stream brings is taken as a tick's reading would be: a new task of the project
    is followed, a task that ended before the watch or belongs to another project is not, and a
    failed task's error comes with its change."""
    from taskapi.client import TaskChange

    ended_before = service.create(1, "search").id
    service.cancel(ended_before)
    active = service.create(1, "ocr").id
    source = ProjectTasks(LocalTasks(service), 1)
    assert seen(source.poll()).keys() == {active}

    def change(task_id: int, status: str, project_id: int = 1, error: str = "") -> TaskChange:
        task = service.get(task_id) if task_id != 99 else service.get(active)
        return TaskChange(
            None, status, task_id, project_id, task.task_type, TaskStatus(status), 2, 4, error,
            task.created_at, None, None,
        )  # fmt: skip

    assert source.absorb(change(ended_before, "cancelled")) == []
    assert source.absorb(change(99, "pending", project_id=2)) == []
    assert seen(source.absorb(change(99, "pending"))) == {99: ("pending", 2, 4, "")}
    assert seen(source.absorb(change(active, "failed", error="bad scan"))) == {
        active: ("failed", 2, 4, "bad scan")
    }
    assert not source.done  # task 99 is still pending
    assert seen(source.absorb(change(99, "completed", error="not shown"))) == {99: ("completed", 2, 4, "")}
    assert source.done
    one = OneTask(LocalTasks(service), active)
    assert one.absorb(change(99, "running")) == [] and not one.done
    assert seen(one.absorb(change(active, "cancelled"))) == {active: ("cancelled", 2, 4, "")} and one.done
