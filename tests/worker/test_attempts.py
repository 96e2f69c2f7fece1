"""One worker holding two attempts of one task: attempt 1 was rescued while its write was still
pending (a store outage stopped its lease renewals), and the same worker claimed attempt 2. Whatever
becomes of attempt 1's late write must touch attempt 1 alone: attempt 2 runs, hears its cancel, and
its outcome is written (the chaos run once found it stopped by attempt 1's refusal and the task left
``running`` for ever, its lease renewed by a worker that no longer ran it).

The interleaving is driven, not waited for: a store wrapper holds attempt 1's write on an event and
refuses lease renewals while the test says the store is out.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from taskapi.domain import StoreUnavailable, TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Completion, ProgressWrite, Store
from tests.worker.attempt_handlers import MODULE
from tests.worker.helpers import make_worker, marker, running, wait_final, wait_marker, wait_until

HOLD_LIMIT = 30.0  # seconds a held write waits at most, so that a failing test never hangs


class HeldStore:
    """The real store, except that the first write of ``(task_id, 1)`` (progress or outcome) waits
    until ``resume`` is set, and ``lease_renew`` fails while ``out`` is set."""

    def __init__(self, store: Store, task_id: int) -> None:
        self._store = store
        self.task_id = task_id
        self.held = threading.Event()  # attempt 1's write has arrived and waits
        self.resume = threading.Event()
        self.out = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _hold(self, pairs: set[tuple[int, int]]) -> None:
        if (self.task_id, 1) in pairs and not self.held.is_set():
            self.held.set()
            self.resume.wait(HOLD_LIMIT)

    def task_set_progress(self, writes: Sequence[ProgressWrite], lease_seconds: float) -> list[int]:
        self._hold({(w.id, w.attempt) for w in writes})
        return self._store.task_set_progress(writes, lease_seconds)

    def task_finish(self, completions: Sequence[Completion]) -> list[int]:
        self._hold({(c.id, c.attempt) for c in completions})
        return self._store.task_finish(completions)

    def lease_renew(self, worker_id: str, held: Sequence[tuple[int, int]], lease_seconds: float) -> int:
        if self.out.is_set():
            raise StoreUnavailable("the test's outage")
        return self._store.lease_renew(worker_id, held, lease_seconds)


def _claim_attempt_2_while_attempt_1_writes(store: HeldStore, marks: Path) -> None:
    """Once attempt 1's write waits: the store goes out, the worker's own rescuer takes attempt 1
    back, the worker claims attempt 2 and starts it; then the store is back and attempt 1's write
    goes on (to be refused, as attempt 1 is no longer current)."""
    try:
        wait_until(store.held.is_set, what="attempt 1's write to reach the store")
        store.out.set()  # no renewal from now on: the lease of attempt 1 expires
        wait_marker(marks, store.task_id, "started", attempt=2)
        store.out.clear()
    finally:
        store.resume.set()


def test_a_refused_progress_write_of_attempt_1_stops_attempt_1_not_attempt_2(
    service: TaskService, store: Store, marks: Path
) -> None:
    task = service.create(1, "search", {"dir": str(marks), "progress": True})
    held = HeldStore(store, task.id)
    worker = make_worker(cast(Store, held), (MODULE,), lease_seconds=0.3)
    with running(worker):
        _claim_attempt_2_while_attempt_1_writes(held, marks)
        wait_marker(marks, task.id, "stopped", attempt=1)  # attempt 1's refusal stopped it
        marker(marks, task.id, "go", attempt=2).touch()
        done = wait_final(store, task.id)
        wait_until(lambda: not worker.running_ids, what="the worker to let go of both attempts")
    assert (done.status, done.attempt, done.result) == (TaskStatus.COMPLETED, 2, {"attempt": 2})
    assert (done.progress, done.total) == (2, 2)


def test_a_refused_outcome_of_attempt_1_leaves_attempt_2_held_and_cancellable(
    service: TaskService, store: Store, marks: Path
) -> None:
    task = service.create(1, "search", {"dir": str(marks)})
    marker(marks, task.id, "go", attempt=1).touch()  # attempt 1 returns at once; its outcome waits
    held = HeldStore(store, task.id)
    worker = make_worker(cast(Store, held), (MODULE,), lease_seconds=0.3)
    with running(worker):
        _claim_attempt_2_while_attempt_1_writes(held, marks)
        wait_until(lambda: worker.stats.dropped_writes == 1, what="attempt 1's outcome to be refused")
        assert worker.running_ids == [task.id]  # attempt 2, still running
        service.cancel(task.id)
        wait_marker(marks, task.id, "stopped", attempt=2)
        wait_until(lambda: not worker.running_ids, what="the worker to let go of attempt 2")
        stats = worker.stats
    done = wait_final(store, task.id)
    assert (done.status, done.attempt, done.result) == (TaskStatus.CANCELLED, 2, None)
    assert stats.by_reason == {"cancelled": 1}
