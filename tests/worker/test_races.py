"""A thousand cancel-versus-complete races: each task ends in exactly one final state, and a task whose
cancel was accepted is cancelled, never completed."""

from __future__ import annotations

import random
import threading
import time

from taskapi.domain import TaskNotCancellable, TaskStatus
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from tests.handlers.basic import RaceLeash
from tests.worker.helpers import make_worker, running, wait_until

TASKS = 1000
LEASH = 60  # handlers finish at most this many tasks past the canceller's current one


def test_a_thousand_cancel_versus_complete_races_end_in_exactly_one_final_state(
    service: TaskService, store: SQLiteStore
) -> None:
    tasks = service.create_many([(1, "search", {"mode": "race"}) for _ in range(TASKS)])
    ids = [task.id for task in tasks]
    accepted: list[int] = []
    refused: list[int] = []

    worker = make_worker(store, concurrency=20)

    def cancel_at_random() -> None:
        """Cancel half the tasks, each when the worker's claims are near it: ahead of, at or past it."""
        rng = random.Random(7)
        for index in sorted(rng.sample(range(TASKS), TASKS // 2)):
            RaceLeash.last_id = ids[min(index + LEASH, TASKS - 1)]
            reached = index + rng.randint(-20, 40)  # tasks claimed or cancelled when this cancel goes out
            deadline = time.monotonic() + 2
            while worker.stats.claimed + len(accepted) < reached and time.monotonic() < deadline:
                time.sleep(0)  # let the worker's thread run; this only paces the canceller
            try:
                service.cancel(ids[index])
                accepted.append(ids[index])
            except TaskNotCancellable:
                refused.append(ids[index])

    canceller = threading.Thread(target=cancel_at_random, name="canceller")
    with running(worker):
        canceller.start()
        try:
            canceller.join(timeout=60)
        finally:
            RaceLeash.last_id = None
        assert not canceller.is_alive()
        wait_until(
            lambda: all(t.status.is_final for t in map(store.task_get, ids) if t is not None),
            timeout=60,
            what="every task to reach a final state",
        )
        stats = worker.stats
    final = {task_id: store.task_get(task_id) for task_id in ids}
    statuses = {task_id: task.status for task_id, task in final.items() if task is not None}
    assert len(statuses) == TASKS
    for task_id in accepted:
        task = final[task_id]
        assert task is not None and task.status is TaskStatus.CANCELLED, f"task {task_id}: {task}"
        assert task.result is None
    for task_id in refused:
        assert statuses[task_id] is TaskStatus.COMPLETED, f"task {task_id} refused its cancel"
    untouched = set(ids) - set(accepted) - set(refused)
    assert all(statuses[task_id] is TaskStatus.COMPLETED for task_id in untouched)
    assert all(task is None or task.attempt <= 1 for task in final.values())  # never run twice
    assert stats.failed == 0
    assert stats.completed - stats.dropped_writes == TASKS - len(accepted)
    running_cancels = stats.by_reason.get("cancelled", 0)
    print(
        f"\n[races] {TASKS} tasks, {len(accepted) + len(refused)} cancels: {len(accepted)} accepted "
        f"({running_cancels} stopped a running handler, {stats.dropped_writes} late results dropped), "
        f"{len(refused)} refused as already completed"
    )
    assert accepted and refused, "the races were not races: every cancel landed on the same side"
