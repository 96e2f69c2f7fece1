"""The store interface: what the service and the workers need from a database, and nothing more.

Two implementations stand behind it (SQLite, PostgreSQL). Every method that changes a task's status
is one conditional UPDATE whose row count (or RETURNING rows) says whether this caller won the race;
writes from a worker are fenced by ``(id, attempt)`` so a worker that lost its lease writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from taskapi.domain import NewTask, Task, TaskQuery, TaskStatus
from taskapi.signals import TaskSignal


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
class CancelledTask:
    """A task this caller's cancel won; ``worker_id`` is set when it was running (tell that worker)."""

    id: int
    worker_id: str | None
    attempt: int


@dataclass(frozen=True, slots=True)
class Claim:
    """What a worker asks for when it claims: which types, how many, and its options per type."""

    worker_id: str
    task_types: Sequence[str]
    limit: int
    lease_seconds: float
    max_attempts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ProgressWrite:
    """A progress report of one attempt; ``total`` 0 means "unknown"."""

    id: int
    attempt: int
    progress: int
    total: int


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished attempt: ``result`` when it succeeded, else ``error_message``."""

    id: int
    attempt: int
    progress: int
    total: int
    result: dict[str, Any] | None = None
    error_message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error_message is None


@dataclass(frozen=True, slots=True)
class RescuedTask:
    """A running task whose lease had expired: now ``pending`` again, or ``failed`` when out of attempts."""

    id: int
    status: TaskStatus
    attempt: int


@dataclass(frozen=True, slots=True)
class TaskState:
    id: int
    status: TaskStatus
    attempt: int


class Store(Protocol):
    """A task store. Methods are thread-safe; each runs in its own short transaction."""

    dialect: str

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; answer the versions applied now."""
        ...

    def close(self) -> None: ...

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the database cannot answer."""
        ...

    def task_create(self, new: NewTask) -> Task: ...

    def task_create_many(self, news: Sequence[NewTask]) -> list[Task]:
        """Create all in one transaction: either every task exists afterwards or none does."""
        ...

    def listen(self, on_signal: Callable[[TaskSignal], None]) -> Callable[[], None]:
        """Call ``on_signal`` (from another thread) for tasks created or cancelled by any process;
        answer the function that stops listening. A store that cannot notify never calls it."""
        ...

    def task_get(self, task_id: int) -> Task | None: ...

    def task_list(self, query: TaskQuery) -> list[ListedTask]: ...

    def task_cancel(self, task_id: int) -> CancelledTask | None:
        """Cancel if pending or running; ``None`` when this call did not cancel it."""
        ...

    def task_claim(self, claim: Claim) -> list[Task]:
        """Move up to ``claim.limit`` pending tasks to running for this worker, oldest first."""
        ...

    def task_set_progress(self, writes: Sequence[ProgressWrite], lease_seconds: float) -> list[int]:
        """Record progress and extend those leases (progress is a liveness signal too); answer the
        ids whose attempt is no longer running (cancelled or rescued: the handler must stop)."""
        ...

    def task_finish(self, completions: Sequence[Completion]) -> list[int]:
        """Persist outcomes; answer the ids whose write won (the others were cancelled or rescued)."""
        ...

    def task_release(self, task_id: int, attempt: int) -> bool:
        """Hand a running attempt back as pending without using up an attempt (graceful shutdown)."""
        ...

    def lease_renew(self, worker_id: str, lease_seconds: float) -> int:
        """Extend the lease of every task this worker runs; answer how many."""
        ...

    def task_rescue(self) -> list[RescuedTask]:
        """Recover running tasks whose lease expired (their worker is gone)."""
        ...

    def task_states(self, task_ids: Sequence[int]) -> list[TaskState]: ...
