"""``watch()`` and ``wait()`` on the live stream of a real ``serve`` (SQLite and PostgreSQL): changes
arrive as they happen, a restart of the server in the middle of a watch loses and repeats nothing
(the client resumes with ``Last-Event-ID``), and ``wait()`` polls while the stream cannot be had."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskapi.client import AsyncTaskClient, TaskChange, TaskClient, WaitTimeout
from taskapi.domain import TaskNotFound, TaskStatus
from taskapi.service import TaskService
from tests.client.conftest import DIALECTS, Served, finish, serving
from tests.client.fakes import FORWARD, Answer, Seen, fake_server, html_502
from tests.conftest import wait_until

pytestmark = pytest.mark.slow


class Collector:
    """A watch consumed on a thread, its changes kept in order, so the test can act meanwhile."""

    def __init__(self, changes: Iterator[TaskChange]) -> None:
        self.changes: list[TaskChange] = []
        self.error: BaseException | None = None
        self._source = changes
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for change in self._source:
                self.changes.append(change)
        except BaseException as exc:  # the test sees it through ``error``
            self.error = exc

    def until(self, count: int, what: str, timeout: float = 20.0) -> None:
        def enough() -> bool:
            assert self.error is None, self.error
            return len(self.changes) >= count

        wait_until(enough, timeout=timeout, interval=0.01, what=what)

    def join(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive(), "the watch did not end"


def test_wait_returns_the_finished_task_in_full(server: Served, service: TaskService, project: int) -> None:
    task = service.create(project, "search", {"query": "q"})
    timer = threading.Timer(0.3, finish, (service, task.id), {"result": {"papers_found": 2}})
    with TaskClient(server.base_url) as client:
        timer.start()
        done = client.wait(task.id, timeout=20)
    timer.join()
    assert (done.status, done.result) == (TaskStatus.COMPLETED, {"papers_found": 2})


def test_wait_on_a_task_already_ended_and_on_a_missing_one(
    server: Served, service: TaskService, project: int
) -> None:
    task = service.create(project, "ocr")
    service.cancel(task.id)
    with TaskClient(server.base_url) as client:
        assert client.wait(task.id, timeout=5).status is TaskStatus.CANCELLED
        with pytest.raises(TaskNotFound):
            client.wait(task.id + 100_000, timeout=5)


def test_wait_gives_up_at_its_timeout(server: Served, service: TaskService, project: int) -> None:
    task = service.create(project, "ocr")
    with TaskClient(server.base_url) as client:
        started = time.monotonic()
        with pytest.raises(WaitTimeout) as raised:
            client.wait(task.id, timeout=1.0)
        took = time.monotonic() - started
    assert raised.value.status is TaskStatus.PENDING and raised.value.task_id == task.id
    assert 1.0 <= took < 2.5, took


def test_the_async_wait_and_watch(server: Served, service: TaskService, project: int) -> None:
    task = service.create(project, "index")

    async def scenario() -> tuple[TaskStatus, list[str]]:
        async with AsyncTaskClient(server.base_url) as client:
            waiting = asyncio.create_task(client.wait(task.id, timeout=20))
            watched = [c.event async for c in client.watch(task_id=task.id, last_event_id=0, timeout=1.0)]
            await asyncio.to_thread(service.cancel, task.id)
            return (await waiting).status, watched

    status, watched = asyncio.run(scenario())
    assert status is TaskStatus.CANCELLED
    assert watched == ["created"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_restart_in_the_middle_of_a_watch_loses_and_repeats_nothing(dialect: str, tmp_path: Path) -> None:
    project = 5
    with (
        serving(dialect, tmp_path) as server,
        TaskService.open(server.database_url, migrate=False) as service,
        TaskClient(server.base_url) as client,
    ):
        before = service.create(project, "ocr").id
        start = service.latest_event_id()
        watch = Collector(client.watch(project_id=project, last_event_id=start))
        first = service.create(project, "ocr").id
        service.create(project + 1, "ocr")  # another project's: not watched
        watch.until(1, "the first change")
        server.stop()
        while_down = [service.create(project, "search").id for _ in range(3)]
        service.cancel(before)
        server.start()
        after = service.create(project, "dedup").id
        watch.until(6, "the changes made while the server was down, then the live one")
        log = [e for e in service.changes(start) if e.task_id in {before, first, *while_down, after}]
    seen = [(c.event_id, c.task_id, c.event) for c in watch.changes]
    assert seen == [(e.id, e.task_id, e.kind.value) for e in log]
    assert [c.task_id for c in watch.changes] == [first, *while_down, before, after]


def test_wait_polls_while_the_stream_cannot_be_had(
    server: Served, service: TaskService, project: int
) -> None:
    def no_stream(seen: Seen) -> Answer | str:
        return html_502(seen) if seen.path.startswith("/api/v1/tasks/events") else FORWARD

    task = service.create(project, "crawl")
    with fake_server(no_stream, upstream=server.base_url) as proxy, TaskClient(proxy.base_url) as client:
        timer = threading.Timer(0.5, service.cancel, (task.id,))
        timer.start()
        done = client.wait(task.id, timeout=20, poll_interval=0.2)
        timer.join()
        polls = [s for s in proxy.seen if s.path == f"/api/v1/tasks/{task.id}"]
    assert done.status is TaskStatus.CANCELLED
    assert len(polls) >= 2  # it read the task again while the stream failed


def test_the_async_watch_resumes_across_a_restart(tmp_path: Path) -> None:
    with (
        serving("sqlite", tmp_path) as server,
        TaskService.open(server.database_url, migrate=False) as service,
    ):
        start = service.latest_event_id()

        async def scenario() -> list[tuple[int | None, str]]:
            seen: list[tuple[int | None, str]] = []
            async with AsyncTaskClient(server.base_url) as client:
                async for change in client.watch(project_id=1, last_event_id=start, timeout=60):
                    seen.append((change.event_id, change.event))
                    if len(seen) == 1:
                        await asyncio.to_thread(server.stop)
                        await asyncio.to_thread(service.cancel, change.task_id)
                        await asyncio.to_thread(server.start)
                    if len(seen) == 2:
                        break
            return seen

        task = service.create(1, "ocr")
        seen = asyncio.run(scenario())
        log = service.changes(start)
    assert seen == [(e.id, e.kind.value) for e in log] == [(log[0].id, "created"), (log[1].id, "cancelled")]
    assert log[0].task_id == task.id


def test_a_watch_too_far_behind_raises_changes_missed_and_wait_copes(tmp_path: Path) -> None:
    from taskapi.api import create_app
    from taskapi.api.hub import HubOptions
    from taskapi.client import ChangesMissed
    from taskapi.store.sqlite import SQLiteStore
    from tests.helpers.server import serving_in_thread

    store = SQLiteStore(tmp_path / "x.db")
    store.migrate()
    service = TaskService(store)
    try:
        missed = [service.create(1, "search").id for _ in range(5)]
        app = create_app(service, hub_options=HubOptions(max_replay=2, page=1, keepalive=0.3))
        with serving_in_thread(app) as base, TaskClient(base) as client:
            with pytest.raises(ChangesMissed) as raised:
                for _ in client.watch(last_event_id=0, timeout=20):
                    pass
            service.cancel(missed[0])
            done = client.wait(missed[0], timeout=20)
    finally:
        store.close()
    assert raised.value.resume_from == 5
    assert done.status is TaskStatus.CANCELLED


def test_wait_outlives_a_restart_of_the_server(tmp_path: Path) -> None:
    with (
        serving("sqlite", tmp_path) as server,
        TaskService.open(server.database_url, migrate=False) as service,
        TaskClient(server.base_url) as client,
    ):
        task = service.create(1, "ocr")
        result: list[object] = []
        waiter = threading.Thread(target=lambda: result.append(client.wait(task.id, timeout=90)), daemon=True)
        waiter.start()
        wait_until(lambda: _streams(server) >= 1, timeout=20, interval=0.05, what="the wait's stream")
        server.stop()
        service.cancel(task.id)  # while the server is down: only the database knows
        server.start()
        waiter.join(60)
    assert len(result) == 1 and getattr(result[0], "status", None) is TaskStatus.CANCELLED


def _streams(server: Served) -> int:
    """How many clients hold the server's live stream (its Prometheus gauge)."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        if family.name == "taskapi_stream_clients":
            return int(sum(sample.value for sample in family.samples))
    return 0
