"""PostgreSQL rows as domain records: the one place that knows psycopg's row and time shapes.

psycopg answers ``timestamptz`` in the session's time zone and ``jsonb`` already decoded; every layer
above the store expects aware UTC datetimes, so each conversion happens here, once per value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskapi.domain import EventKind, ListedTask, Task, TaskEvent, TaskStatus
from taskapi.store.base import CancelledTask

Row = dict[str, Any]


def utc(moment: datetime | None) -> datetime | None:
    """psycopg answers in the session's time zone; every layer above expects UTC."""
    return None if moment is None else moment.astimezone(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """A time for a parameter: naive is taken as UTC (as the SQLite store does when it formats)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def row_to_task(row: Row) -> Task:
    return Task(
        id=row["id"],
        project_id=row["project_id"],
        task_type=row["task_type"],
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        total=row["total"],
        params=row["params"],
        result=row["result"],
        error_message=row["error_message"],
        created_at=row["created_at"].astimezone(UTC),
        started_at=utc(row["started_at"]),
        completed_at=utc(row["completed_at"]),
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        worker_id=row["worker_id"],
        lease_expires_at=utc(row["lease_expires_at"]),
    )


def row_to_listed(row: Row) -> ListedTask:
    return ListedTask(
        id=row["id"],
        project_id=row["project_id"],
        task_type=row["task_type"],
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        total=row["total"],
        created_at=row["created_at"].astimezone(UTC),
    )


def row_to_event(row: Row) -> TaskEvent:
    return TaskEvent(
        id=row["id"],
        task_id=row["task_id"],
        at=row["at"].astimezone(UTC),
        kind=EventKind(row["kind"]),
        attempt=row["attempt"],
        actor=row["actor"],
        detail=row["detail"],
    )


def cancelled_of(rows: list[Row]) -> list[CancelledTask]:
    return [CancelledTask(id=row["id"], worker_id=row["worker_id"], attempt=row["attempt"]) for row in rows]
