"""Claiming ahead: a worker busy with short tasks holds a few more than it runs, so a free slot starts its
next task at once; a held task is still cancellable, goes back on shutdown without using an attempt,
and is handed back when the tasks ahead of it turn out long, so another worker can run it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Store
from taskapi.worker import Worker
from taskapi.worker._claiming import CLAIM_AHEAD_MAX, HOLD_LIMIT, ClaimAhead
from tests.worker.helpers import get, make_worker, read_marker, running, wait_final, wait_until

SHORT = {"mode": "return", "value": None}


def _warm_up(service: TaskService, store: Store, worker: Worker, n: int = 40) -> None:
    """Let ``worker`` (running) learn that tasks are short."""
    tasks = service.create_many([(1, "search", SHORT)] * n)
    for task in tasks:
        wait_final(store, task.id)


def _statuses(store: Store, ids: list[int]) -> list[TaskStatus]:
    return [get(store, task_id).status for task_id in ids]


def test_the_buffer_is_sized_from_run_times_and_is_empty_for_long_tasks() -> None:
    ahead = ClaimAhead(concurrency=10)
    assert ahead.size() == 0  # nothing observed yet: claim only for free slots
    for _ in range(50):
        ahead.observe(0.0005)
    assert 0 < ahead.size() <= CLAIM_AHEAD_MAX
    assert ahead.size(longest_running=2.0) == 0  # a running task already took long
    for _ in range(100):
        ahead.observe(1.0)
    assert ahead.size() == 0


def test_tasks_held_behind_long_ones_are_handed_back_and_another_worker_runs_them(
    service: TaskService, store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    first = make_worker(store, concurrency=2, worker_id="first")
    second = make_worker(store, concurrency=2, worker_id="second")
    with running(first):
        _warm_up(service, store, first)
        gated = service.create_many([(1, "search", {"mode": "gate", "gate": str(gate)})] * 4)
        ids = [task.id for task in gated]
        # The first worker, used to short tasks, claims all four: two run, two wait in its buffer.
        wait_until(
            lambda: _statuses(store, ids).count(TaskStatus.RUNNING) == 4,
            what="all four claimed by the first worker",
        )
        with running(second):
            # Past HOLD_LIMIT the two waiting ones go back to pending, and the idle second worker runs them.
            def spread() -> bool:
                tasks = [get(store, task_id) for task_id in ids]
                owners = Counter(t.worker_id for t in tasks if t.status is TaskStatus.RUNNING)
                return owners == Counter({"first": 2, "second": 2})

            wait_until(spread, timeout=HOLD_LIMIT + 10, what="two tasks running on each worker")
            gate.touch()
            finals = [wait_final(store, task_id) for task_id in ids]
    assert [task.status for task in finals] == [TaskStatus.COMPLETED] * 4
    assert all(task.attempt == 1 for task in finals)  # handing back used no attempt


def test_a_cancelled_held_task_never_starts(
    service: TaskService, store: Store, tmp_path: Path, marks: Path
) -> None:
    gate = tmp_path / "gate"
    worker = make_worker(store, concurrency=2)
    with running(worker):
        _warm_up(service, store, worker)
        blockers = service.create_many([(1, "search", {"mode": "gate", "gate": str(gate)})] * 2)
        held = service.create_many([(1, "search", {"mode": "return", "dir": str(marks)})] * 3)
        held_ids = [task.id for task in held]
        wait_until(
            lambda: _statuses(store, held_ids) == [TaskStatus.RUNNING] * 3,
            what="the short tasks claimed behind the blockers",
        )
        service.cancel(held_ids[1])
        gate.touch()
        finals = [wait_final(store, task.id) for task in [*blockers, *held]]
    done, cancelled = TaskStatus.COMPLETED, TaskStatus.CANCELLED
    assert [task.status for task in finals] == [done, done, done, cancelled, done]
    assert read_marker(marks, held_ids[1], "started") is None
    assert read_marker(marks, held_ids[0], "started") is not None


def test_a_stopping_worker_hands_held_tasks_back_without_using_an_attempt(
    service: TaskService, store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    worker = make_worker(store, concurrency=2)
    with running(worker):
        _warm_up(service, store, worker)
        service.create_many([(1, "search", {"mode": "gate", "gate": str(gate)})] * 2)
        held = service.create_many([(1, "search", SHORT)] * 3)
        held_ids = [task.id for task in held]
        wait_until(
            lambda: _statuses(store, held_ids) == [TaskStatus.RUNNING] * 3,
            what="the short tasks claimed behind the blockers",
        )
    # running() stopped the worker: every task it held is pending again, on no attempt.
    back = [get(store, task_id) for task_id in held_ids]
    assert [(task.status, task.attempt, task.worker_id) for task in back] == [
        (TaskStatus.PENDING, 0, None)
    ] * 3
