"""What a worker puts on a task's timeline: who claimed it on which attempt, a timeout, a kill after the
grace, a hand-back at shutdown, a rescue signed by the rescuing worker; and retention pruning old tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskapi.domain import EventKind, TaskEvent, TaskPruned, TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Claim, Store
from tests.worker.helpers import TIMEOUTS, drain, make_worker, running, wait_final, wait_marker, wait_until


def _kinds(events: list[TaskEvent]) -> list[EventKind]:
    return [event.kind for event in events]


def test_a_run_is_claimed_by_its_worker_on_its_attempt_then_completed(
    service: TaskService, store: Store
) -> None:
    task = service.create(1, "search", {"mode": "return", "value": {"ok": True}})
    worker = make_worker(store, worker_id="w-1")
    drain(worker)
    events = service.events(task.id)
    assert _kinds(events) == [EventKind.CREATED, EventKind.CLAIMED, EventKind.COMPLETED]
    claimed = events[1]
    assert (claimed.actor, claimed.attempt) == ("worker w-1", 1)
    assert [event.at for event in events] == sorted(event.at for event in events)


def test_a_stubborn_handler_past_its_timeout_shows_timed_out_killed_then_failed(
    service: TaskService, store: Store, marks: Path
) -> None:
    task = service.create(1, "crawl", {"dir": str(marks)})
    with running(make_worker(store, (TIMEOUTS,), worker_id="w-2", cancel_grace=0.2)):
        wait_final(store, task.id, timeout=15)
    events = service.events(task.id)
    assert _kinds(events) == [
        EventKind.CREATED,
        EventKind.CLAIMED,
        EventKind.TIMED_OUT,
        EventKind.KILLED,
        EventKind.FAILED,
    ]
    timed_out, killed = events[2], events[3]
    assert timed_out.actor == killed.actor == "worker w-2"
    assert "timeout of 0.3 s" in timed_out.detail
    assert "killed" in killed.detail


def test_a_cancelled_stubborn_handler_shows_who_cancelled_and_that_it_was_killed(
    service: TaskService, store: Store, marks: Path
) -> None:
    task = service.create(1, "crawl", {"mode": "stubborn", "dir": str(marks)})
    worker = make_worker(store, cancel_grace=0.2)
    with running(worker):
        wait_marker(marks, task.id, "started")
        service.cancel(task.id, actor="operate token 3f9a1c")
        wait_until(lambda: worker.stats.killed == 1, what="the stubborn handler killed")
    events = service.events(task.id)
    assert _kinds(events) == [EventKind.CREATED, EventKind.CLAIMED, EventKind.CANCELLED, EventKind.KILLED]
    assert events[2].actor == "operate token 3f9a1c"


def test_a_task_handed_back_at_shutdown_shows_released_and_keeps_its_attempt(
    service: TaskService, store: Store, marks: Path
) -> None:
    task = service.create(1, "search", {"mode": "loop", "dir": str(marks)})
    with running(make_worker(store, worker_id="w-3")):
        wait_marker(marks, task.id, "started")
    events = service.events(task.id)
    assert _kinds(events) == [EventKind.CREATED, EventKind.CLAIMED, EventKind.RELEASED]
    assert events[2].detail == "worker shutdown"
    assert service.get(task.id).attempt == 0


def test_a_rescue_is_signed_by_the_rescuing_worker(service: TaskService, store: Store) -> None:
    task = service.create(1, "search", {"mode": "return", "value": None})
    claim = Claim("gone", ["search"], 1, 0.05, {"search": 3})
    assert [t.id for t in store.task_claim(claim)] == [task.id]  # its worker then vanishes
    worker = make_worker(store, worker_id="w-4")
    with running(worker):
        wait_final(store, task.id)
    kinds = _kinds(service.events(task.id))
    assert kinds == [
        EventKind.CREATED,
        EventKind.CLAIMED,
        EventKind.RESCUED,
        EventKind.CLAIMED,
        EventKind.COMPLETED,
    ]
    rescued = service.events(task.id)[2]
    assert rescued.actor == "rescuer w-4"


def test_a_worker_with_a_retention_prunes_finished_tasks_and_leaves_the_others(
    service: TaskService, store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    done = service.create(1, "search", {"mode": "return", "value": None})
    drain(make_worker(store))
    waiting = service.create(1, "search", {"mode": "gate", "gate": str(gate)})
    worker = make_worker(store, retention_seconds=0.2, prune_interval=0.05)
    with running(worker):
        wait_until(
            lambda: service.get(waiting.id).status is TaskStatus.RUNNING, what="the gated task running"
        )
        wait_until(lambda: not store.task_get_many([done.id]), timeout=10, what="the finished task pruned")
        assert service.get(waiting.id).status is TaskStatus.RUNNING  # unfinished: kept
    with pytest.raises(TaskPruned, match=rf"Task {done.id} was pruned on .* \(retention 0.2 seconds\)"):
        service.get(done.id)
