"""The Python API: create, get, list and cancel tasks, with the rules that every door shares.

The HTTP routes and the CLI are thin layers over ``TaskService``; a pipeline may also use it directly::

    with TaskService.open("sqlite:///taskapi.db") as tasks:
        task = tasks.create(project_id=1, task_type="search", params={"query": "graphene"})
        tasks.cancel(task.id)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from taskapi.domain import (
    DEFAULT_LIST_LIMIT,
    MAX_ID,
    MAX_LIST_LIMIT,
    Cursor,
    InvalidInput,
    NewTask,
    Task,
    TaskNotCancellable,
    TaskNotFound,
    TaskQuery,
    TaskStatus,
    TaskType,
    json_has_nul,
)
from taskapi.signals import Signals, TaskSignal
from taskapi.store import Store, open_store
from taskapi.store.base import ListedTask

MAX_BATCH = 10_000
_TYPES = ", ".join(t.value for t in TaskType)
_STATUSES = ", ".join(s.value for s in TaskStatus)


def check_id(name: str, value: object) -> int:
    """An id or project id: an integer in 1..2**63-1 (what both stores hold)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(name, f"must be an integer between 1 and {MAX_ID}")
    if not 1 <= value <= MAX_ID:
        raise InvalidInput(name, f"must be an integer between 1 and {MAX_ID}, got {value}")
    return value


def check_task_type(value: object, name: str = "task_type") -> TaskType:
    if isinstance(value, str) and value in TaskType.__members__.values():
        return TaskType(value)
    raise InvalidInput(name, f"must be one of {_TYPES}, got {value!r}")


def check_status(value: object) -> TaskStatus:
    if isinstance(value, str) and value in TaskStatus.__members__.values():
        return TaskStatus(value)
    raise InvalidInput("status", f"must be one of {_STATUSES}, got {value!r}")


def check_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIST_LIMIT:
        raise InvalidInput("limit", f"must be an integer between 1 and {MAX_LIST_LIMIT}, got {value!r}")
    return value


def check_params(value: object) -> dict[str, Any]:
    """Params are a JSON object that both stores keep as given: no NaN or infinities (not JSON), and
    no NUL character (PostgreSQL's jsonb cannot hold one)."""
    if not isinstance(value, Mapping):
        raise InvalidInput("params", f"must be a JSON object, got {type(value).__name__}")
    params = dict(value)
    try:
        text = json.dumps(params, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput("params", f"must be JSON-serialisable: {exc}") from None
    if json_has_nul(text):
        raise InvalidInput("params", "must not contain the NUL character (\\u0000)")
    return params


def check_time(name: str, value: datetime | None) -> datetime | None:
    """A naive time is taken as UTC, as the API renders every time in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TaskService:
    """The task operations over a store; ``signals`` reaches workers in this process at once."""

    def __init__(self, store: Store, signals: Signals | None = None) -> None:
        self.store = store
        self.signals = signals or Signals()

    @classmethod
    @contextmanager
    def open(cls, database_url: str, *, migrate: bool = True) -> Iterator[TaskService]:
        """Open the store at ``database_url`` (migrated unless told not to) for the ``with`` block."""
        store = open_store(database_url)
        try:
            if migrate:
                store.migrate()
            yield cls(store)
        finally:
            store.close()

    def create(self, project_id: int, task_type: str, params: Mapping[str, Any] | None = None) -> Task:
        return self.create_many([(project_id, task_type, params)])[0]

    def create_many(self, specs: Sequence[tuple[int, str, Mapping[str, Any] | None]]) -> list[Task]:
        """Create tasks in one transaction: all of them, or (on any bad spec) none."""
        if not 1 <= len(specs) <= MAX_BATCH:
            raise InvalidInput("tasks", f"must hold between 1 and {MAX_BATCH} tasks, got {len(specs)}")
        news = [
            NewTask(
                check_id("project_id", project_id),
                check_task_type(task_type),
                check_params({} if params is None else params),
            )
            for project_id, task_type, params in specs
        ]
        tasks = self.store.task_create_many(news)
        for task in tasks:
            self.signals.publish(TaskSignal("created", task.id, task_type=task.task_type))
        return tasks

    def get(self, task_id: int) -> Task:
        task = self.store.task_get(check_id("id", task_id))
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def list(
        self,
        *,
        project_id: int | None = None,
        status: str | None = None,
        task_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        after: Cursor | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
    ) -> list[ListedTask]:
        """Tasks newest first (``created_at`` desc, then ``id`` desc); ``after`` continues a page."""
        query = TaskQuery(
            project_id=None if project_id is None else check_id("project_id", project_id),
            status=None if status is None else check_status(status),
            task_type=None if task_type is None else check_task_type(task_type),
            created_after=check_time("created_after", created_after),
            created_before=check_time("created_before", created_before),
            after=after,
            limit=check_limit(limit),
        )
        return self.store.task_list(query)

    def cancel(self, task_id: int) -> None:
        """Cancel a pending or running task; the write is final and the holding worker is told."""
        cancelled = self.store.task_cancel(check_id("id", task_id))
        if cancelled is None:
            task = self.store.task_get(task_id)
            if task is None:
                raise TaskNotFound(task_id)
            raise TaskNotCancellable(task_id, task.status)
        self.signals.publish(TaskSignal("cancelled", task_id, worker_id=cancelled.worker_id))


def next_cursor(page: Sequence[ListedTask], limit: int) -> Cursor | None:
    """Where the next page starts, or ``None`` when this page was the last."""
    if len(page) < limit or not page:
        return None
    last = page[-1]
    return Cursor(created_at=last.created_at, id=last.id)
