"""Progress: cheap to report a million times, coalesced into a few store writes, the last value kept."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import ProgressWrite
from taskapi.store.sqlite import SQLiteStore
from tests.worker.helpers import get, make_worker, running, wait_until

MILLION = 1_000_000


class CountingStore(SQLiteStore):
    """The real SQLite store, counting the progress writes the worker makes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.progress_calls = 0
        self.progress_rows = 0

    def task_set_progress(self, writes: Sequence[ProgressWrite], lease_seconds: float) -> list[int]:
        self.progress_calls += 1
        self.progress_rows += len(writes)
        return super().task_set_progress(writes, lease_seconds)


@pytest.mark.parametrize("task_type", ["crawl", "search"])
def test_a_million_progress_calls_finish_fast_and_reach_the_store_as_a_few_increasing_writes(
    task_type: str, db_path: Path, store: SQLiteStore
) -> None:
    counting = CountingStore(db_path)
    try:
        task = TaskService(store).create(1, task_type, {"mode": "report", "n": MILLION})
        seen: list[int] = []
        started = time.monotonic()
        with running(make_worker(counting, progress_interval=0.05)):

            def finished() -> bool:
                current = get(store, task.id)
                if current.status is TaskStatus.RUNNING and (not seen or seen[-1] != current.progress):
                    seen.append(current.progress)
                return current.status.is_final

            wait_until(finished, timeout=60, what="the million-step task to finish")
        elapsed = time.monotonic() - started
    finally:
        counting.close()
    done = get(store, task.id)
    print(
        f"\n[progress] {task_type}: {MILLION} progress() calls in {elapsed:.2f} s; "
        f"{counting.progress_rows} progress rows in {counting.progress_calls} writes; "
        f"{len(seen)} distinct values seen while running"
    )
    assert done.status is TaskStatus.COMPLETED
    assert (done.progress, done.total) == (MILLION, MILLION)
    assert done.result == {"n": MILLION}
    assert seen == sorted(seen), "progress went backwards"
    assert len(seen) == len(set(seen))
    # a few writes per second: 1/progress_interval, with room for a slow machine
    assert counting.progress_rows <= 25 * elapsed + 5
    assert counting.progress_rows < MILLION // 1000
