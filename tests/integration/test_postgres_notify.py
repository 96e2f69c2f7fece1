"""PostgreSQL notifications: a new task and a cancel reach other processes' workers without polling.

Each test uses two store objects (two pools, as two hosts would) and no shared in-process signals, and
a worker poll interval of 30 s: only NOTIFY can explain a pickup or a stop within the deadlines here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from taskapi.service import TaskService
from taskapi.signals import TaskSignal
from taskapi.store.base import Claim
from taskapi.store.postgres import PostgresStore
from taskapi.worker import Worker, WorkerOptions, load_handlers
from tests.integration.pg import make_postgres_store, reopen_postgres_store
from tests.worker.helpers import wait_until

pytestmark = pytest.mark.postgres

NO_POLL = WorkerOptions(concurrency=4, poll_interval=30.0, progress_interval=30.0, rescue_interval=30.0)


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    with make_postgres_store() as store:
        yield store


def test_listen_hears_creates_and_cancels_from_another_store(store: PostgresStore) -> None:
    heard: list[TaskSignal] = []
    stop = store.listen(heard.append)
    other = reopen_postgres_store(store)
    try:
        service = TaskService(other)
        wait_until(lambda: _listening(store, heard, service), what="the listener to hear a probe")
        task = service.create(1, "ocr")
        service.cancel(task.id)
        wait_until(lambda: any(s.kind == "cancelled" and s.task_id == task.id for s in heard))
        assert any(s.kind == "created" and s.task_type == "ocr" for s in heard)
    finally:
        stop()
        other.close()


def _listening(store: PostgresStore, heard: list[TaskSignal], service: TaskService) -> bool:
    """Create probe tasks until one is heard (LISTEN starts on its own thread)."""
    if any(s.kind == "created" and s.task_type == "index" for s in heard):
        return True
    service.create(1, "index")
    return False


@contextmanager
def running_worker(store: PostgresStore) -> Iterator[Worker]:
    handlers = load_handlers(["tests.handlers.basic"], builtin=False)
    worker = Worker(store, handlers, modules=["tests.handlers.basic"], options=NO_POLL)
    thread = threading.Thread(target=lambda: asyncio.run(worker.run()))
    thread.start()
    try:
        yield worker
    finally:
        worker.request_stop(force=True)
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_an_idle_worker_on_another_host_picks_up_and_stops_tasks_by_notification(
    store: PostgresStore,
) -> None:
    other = reopen_postgres_store(store)
    try:
        service = TaskService(other)
        with running_worker(store) as worker:
            first = service.create(1, "search", {"mode": "return"})
            wait_until(
                lambda: service.get(first.id).status == "completed",
                timeout=10,
                what="a pickup by notification, long before the 30 s poll",
            )
            held = service.create(1, "search", {"mode": "loop"})
            wait_until(lambda: service.get(held.id).status == "running", timeout=10)
            service.cancel(held.id)
            wait_until(
                lambda: worker.stats.by_reason.get("cancelled") == 1,
                timeout=10,
                what="the handler stopped by the cancel notification",
            )
            assert held.id not in worker.running_ids
    finally:
        other.close()


def test_a_subscriber_hears_its_own_stores_announcements_once_and_other_stores_by_notify(
    store: PostgresStore,
) -> None:
    """This store's creates and cancels arrive directly after the commit; its own NOTIFYs (heard on
    the same LISTEN as everyone else's) are dropped by their origin, so nothing arrives twice."""
    heard: list[TaskSignal] = []
    service = TaskService(store)
    stop = service.subscribe(heard.append)
    other = reopen_postgres_store(store)
    try:
        task = service.create(1, "ocr")
        store.task_claim(Claim("worker-1", ["ocr"], 1, 30.0, {}))
        service.cancel(task.id)
        assert heard == [  # delivered in this thread, before create() and cancel() returned
            TaskSignal("created", task.id, task_type="ocr"),
            TaskSignal("cancelled", task.id, worker_id="worker-1"),
        ]
        TaskService(other).create(1, "dedup")  # another host's store: heard by NOTIFY
        wait_until(lambda: any(s.task_type == "dedup" for s in heard), what="the other store's create")
        assert [(s.kind, s.task_type) for s in heard] == [
            ("created", "ocr"),
            ("cancelled", None),
            ("created", "dedup"),
        ]
    finally:
        stop()
        other.close()
