"""Leases and rescue: a live worker keeps its tasks; a dead one's tasks go back to pending (or fail when
out of attempts); a cancelled task is never rescued; a zombie worker's late writes are rejected."""

from __future__ import annotations

import asyncio
from pathlib import Path

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Claim, Completion, ProgressWrite, RescuedTask
from taskapi.store.sqlite import SQLiteStore
from taskapi.worker import LeaseRenewer, Rescuer
from tests.worker.helpers import drain, get, make_worker, running, wait_final, wait_marker, wait_until

SHORT = 0.05  # seconds: a lease that expires while the test waits for it


def _claim(store: SQLiteStore, worker_id: str, *, lease: float = SHORT, max_attempts: int = 3) -> int:
    (task,) = store.task_claim(
        Claim(
            worker_id=worker_id,
            task_types=["search"],
            limit=1,
            lease_seconds=lease,
            max_attempts={"search": max_attempts},
        )
    )
    return task.attempt


def _rescue(store: SQLiteStore) -> list[RescuedTask]:
    """Run the rescuer until it moves something (its leases expire within the deadline)."""
    rescuer = Rescuer(store)
    return wait_until(
        lambda: asyncio.run(rescuer.run_once()), timeout=5, what="an expired lease to be rescued"
    )


def test_a_zombie_workers_late_writes_are_rejected_and_the_new_attempts_result_stands(
    service: TaskService, store: SQLiteStore
) -> None:
    task = service.create(1, "search", {"mode": "return", "value": {"by": "b"}})
    assert _claim(store, "worker-a") == 1  # worker A holds attempt 1, then goes silent
    assert _rescue(store) == [RescuedTask(task.id, TaskStatus.PENDING, 1)]
    assert store.task_set_progress([ProgressWrite(task.id, 1, 5, 10)], 10) == [task.id]

    worker_b = make_worker(store)
    drain(worker_b)  # attempt 2
    assert worker_b.stats.completed == 1

    # A wakes up and reports on attempt 1: every write is rejected
    assert store.task_set_progress([ProgressWrite(task.id, 1, 7, 10)], 10) == [task.id]
    assert store.task_finish([Completion(task.id, 1, 10, 10, result={"by": "a"})]) == []
    assert store.task_finish([Completion(task.id, 1, 10, 10, error_message="RuntimeError: a")]) == []
    assert store.task_release(task.id, 1) is False
    done = get(store, task.id)
    assert done.status is TaskStatus.COMPLETED
    assert done.result == {"by": "b"}
    assert (done.attempt, done.progress, done.total, done.error_message) == (2, 1, 1, "")


def test_a_worker_whose_lease_was_rescued_writes_nothing_over_the_new_attempt(
    service: TaskService, store: SQLiteStore, marks: Path, tmp_path: Path
) -> None:
    """A real worker stalled (its handler blocks the event loop) past its lease: a zombie."""
    gate = tmp_path / "gate"
    task = service.create(1, "search", {"mode": "hog", "gate": str(gate), "dir": str(marks)})
    with running(make_worker(store, lease_seconds=0.1, rescue_interval=0.02)) as zombie:
        wait_marker(marks, task.id, "started")
        assert _rescue(store) == [RescuedTask(task.id, TaskStatus.PENDING, 1)]
        assert _claim(store, "worker-b", lease=10) == 2
        assert store.task_finish([Completion(task.id, 2, 3, 3, result={"by": "b"})]) == [task.id]
        gate.touch()  # the zombie's handler returns and its worker tries to write attempt 1
        wait_until(lambda: not zombie.running_ids, what="the zombie to let go")
        stats = zombie.stats
    assert stats.dropped_writes + stats.by_reason.get("lost", 0) == 1
    done = get(store, task.id)
    assert (done.status, done.result, done.attempt) == (TaskStatus.COMPLETED, {"by": "b"}, 2)


def test_a_task_whose_worker_is_lost_on_its_last_attempt_fails_saying_so(
    service: TaskService, store: SQLiteStore
) -> None:
    task = service.create(1, "search", {})
    assert _claim(store, "lost-1", max_attempts=2) == 1
    assert _rescue(store) == [RescuedTask(task.id, TaskStatus.PENDING, 1)]
    again = get(store, task.id)
    assert (again.status, again.worker_id, again.started_at, again.completed_at) == (
        TaskStatus.PENDING,
        None,
        None,
        None,
    )
    assert _claim(store, "lost-2", max_attempts=2) == 2
    assert _rescue(store) == [RescuedTask(task.id, TaskStatus.FAILED, 2)]
    failed = get(store, task.id)
    assert failed.status is TaskStatus.FAILED
    assert "worker lost" in failed.error_message and "lost-2" in failed.error_message
    assert failed.completed_at is not None
    worker = make_worker(store)
    drain(worker)
    assert worker.stats.claimed == 0  # final: never claimed again


def test_a_cancelled_running_task_is_never_rescued(service: TaskService, store: SQLiteStore) -> None:
    cancelled = service.create(1, "search", {})
    witness = service.create(1, "search", {})
    _claim(store, "dead")
    service.cancel(cancelled.id)
    _claim(store, "dead")  # the witness: its lease expires no sooner than the cancelled task's would
    assert _rescue(store) == [RescuedTask(witness.id, TaskStatus.PENDING, 1)]
    assert asyncio.run(Rescuer(store).run_once()) == []
    task = get(store, cancelled.id)
    assert (task.status, task.attempt) == (TaskStatus.CANCELLED, 1)


def test_a_live_worker_renews_its_leases_so_its_task_is_never_rescued(
    service: TaskService, store: SQLiteStore, marks: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    task = service.create(1, "crawl", {"mode": "gate", "gate": str(gate), "dir": str(marks)})
    rescuer = Rescuer(store)
    leases = set()
    with running(make_worker(store, lease_seconds=0.15)) as worker:
        wait_marker(marks, task.id, "started")

        def renewed_many_times() -> bool:
            assert asyncio.run(rescuer.run_once()) == []
            lease = get(store, task.id).lease_expires_at
            assert lease is not None
            leases.add(lease)
            return len(leases) >= 10  # about ten renewals: several whole lease periods

        wait_until(renewed_many_times, what="many lease renewals")
        gate.touch()
        done = wait_final(store, task.id)
        assert worker.stats.completed == 1
    assert (done.status, done.attempt) == (TaskStatus.COMPLETED, 1)


def test_the_lease_renewer_extends_only_its_own_workers_running_tasks(
    service: TaskService, store: SQLiteStore
) -> None:
    mine = service.create(1, "search", {})
    theirs = service.create(1, "search", {})
    _claim(store, "me")
    _claim(store, "them")
    before = get(store, mine.id).lease_expires_at
    assert asyncio.run(LeaseRenewer(store, "me", 30, held=set()).run_once()) == 0
    assert get(store, mine.id).lease_expires_at == before  # holding nothing, it renews nothing
    assert asyncio.run(LeaseRenewer(store, "me", 30, held={(mine.id, 1)}).run_once()) == 1
    after = get(store, mine.id).lease_expires_at
    assert before is not None and after is not None and after > before
    assert _rescue(store) == [RescuedTask(theirs.id, TaskStatus.PENDING, 1)]
    assert get(store, mine.id).status is TaskStatus.RUNNING
