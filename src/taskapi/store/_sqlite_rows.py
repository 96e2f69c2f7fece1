"""SQLite rows as domain records, and the time text both ways.

SQLite has no time type: times are stored as UTC text of fixed width (``format_time``), so that text
order is time order and the indexes on them serve range filters; JSON columns are text too.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from taskapi.domain import EventKind, Task, TaskEvent, TaskStatus
from taskapi.store.base import CancelledTask

STATUS_OF = {str(status): status for status in TaskStatus}
"""Status text to member by a dict lookup: cheaper than ``TaskStatus(text)`` on the list's hot path."""


def format_time(moment: datetime) -> str:
    """UTC text of fixed width, so that text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def row_to_task(row: sqlite3.Row) -> Task:
    created_at = parse_time(row["created_at"])
    assert created_at is not None
    return Task(
        id=row["id"],
        project_id=row["project_id"],
        task_type=row["task_type"],
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        total=row["total"],
        params=json.loads(row["params"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        error_message=row["error_message"],
        created_at=created_at,
        started_at=parse_time(row["started_at"]),
        completed_at=parse_time(row["completed_at"]),
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        worker_id=row["worker_id"],
        lease_expires_at=parse_time(row["lease_expires_at"]),
    )


def row_to_event(row: sqlite3.Row) -> TaskEvent:
    at = parse_time(row["at"])
    assert at is not None
    return TaskEvent(
        id=row["id"],
        task_id=row["task_id"],
        at=at,
        kind=EventKind(row["kind"]),
        attempt=row["attempt"],
        actor=row["actor"],
        detail=row["detail"],
    )


def cancelled_of(rows: list[sqlite3.Row]) -> list[CancelledTask]:
    return sorted(
        (CancelledTask(id=row["id"], worker_id=row["worker_id"], attempt=row["attempt"]) for row in rows),
        key=lambda cancelled: cancelled.id,
    )
