"""The task model shared by every layer: states, types, records and domain errors.

This module imports nothing of ours, so the store, the worker, the API and the CLI can all depend on
it without depending on each other (an import-linter contract keeps it so).
"""

from __future__ import annotations

import base64
import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_ID = 2**63 - 1
"""Largest id either store can hold (a signed 64-bit integer)."""

MAX_LIST_LIMIT = 1000
DEFAULT_LIST_LIMIT = 50


class TaskStatus(enum.StrEnum):
    """The spec's five states; ``completed``, ``failed`` and ``cancelled`` are final."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
CANCELLABLE_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})


class TaskType(enum.StrEnum):
    """The six task types of the literature-research pipeline."""

    SEARCH = "search"
    DEDUP = "dedup"
    CRAWL = "crawl"
    OCR = "ocr"
    INDEX = "index"
    KEYWORD_EXPAND = "keyword_expand"


_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_has_nul(text: str) -> bool:
    """Whether JSON text encodes a NUL character, which PostgreSQL's jsonb cannot store."""
    return _ESCAPED_NUL.search(text) is not None


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (every stored time is UTC)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewTask:
    """What a caller gives to create a task."""

    project_id: int
    task_type: TaskType
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    """One row of the queue, as every layer sees it."""

    id: int
    project_id: int
    task_type: str
    status: TaskStatus
    progress: int
    total: int
    params: dict[str, Any]
    result: dict[str, Any] | None
    error_message: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    attempt: int = 0
    max_attempts: int = 3
    worker_id: str | None = None
    lease_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """A keyset position: the list continues with tasks strictly older than ``(created_at, id)``."""

    created_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Filters and paging of a task list; ``None`` means "any"."""

    project_id: int | None = None
    status: TaskStatus | None = None
    task_type: TaskType | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    after: Cursor | None = None
    limit: int = DEFAULT_LIST_LIMIT


class TaskError(Exception):
    """Base of the errors the service raises for a caller's mistake (never for our own bugs)."""


class TaskNotFound(TaskError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


class TaskNotCancellable(TaskError):
    def __init__(self, task_id: int, status: TaskStatus) -> None:
        super().__init__(
            f"Task {task_id} cannot be cancelled: it is already {status.value}"
            " (only pending or running tasks can be cancelled)"
        )
        self.task_id = task_id
        self.status = status


class InvalidInput(TaskError):
    """A value the caller gave is outside what the API accepts; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.detail = message


class StoreUnavailable(Exception):
    """The database cannot be reached right now; callers may retry later."""


def encode_cursor(cursor: Cursor) -> str:
    """An opaque, URL-safe token for a keyset position (full-precision time and id)."""
    raw = f"{cursor.created_at.astimezone(UTC).isoformat()}|{cursor.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The position a token from ``encode_cursor`` names; ``InvalidInput`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, _, task_id = raw.partition("|")
        cursor = Cursor(created_at=datetime.fromisoformat(moment), id=int(task_id))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor", "not a cursor this API issued (use the X-Next-Cursor header)") from exc
    if cursor.created_at.tzinfo is None or not 1 <= cursor.id <= MAX_ID:
        raise InvalidInput("cursor", "not a cursor this API issued (use the X-Next-Cursor header)")
    return cursor
