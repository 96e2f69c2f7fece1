"""The chaos run's invariants, checked after the faults stopped and the workers drained, against the
store itself (read directly, not through the API under test), the handlers' run logs and what the
clients were shown (``Journal``).

Each check answers its violations as readable lines; ``check`` gathers them by invariant.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from tests.chaos.clients import Journal, StreamLog

FINAL = frozenset({"completed", "failed", "cancelled"})
ENDS_A_CLAIM = frozenset(
    {"completed", "failed", "cancelled", "rescued", "lost", "released", "timed_out", "killed"}
)
TERMINAL_KIND = {"completed": "completed", "failed": "failed", "cancelled": "cancelled", "lost": "failed"}
LOST_WORKER = re.compile(r"worker [^ ]*:(\d+):[0-9a-f]+ stopped renewing")


@dataclass(frozen=True, slots=True)
class TaskRow:
    id: int
    project_id: int
    status: str
    progress: int
    total: int
    attempt: int
    lease_live: bool
    worker_id: str = ""


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    task_id: int
    kind: str
    attempt: int
    detail: str


@dataclass(frozen=True)
class StoreView:
    tasks: dict[int, TaskRow]
    events: list[EventRow]  # by id

    def timelines(self) -> dict[int, list[EventRow]]:
        by_task: dict[int, list[EventRow]] = defaultdict(list)
        for event in self.events:
            by_task[event.task_id].append(event)
        return by_task


TASK_COLUMNS = "id, project_id, status, progress, total, attempt, worker_id"
EVENT_QUERY = "SELECT id, task_id, kind, attempt, detail FROM task_events ORDER BY id"


def read_store(db_url: str) -> StoreView:
    """Every task and every event, read straight from the database."""
    if db_url.startswith("sqlite:///"):
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        with closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn:
            tasks = conn.execute(f"SELECT {TASK_COLUMNS}, lease_expires_at > ? FROM tasks", (now,)).fetchall()
            events = conn.execute(EVENT_QUERY).fetchall()
    else:
        with psycopg.connect(db_url) as conn:
            sql = f"SELECT {TASK_COLUMNS}, lease_expires_at > clock_timestamp() FROM tasks"
            tasks = conn.execute(sql).fetchall()
            events = conn.execute(EVENT_QUERY).fetchall()
    rows = {
        int(r[0]): TaskRow(
            int(r[0]), int(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]), bool(r[7]), r[6] or ""
        )
        for r in tasks
    }
    return StoreView(rows, [EventRow(int(e[0]), int(e[1]), str(e[2]), int(e[3]), str(e[4])) for e in events])


def unfinished(view: StoreView) -> list[str]:
    """The tasks still pending or running, described for a person looking for why."""
    return [
        f"task {t.id} {t.status}, attempt {t.attempt}"
        + (
            f", held by worker {t.worker_id} (lease {'live' if t.lease_live else 'expired'})"
            if t.worker_id
            else ""
        )
        for t in sorted(view.tasks.values(), key=lambda t: t.id)
        if t.status not in FINAL
    ]


def read_runs(runs_dir: Path) -> list[tuple[int, int]]:
    """``(task_id, attempt)`` of every handler run that completed (whole lines of the run logs)."""
    runs = []
    for path in sorted(runs_dir.glob("runs-*.log")):
        for line in path.read_text().splitlines():
            task_id, attempt, _pid = line.split()
            runs.append((int(task_id), int(attempt)))
    return runs


# -- the invariants ----------------------------------------------------------------------------------


def final_or_leased(view: StoreView) -> list[str]:
    """Every task is final, pending, or running under a lease that has not expired."""
    return [
        f"task {t.id} is running under an expired lease (attempt {t.attempt})"
        for t in view.tasks.values()
        if t.status == "running" and not t.lease_live
    ]


def timelines_match(view: StoreView) -> list[str]:
    """At most one ``completed`` per task (no task completed twice), at most one terminal event, and
    the last terminal event of a timeline is the task's status."""
    found = []
    timelines = view.timelines()
    for task in view.tasks.values():
        events = timelines.get(task.id, [])
        kinds = Counter(e.kind for e in events)
        if kinds["completed"] > 1:
            found.append(f"task {task.id} completed {kinds['completed']} times")
        terminal = [e for e in events if e.kind in TERMINAL_KIND]
        if len(terminal) > 1:
            found.append(f"task {task.id} ended {len(terminal)} times: {[e.kind for e in terminal]}")
        if not events or events[0].kind != "created":
            found.append(f"task {task.id}'s timeline does not start with created")
        expected = TERMINAL_KIND[terminal[-1].kind] if terminal else None
        if (task.status in FINAL or expected is not None) and expected != task.status:
            found.append(f"task {task.id} is {task.status} but its timeline ends with {expected}")
    return found


def cancels(view: StoreView, journal: Journal) -> list[str]:
    """No cancelled task was ever shown ``completed`` (list, detail, stream) or completed in its
    timeline; a cancel answered 200 is final; one answered 400 was of a task already ended."""
    found = []
    cancelled = {t.id for t in view.tasks.values() if t.status == "cancelled"}
    shown = {(s.task_id, s.where) for s in journal.seen if s.status == "completed" and s.task_id in cancelled}
    found += [f"cancelled task {task_id} was shown completed by {where}" for task_id, where in sorted(shown)]
    timelines = view.timelines()
    for task_id in sorted(cancelled):
        if any(e.kind == "completed" for e in timelines.get(task_id, [])):
            found.append(f"cancelled task {task_id} has a completed event")
    for task_id in journal.cancelled_ok:
        status = view.tasks[task_id].status if task_id in view.tasks else "missing"
        if status != "cancelled":
            found.append(f"task {task_id}'s cancel answered 200 but it is {status}")
    for task_id in journal.cancel_refused:
        if task_id not in view.tasks or view.tasks[task_id].status not in FINAL:
            found.append(f"task {task_id}'s cancel answered 400 but it is not final")
    # a cancel whose answer was lost (serve killed) may add to the store's count, never take from it
    answered = len(set(journal.cancelled_ok)) + journal.bulk_cancelled
    if len(cancelled) < answered:
        found.append(
            f"{answered} cancels answered (single and bulk) but only {len(cancelled)} tasks cancelled"
        )
    return found


def creates_kept(view: StoreView, journal: Journal) -> list[str]:
    """Every task whose create was answered 201 (single or in a batch) is in the store."""
    lost = sorted(set(journal.created) - set(view.tasks))
    return [f"{len(lost)} acknowledged tasks are not in the store, e.g. {lost[:10]}"] if lost else []


def runs_in_timelines(view: StoreView, runs: Iterable[tuple[int, int]]) -> list[str]:
    """Every handler run that completed ran inside a claim of its attempt, and the timeline says how
    that claim ended; every completion in a timeline comes from a run that completed."""
    found = []
    timelines = view.timelines()
    recorded = set(runs)
    for task_id, attempt in sorted(recorded):
        kinds = {e.kind for e in timelines.get(task_id, []) if e.attempt == attempt}
        if "claimed" not in kinds:
            found.append(f"task {task_id} ran to completion in attempt {attempt}, which it never claimed")
        elif not kinds & ENDS_A_CLAIM:
            found.append(f"task {task_id}'s attempt {attempt} completed a run but its timeline never ends it")
    for event in view.events:
        if event.kind == "completed" and (event.task_id, event.attempt) not in recorded:
            found.append(f"task {event.task_id} completed in attempt {event.attempt} without a completed run")
    return found


def progress_within_total(view: StoreView, journal: Journal) -> list[str]:
    found = [
        f"task {t.id} has progress {t.progress} > total {t.total} in the store"
        for t in view.tasks.values()
        if t.progress > t.total
    ]
    bad = {(s.task_id, s.where, s.progress, s.total) for s in journal.seen if s.progress > s.total}
    found += [f"task {i} was shown by {w} with progress {p} > total {t}" for i, w, p, t in sorted(bad)]
    return found


def stream_complete(view: StoreView, log: StreamLog) -> list[str]:
    """The client's events are the log's events of its filter, each once, in order, with the log's
    kind, none missed up to where it got (which must be the log's end), except the ranges a ``reset``
    told it to skip."""
    name = "stream(all)" if log.project_id is None else f"stream(project {log.project_id})"
    found = []
    ids = [e.event_id for e in log.events]
    if any(b <= a for a, b in itertools.pairwise(ids)):
        found.append(f"{name}: event ids not increasing ({len(ids) - len(set(ids))} repeated)")
    by_id = {e.id: e for e in view.events}

    def wanted(event: EventRow) -> bool:
        task = view.tasks.get(event.task_id)
        return task is not None and (log.project_id is None or task.project_id == log.project_id)

    expected = [e.id for e in view.events if wanted(e)]
    if expected and log.last_id < expected[-1]:
        found.append(f"{name}: stopped at event {log.last_id}, the log's last is {expected[-1]}")
    seen = set(ids)
    missed = [
        i
        for i in expected
        if i <= log.last_id and i not in seen and not any(a < i <= b for a, b in log.resets)
    ]
    if missed:
        found.append(f"{name}: missed {len(missed)} changes, e.g. event ids {missed[:10]}")
    for event in log.events:
        stored = by_id.get(event.event_id)
        if stored is None:
            found.append(f"{name}: event {event.event_id} is not in the store's log")
        elif stored.kind != event.kind or stored.task_id != event.task_id:
            found.append(f"{name}: event {event.event_id} said {event.kind} of task {event.task_id}")
    return found


def check(view: StoreView, journal: Journal, runs: list[tuple[int, int]]) -> dict[str, list[str]]:
    """Every invariant's violations (empty lists when it holds)."""
    return {
        "no acknowledged create lost": creates_kept(view, journal),
        "final or pending/running under a live lease": final_or_leased(view),
        "no task completed twice; timeline matches status": timelines_match(view),
        "no cancelled task shown completed; cancels hold": cancels(view, journal),
        "every completed handler run is in a timeline": runs_in_timelines(view, runs),
        "progress <= total": progress_within_total(view, journal),
        "stream clients missed no change": [v for log in journal.streams for v in stream_complete(view, log)],
        "every answer an envelope, no 5xx but 503": list(journal.bad_answers),
    }


def rescued_pids(view: StoreView) -> list[int]:
    """The pids of the workers whose leases were taken back (from the ``rescued`` events' details)."""
    return [
        int(m.group(1)) for e in view.events if e.kind == "rescued" and (m := LOST_WORKER.search(e.detail))
    ]
