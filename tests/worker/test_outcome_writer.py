"""Each outcome type makes its own write, or none, fenced by the attempt: what the task, its timeline
and the worker's counts show once ``OutcomeWriter`` wrote it, on each store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from taskapi.domain import EventKind, TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Claim, Completion, Store
from taskapi.store.sqlite import SQLiteStore
from taskapi.worker import (
    Cancelled,
    Completed,
    Failed,
    HandedBack,
    Lost,
    Outcome,
    TimedOut,
    WorkerStats,
    load_handlers,
)
from taskapi.worker._runner import RunningTask
from taskapi.worker._writer import OutcomeWriter
from tests.worker.helpers import BASIC, get

SPEC = load_handlers([BASIC], builtin=False)["search"]


def _claimed(service: TaskService, store: Store, count: int = 1) -> list[RunningTask]:
    """``count`` new tasks, claimed by worker ``w`` on their first attempt."""
    service.create_many([(1, "search", {})] * count)
    claimed = store.task_claim(Claim("w", ["search"], count, 30, {}))
    assert len(claimed) == count
    return [RunningTask(task=task, spec=SPEC) for task in claimed]


def _write(store: Store, outcomes: Sequence[tuple[RunningTask, Outcome]]) -> WorkerStats:
    """Write the outcomes all at once, as a worker's finishing slots do; answer the counts."""
    stats = WorkerStats()

    async def no_claim_in_flight() -> None:
        return None

    async def main() -> None:
        writer = OutcomeWriter(
            store, stats, actor="worker w", cancel_grace=0.5, claims_idle=no_claim_in_flight
        )
        await asyncio.gather(*(writer.write(running, outcome) for running, outcome in outcomes))
        await writer.flushed()

    asyncio.run(main())
    return stats


def _kinds(service: TaskService, task_id: int) -> list[EventKind]:
    return [event.kind for event in service.events(task_id)]


def test_completed_stores_the_result_with_full_progress(service: TaskService, store: Store) -> None:
    silent, reporting = _claimed(service, store, 2)
    reporting.slot.set_progress(3, 10)
    stats = _write(store, [(silent, Completed({"n": 1})), (reporting, Completed({}))])
    done = get(store, silent.task.id)
    assert (done.status, done.result, done.progress, done.total) == (TaskStatus.COMPLETED, {"n": 1}, 1, 1)
    done = get(store, reporting.task.id)
    assert (done.status, done.progress, done.total) == (TaskStatus.COMPLETED, 10, 10)
    assert _kinds(service, silent.task.id)[-1] is EventKind.COMPLETED
    assert (stats.completed, stats.failed, stats.stopped, stats.dropped_writes) == (2, 0, 0, 0)


def test_failed_keeps_the_progress_reached_and_shows_the_message(service: TaskService, store: Store) -> None:
    (running,) = _claimed(service, store)
    running.slot.set_progress(3, 10)
    stats = _write(store, [(running, Failed("ValueError: bad input"))])
    failed = get(store, running.task.id)
    assert (failed.status, failed.error_message) == (TaskStatus.FAILED, "ValueError: bad input")
    assert (failed.progress, failed.total, failed.result) == (3, 10, None)
    assert stats.failed == 1 and stats.by_reason == {}


def test_timed_out_and_killed_fails_after_noting_both_on_the_timeline(
    service: TaskService, store: Store
) -> None:
    (running,) = _claimed(service, store)
    stats = _write(store, [(running, TimedOut(0.3, killed=True))])
    failed = get(store, running.task.id)
    assert failed.status is TaskStatus.FAILED
    assert (
        failed.error_message == "TimeoutError: the task ran longer than its timeout of 0.3 s and was killed"
    )
    events = service.events(running.task.id)
    assert [e.kind for e in events][-3:] == [EventKind.TIMED_OUT, EventKind.KILLED, EventKind.FAILED]
    assert events[-2].detail == "the handler ignored its timeout for 0.5 s; its process was killed"
    assert {e.actor for e in events[-3:-1]} == {"worker w"}
    assert (stats.stopped, stats.killed, stats.by_reason) == (1, 1, {"timeout": 1})


def test_handed_back_is_pending_again_without_using_an_attempt(service: TaskService, store: Store) -> None:
    (running,) = _claimed(service, store)
    stats = _write(store, [(running, HandedBack("waited over 1 s behind long tasks"))])
    back = get(store, running.task.id)
    assert (back.status, back.attempt, back.worker_id) == (TaskStatus.PENDING, 0, None)
    released = service.events(running.task.id)[-1]
    assert (released.kind, released.detail) == (EventKind.RELEASED, "waited over 1 s behind long tasks")
    assert (stats.released, stats.by_reason) == (1, {"shutdown": 1})


def test_cancelled_and_lost_write_no_state_only_a_kill(service: TaskService, store: Store) -> None:
    cancelled, lost = _claimed(service, store, 2)
    service.cancel(cancelled.task.id)
    before = get(store, lost.task.id)
    stats = _write(store, [(cancelled, Cancelled(killed=True)), (lost, Lost())])
    assert get(store, cancelled.task.id).status is TaskStatus.CANCELLED
    killed = service.events(cancelled.task.id)[-1]
    assert (killed.kind, killed.detail) == (
        EventKind.KILLED,
        "the handler ignored a stop for 0.5 s; its process was killed",
    )
    assert get(store, lost.task.id) == before  # still running for whoever holds it now
    assert _kinds(service, lost.task.id) == [EventKind.CREATED, EventKind.CLAIMED]
    assert (stats.stopped, stats.killed, stats.by_reason) == (2, 1, {"cancelled": 1, "lost": 1})


def test_an_outcome_of_an_attempt_no_longer_ours_is_dropped(service: TaskService, store: Store) -> None:
    (running,) = _claimed(service, store)
    service.cancel(running.task.id)  # the cancel wins the race with the handler's result
    stats = _write(store, [(running, Completed({"late": True}))])
    task = get(store, running.task.id)
    assert (task.status, task.result) == (TaskStatus.CANCELLED, None)
    assert (stats.completed, stats.dropped_writes) == (1, 1)


class FinishCountingStore(SQLiteStore):
    """The real store, counting its ``task_finish`` transactions."""

    finishes = 0

    def task_finish(self, completions: Sequence[Completion]) -> list[int]:
        self.finishes += 1
        return super().task_finish(completions)


def test_outcomes_that_arrive_together_share_transactions(service: TaskService, db_path: Path) -> None:
    counting = FinishCountingStore(db_path)
    try:
        claimed = _claimed(service, counting, 50)
        stats = _write(counting, [(running, Completed({})) for running in claimed])
        assert all(get(counting, r.task.id).status is TaskStatus.COMPLETED for r in claimed)
        assert stats.completed == 50
        assert counting.finishes <= 2  # the first write alone, then everything queued behind it
    finally:
        counting.close()
