"""The ``timeout`` handler option: a run longer than it fails the task with a clear message; a sync
handler that does not stop is killed (the same path as a hard cancel)."""

from __future__ import annotations

from pathlib import Path

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from tests.worker.helpers import TIMEOUTS, drain, get, make_worker, read_marker


def test_handlers_running_past_their_timeout_fail_and_a_stubborn_one_is_killed(
    service: TaskService, store: SQLiteStore, marks: Path
) -> None:
    slow_async = service.create(1, "search", {"dir": str(marks)})
    stubborn_sync = service.create(1, "crawl", {"dir": str(marks)})
    worker = make_worker(store, (TIMEOUTS,), cancel_grace=0.5)
    drain(worker)

    timed_out = get(store, slow_async.id)
    assert timed_out.status is TaskStatus.FAILED
    assert timed_out.error_message == "TimeoutError: the task ran longer than its timeout of 0.3 s"
    assert timed_out.completed_at is not None and timed_out.result is None

    killed = get(store, stubborn_sync.id)
    assert killed.status is TaskStatus.FAILED
    assert killed.error_message.startswith("TimeoutError: ")
    assert "timeout of 0.3 s" in killed.error_message and "killed" in killed.error_message
    pid = int(read_marker(marks, stubborn_sync.id, "started") or 0)
    assert pid and not Path(f"/proc/{pid}").exists()  # killed and reaped

    assert worker.stats.killed == 1
    assert worker.stats.by_reason == {"timeout": 2}
    assert timed_out.attempt == killed.attempt == 1  # a timeout is a failure, not a lost worker
