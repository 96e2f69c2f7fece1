"""A bulk cancel stops running handlers as a single cancel does: through the in-process signals when the
worker shares the API's process (SQLite), and through NOTIFY from another host (PostgreSQL, with every
poll 30 s away so that only the notification can explain the stop)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskapi.service import TaskService
from taskapi.store.postgres import PostgresStore
from taskapi.store.sqlite import SQLiteStore
from taskapi.worker import Worker
from tests.integration.pg import make_postgres_store, reopen_postgres_store
from tests.worker.helpers import make_worker, running, wait_marker, wait_until


def test_bulk_cancel_stops_the_handlers_of_an_embedded_worker(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    store.migrate()
    try:
        service = TaskService(store)
        _stop_by_bulk_cancel(service, make_worker(store), tmp_path)
    finally:
        store.close()


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    with make_postgres_store() as store:
        yield store


@pytest.mark.postgres
def test_bulk_cancel_stops_the_handlers_of_a_worker_on_another_host(
    pg_store: PostgresStore, tmp_path: Path
) -> None:
    api_side = reopen_postgres_store(pg_store)
    try:
        worker = make_worker(pg_store, poll_interval=30.0, progress_interval=30.0, rescue_interval=30.0)
        _stop_by_bulk_cancel(TaskService(api_side), worker, tmp_path)
    finally:
        api_side.close()


def _stop_by_bulk_cancel(service: TaskService, worker: Worker, marks: Path) -> None:
    looping = [
        service.create(1, "search", {"mode": "loop", "dir": str(marks)}),  # async
        service.create(1, "crawl", {"mode": "loop", "dir": str(marks)}),  # sync, in a child process
    ]
    elsewhere = service.create(2, "search", {"mode": "loop", "dir": str(marks)})
    with running(worker):
        for task in [*looping, elsewhere]:
            wait_marker(marks, task.id, "started")
        assert service.cancel_many(1, status="running", actor="cli") == 2
        wait_until(
            lambda: worker.stats.by_reason.get("cancelled") == 2,
            what="both handlers of project 1 stopped by the bulk cancel",
        )
        assert elsewhere.id in worker.running_ids
        assert service.get(elsewhere.id).status == "running"
    for task in looping:
        assert [e.kind for e in service.events(task.id)][-1] == "cancelled"
