"""A worker hears each create and cancel once, on both dialects: an API sharing its store object (the
embedded worker of ``serve``) reaches it directly, another store object (another process) through the
dialect's carrier (host datagrams, NOTIFY), and neither path repeats the other's announcement.

Every poll is a minute away, so only an announcement can explain a claim or a stop within the test.
The announcements from the other store object arrive in the order they were sent, after any echo of
this store's: once the last of them was acted on, the count is final.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Store
from taskapi.store.postgres import PostgresStore
from taskapi.store.sqlite import SQLiteStore
from tests.integration.pg import reopen_postgres_store
from tests.worker.conftest import POSTGRES
from tests.worker.helpers import get, make_worker, running, wait_marker, wait_until

QUIET = 60.0  # seconds between polls (claims, cancel checks, progress): longer than the test


@contextmanager
def another_store(store: Store, dialect: str, db_path: Path) -> Iterator[Store]:
    """A second store object on the same database, as another process would open it."""
    other: Store = (
        reopen_postgres_store(cast(PostgresStore, store)) if dialect == POSTGRES else SQLiteStore(db_path)
    )
    try:
        yield other
    finally:
        other.close()


def test_a_worker_sharing_the_apis_store_hears_each_create_and_cancel_once(
    service: TaskService, store: Store, worker_dialect: str, tmp_path: Path, marks: Path
) -> None:
    loop = {"mode": "loop", "dir": str(marks)}
    first = service.create(1, "search", loop)  # before the worker starts: its first claim takes it
    with (
        another_store(store, worker_dialect, tmp_path / "worker.db") as other,
        running(make_worker(store, poll_interval=QUIET, progress_interval=QUIET)) as worker,
    ):
        wait_marker(marks, first.id, "started")
        second = service.create(1, "search", loop)  # announced on the worker's own store object
        wait_marker(marks, second.id, "started")  # the announcement woke its claim loop
        other.task_cancel(second.id)  # announced to the worker from another store object
        wait_marker(marks, second.id, "stopped")
        other.task_cancel(first.id)
        wait_marker(marks, first.id, "stopped")
        wait_until(lambda: not worker.running_ids, what="the worker to let go of both tasks")
        heard = worker.stats.heard
    assert heard == 3  # one create, two cancels: each once
    assert worker.stats.by_reason == {"cancelled": 2}
    assert get(store, first.id).status is get(store, second.id).status is TaskStatus.CANCELLED
