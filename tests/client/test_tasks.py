"""The client against a real ``serve`` (SQLite and PostgreSQL): every task route answers the Python
API's records, and a caller's mistake raises the Python API's exception, naming the field."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from taskapi.client import AsyncTaskClient, TaskClient
from taskapi.domain import (
    EventKind,
    InvalidInput,
    Task,
    TaskEvent,
    TaskNotCancellable,
    TaskNotFound,
    TaskStatus,
)
from taskapi.service import TaskService
from tests.client.conftest import Served, finish

pytestmark = pytest.mark.slow


def on_the_wire(task: Task) -> Task:
    """The service's task as the API shows it: times to the second, no worker internals."""
    return Task(
        id=task.id,
        project_id=task.project_id,
        task_type=task.task_type,
        status=task.status,
        progress=task.progress,
        total=task.total,
        params=task.params,
        result=task.result,
        error_message=task.error_message,
        created_at=task.created_at.replace(microsecond=0),
        started_at=None if task.started_at is None else task.started_at.replace(microsecond=0),
        completed_at=None if task.completed_at is None else task.completed_at.replace(microsecond=0),
    )


def event_on_the_wire(event: TaskEvent) -> TaskEvent:
    return replace(event, at=event.at.replace(microsecond=0))


def test_create_get_and_finish_answer_the_python_apis_records(
    server: Served, service: TaskService, project: int
) -> None:
    with TaskClient(server.base_url) as client:
        created = client.create(project, "search", {"query": "graphene", "limit": 5})
        finish(service, created.id, result={"papers_found": 15})
        done = client.get(created.id)
    assert created.status is TaskStatus.PENDING and created.params == {"query": "graphene", "limit": 5}
    assert done == on_the_wire(service.get(created.id))
    assert done.status is TaskStatus.COMPLETED and done.result == {"papers_found": 15}
    assert done.created_at.tzinfo is not None and done.completed_at is not None


def test_a_failed_task_carries_its_error(server: Served, service: TaskService, project: int) -> None:
    with TaskClient(server.base_url) as client:
        task = client.create(project, "ocr")
        finish(service, task.id, error_message="pdfium: file is encrypted")
        failed = client.get(task.id)
    assert (failed.status, failed.error_message) == (TaskStatus.FAILED, "pdfium: file is encrypted")


def test_list_follows_the_cursor_through_every_page(
    server: Served, service: TaskService, project: int
) -> None:
    ids = [service.create(project, "ocr").id for _ in range(7)]
    service.create(project + 1, "ocr")  # another project's: filtered out
    with TaskClient(server.base_url) as client:
        listed = [task.id for task in client.list(project_id=project, page_size=3)]
        first = client.page(project_id=project, limit=3)
        second = client.page(project_id=project, limit=3, after=first.next_cursor)
        last = client.page(project_id=project, limit=10)
    assert listed == ids[::-1]
    assert [t.id for t in first.items + second.items] == ids[::-1][:6]
    assert first.next_cursor is not None and last.next_cursor is None
    assert last.items == service.list(project_id=project, limit=10)[:0] + [
        replace(t, created_at=t.created_at.replace(microsecond=0))
        for t in service.list(project_id=project, limit=10)
    ]


def test_list_filters_as_the_service_does(server: Served, service: TaskService, project: int) -> None:
    ocr = service.create(project, "ocr")
    search = service.create(project, "search").id
    service.cancel(search)
    with TaskClient(server.base_url) as client:
        by_type = [t.id for t in client.list(project_id=project, task_type="ocr")]
        by_status = [t.id for t in client.list(project_id=project, status="cancelled")]
        before = [t.id for t in client.list(project_id=project, created_before=ocr.created_at)]
    assert (by_type, by_status, before) == ([ocr.id], [search], [])


def test_cancel_its_refusal_and_a_missing_task(server: Served, service: TaskService, project: int) -> None:
    with TaskClient(server.base_url) as client:
        task = client.create(project, "crawl")
        client.cancel(task.id)
        with pytest.raises(TaskNotCancellable) as refused:
            client.cancel(task.id)
        with pytest.raises(TaskNotFound) as missing:
            client.get(task.id + 100_000)
        with pytest.raises(TaskNotFound):
            client.events(task.id + 100_000)
    assert service.get(task.id).status is TaskStatus.CANCELLED
    assert refused.value.task_id == task.id and refused.value.status is TaskStatus.CANCELLED
    assert str(missing.value) == f"Task {task.id + 100_000} not found"


def test_events_batch_create_and_bulk_cancel(server: Served, service: TaskService, project: int) -> None:
    with TaskClient(server.base_url) as client:
        ids = client.create_many(
            [(project, "ocr", {"page": 1}), (project, "index", None), (project + 1, "ocr", None)]
        )
        cancelled = client.cancel_many(project, task_type="ocr")
        timeline = client.events(ids[0])
    assert [service.get(i).task_type for i in ids] == ["ocr", "index", "ocr"]
    assert cancelled == 1
    assert [e.kind for e in timeline] == [EventKind.CREATED, EventKind.CANCELLED]
    assert timeline == [event_on_the_wire(e) for e in service.events(ids[0])]


BAD_CALLS: list[tuple[Callable[[TaskClient], object], str]] = [
    (lambda c: c.create(1, "no_such_type"), "task_type"),
    (lambda c: c.create(0, "ocr"), "project_id"),
    (lambda c: c.create(1, "ocr", {"x": float("nan")}), "params"),
    (lambda c: c.create_many([(1, "ocr", None), (1, "nope", None)]), "tasks.1.task_type"),
    (lambda c: c.page(limit=1001), "limit"),
    (lambda c: c.page(status="sleeping"), "status"),
    (lambda c: c.page(after="not-a-cursor"), "cursor"),
    (lambda c: c.cancel_many(1, status="completed"), "status"),
    (lambda c: c.get(0), "id"),
]


def test_bad_input_raises_invalid_input_naming_the_field(server: Served) -> None:
    named = []
    with TaskClient(server.base_url) as client:
        for call, _ in BAD_CALLS:
            with pytest.raises(InvalidInput) as raised:
                call(client)
            named.append(raised.value.field)
    assert named == [field for _, field in BAD_CALLS]


def test_the_async_client_answers_the_same(server: Served, service: TaskService, project: int) -> None:
    async def scenario() -> tuple[Task, list[int], list[int], int]:
        async with AsyncTaskClient(server.base_url) as client:
            task = await client.create(project, "dedup", {"dry_run": True})
            more = await client.create_many([(project, "index", None)] * 4)
            listed = [t.id async for t in client.list(project_id=project, page_size=2)]
            await client.cancel(task.id)
            with pytest.raises(TaskNotCancellable):
                await client.cancel(task.id)
            with pytest.raises(InvalidInput):
                await client.create(project, "nope")
            cancelled = await client.cancel_many(project)
            return await client.get(task.id), more, listed, cancelled

    got, more, listed, cancelled = asyncio.run(scenario())
    assert listed == [*more[::-1], got.id]
    assert got == on_the_wire(service.get(got.id)) and got.status is TaskStatus.CANCELLED
    assert cancelled == len(more)
