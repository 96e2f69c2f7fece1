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


MAX_PARAMS_DEPTH = 64
"""How deep a task's params may nest, in objects and arrays (the params object is the first level):
far beyond what a task needs, and shallow enough that nothing that reads them back (a client's JSON
parser, a store's JSON functions) recurses into its own limit."""
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
"""The integers params may hold: what fits in 64 bits, which every JSON reader of them keeps exact."""


@dataclass(frozen=True, slots=True)
class ParamsProblem:
    """Why params cannot be stored and answered back, and where: ``kind`` names the rule for the API's
    validation errors, ``str()`` is the message every door gives."""

    kind: str
    rule: str
    path: tuple[object, ...]
    found: str

    @property
    def where(self) -> str:
        """``params.a.0.b``: the first steps of the path to the value (``…`` when it goes on)."""
        steps = ".".join(str(part) for part in ("params", *self.path[:4]))
        return steps + ("…" if len(self.path) > 4 else "")

    def __str__(self) -> str:
        return f"{self.rule}; {self.where} {self.found}"


def _is_unicode(text: str) -> bool:
    """Whether ``text`` is Unicode text UTF-8 can carry: not a lone UTF-16 surrogate, which JSON's
    ``\\ud800`` escape can spell but no store or answer can hold."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def params_problem(params: object) -> ParamsProblem | None:
    """What keeps params from being stored and answered back alike by every store and door (``None``
    when nothing does): nesting past ``MAX_PARAMS_DEPTH`` levels, integers beyond 64 bits, text with a
    lone surrogate. Walked with a stack: a deep value must not exhaust the interpreter's recursion."""
    stack: list[tuple[object, tuple[object, ...], int]] = [(params, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_PARAMS_DEPTH:
                rule = f"must not nest deeper than {MAX_PARAMS_DEPTH} levels of objects and arrays"
                return ParamsProblem("params_too_deep", rule, path, "goes deeper")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not _is_unicode(key):
                    found = "has a key with a lone surrogate"
                    return ParamsProblem("params_text", "must hold Unicode text", path, found)
                stack.append((item, (*path, key), depth + 1))
        elif isinstance(value, str) and not _is_unicode(value):
            return ParamsProblem("params_text", "must hold Unicode text", path, "has a lone surrogate")
        elif isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= UINT64_MAX:
            rule = f"must hold integers that fit in 64 bits ({INT64_MIN} to {UINT64_MAX})"
            return ParamsProblem("params_int_range", rule, path, f"needs {value.bit_length() + 1} bits")
    return None


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (every stored time is UTC)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewTask:
    """What a caller gives to create a task; ``params_json``, when set, is ``params`` as JSON text
    already (the service serialises once to validate, and the store reuses it)."""

    project_id: int
    task_type: TaskType
    params: dict[str, Any] = field(default_factory=dict)
    params_json: str | None = field(default=None, compare=False, repr=False)


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


class EventKind(enum.StrEnum):
    """What a timeline row records: a transition of the state machine, or a worker's observation."""

    CREATED = "created"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RELEASED = "released"  # handed back as pending without using up an attempt (worker shutdown)
    RESCUED = "rescued"  # its worker was lost; back to pending
    LOST = "lost"  # its worker was lost on the last attempt; failed
    KILLED = "killed"  # the handler's process was killed (cancel grace or timeout ran out)
    TIMED_OUT = "timed_out"


OBSERVATION_KINDS = frozenset({EventKind.KILLED, EventKind.TIMED_OUT})
"""Kinds a worker records with ``task_events_add``; every other kind is written by its transition."""


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One row of a task's timeline; ``id`` orders every event of every task (the change feed)."""

    id: int
    task_id: int
    at: datetime
    kind: EventKind
    attempt: int
    actor: str
    detail: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An observation to record (``OBSERVATION_KINDS``); the store stamps ``id`` and ``at``."""

    task_id: int
    kind: EventKind
    attempt: int
    actor: str
    detail: str = ""


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


@dataclass(frozen=True, slots=True)
class ListedTask:
    """The columns of a list row (the spec's list view), without the heavy JSON fields."""

    id: int
    project_id: int
    task_type: str
    status: TaskStatus
    progress: int
    total: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """What a metrics scrape reads, with indexed queries only: active tasks by ``(status, task_type)``,
    the oldest pending task's creation, and the rare events (rescued, lost, killed, timed_out) by kind
    over the kept history (pruning lowers them)."""

    active: dict[tuple[str, str], int]
    oldest_pending_created_at: datetime | None
    events: dict[str, int]


class TaskError(Exception):
    """Base of the errors the service raises for a caller's mistake (never for our own bugs)."""


class TaskNotFound(TaskError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


class TaskPruned(TaskNotFound):
    """The task existed and was deleted by retention; ``pruned_at`` says when."""

    def __init__(self, task_id: int, pruned_at: datetime, older_than_seconds: float) -> None:
        TaskError.__init__(
            self,
            f"Task {task_id} was pruned on {pruned_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')}"
            f" (retention {describe_duration(older_than_seconds)})",
        )
        self.task_id = task_id
        self.pruned_at = pruned_at
        self.older_than_seconds = older_than_seconds


def describe_duration(seconds: float) -> str:
    """``30 days``, ``12 hours``, ``90 seconds``: the largest unit that divides ``seconds`` evenly."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} second{'' if seconds == 1 else 's'}"


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


class IdempotencyConflict(InvalidInput):
    """An idempotency key seen within its day on a create that differs from the one it first came with
    (project, type or params): answering the first task would hide the second request, creating a task
    would break the key's promise. ``field`` is the header's name."""

    def __init__(self, key: str) -> None:
        super().__init__(
            IDEMPOTENCY_HEADER,
            f"the key {key[:60]!r} was used within the last 24 hours for a different create;"
            " use a new key for a new request",
        )
        self.key = key


IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL_SECONDS = 86_400
"""How long a create's idempotency key answers the task(s) it created; an older key is forgotten."""
MAX_IDEMPOTENCY_KEY = 200
_KEY_FORM = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")


def check_idempotency_key(value: object) -> str:
    """A key: 1 to 200 printable ASCII characters (a UUID, ``import-2025-03-12``...)."""
    if not isinstance(value, str) or _KEY_FORM.fullmatch(value) is None:
        shown = repr(value[:60]) if isinstance(value, str) else type(value).__name__
        raise InvalidInput(
            IDEMPOTENCY_HEADER,
            f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, got {shown}",
        )
    return value


class StoreUnavailable(Exception):
    """The database cannot be reached right now; callers may retry later."""


class StoreConflict(StoreUnavailable):
    """The database aborted this transaction to resolve a conflict with another (a deadlock, a
    serialization failure): nothing was written, and running the same call again is the remedy."""


class StoreFull(StoreUnavailable):
    """The database's disk is full: nothing was written; writes work again once space is freed."""


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


def check_id(name: str, value: object) -> int:
    """An id or project id: an integer in 1..2**63-1 (what both stores hold)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(name, f"must be an integer between 1 and {MAX_ID}")
    if not 1 <= value <= MAX_ID:
        raise InvalidInput(name, f"must be an integer between 1 and {MAX_ID}, got {value}")
    return value


def check_limit(value: object) -> int:
    """A page size: an integer in 1..MAX_LIST_LIMIT (tasks, papers and runs alike)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIST_LIMIT:
        raise InvalidInput("limit", f"must be an integer between 1 and {MAX_LIST_LIMIT}, got {value!r}")
    return value
