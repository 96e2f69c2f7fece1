"""The per-task overhead of a no-op task, measured (printed, not asserted): drained in burst mode."""

from __future__ import annotations

import time

import pytest

from taskapi.domain import TaskQuery, TaskStatus
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from tests.worker.helpers import drain, make_worker


@pytest.mark.parametrize(("task_type", "count"), [("search", 2000), ("crawl", 500)])
def test_no_op_tasks_all_complete_when_drained_and_their_rate_is_reported(
    task_type: str, count: int, service: TaskService, store: SQLiteStore
) -> None:
    service.create_many([(1, task_type, {"mode": "return"}) for _ in range(count)])
    worker = make_worker(store, concurrency=8)
    started = time.perf_counter()
    drain(worker)
    elapsed = time.perf_counter() - started
    kind = "async" if task_type == "search" else "sync (child process)"
    print(
        f"\n[overhead] {count} no-op {kind} tasks in {elapsed:.2f} s: {count / elapsed:.0f} tasks/s, "
        f"{elapsed / count * 1000:.2f} ms per task (concurrency 8, SQLite)"
    )
    assert worker.stats.completed == worker.stats.claimed == count
    left = store.task_list(TaskQuery(status=TaskStatus.PENDING, limit=10)) + store.task_list(
        TaskQuery(status=TaskStatus.RUNNING, limit=10)
    )
    assert left == []
