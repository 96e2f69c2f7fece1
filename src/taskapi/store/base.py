"""The store interface: what the service and the workers need from a database, and nothing more.

Two implementations stand behind it (SQLite, PostgreSQL). Every method that changes a task's status
is one conditional UPDATE whose row count (or RETURNING rows) says whether this caller won the race;
writes from a worker are fenced by ``(id, attempt)`` so a worker that lost its lease writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from taskapi.domain import (
    OBSERVATION_KINDS,
    NewEvent,
    NewTask,
    Task,
    TaskEvent,
    TaskQuery,
    TaskStatus,
    TaskType,
)

# The view records moved to the domain (the API and the CLI use them); re-exported for old imports.
from taskapi.domain import ListedTask as ListedTask
from taskapi.domain import QueueCounts as QueueCounts
from taskapi.run_records import NewRun, PipelineRun, RunStatus
from taskapi.signals import TaskSignal
from taskapi.store._queries import Component
from taskapi.store.db import Tx

if TYPE_CHECKING:
    from taskapi.store.notify import Notifier


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


@dataclass(frozen=True, slots=True)
class PruneRecord:
    """When retention deleted a range of ids, and under which age limit."""

    pruned_at: datetime
    older_than_seconds: float


@dataclass(frozen=True, slots=True)
class ChangePage:
    """Events after a position of the log, oldest first, and the database's clock when they were read
    (events whose ids are not contiguous may still be committing: see ``TaskService.changes``)."""

    events: list[TaskEvent]
    now: datetime


@dataclass(frozen=True, slots=True)
class RunCancel:
    """What a run cancel found: the run's status before it (``running`` when this call cancelled it) and
    the step task it cancelled (tell the worker holding it)."""

    status_before: RunStatus
    cancelled: list[CancelledTask]


RunningProgress = tuple[int, int, int]
"""``(task id, progress, total)`` of a running task."""

DEFAULT_ACTOR = "api"
PRUNE_BATCH = 1000


def check_observations(events: Sequence[NewEvent]) -> None:
    """Transitions write their own events; only a worker's observations may be added."""
    for event in events:
        if event.kind not in OBSERVATION_KINDS:
            allowed = ", ".join(sorted(OBSERVATION_KINDS))
            raise ValueError(f"{event.kind!s} is written by its transition; only {allowed} may be added")


def prune_in_batches(prune_batch: Callable[[], int], limit: int) -> int:
    """Run ``prune_batch`` (one batch of at most ``limit``, its own transaction, so locks stay short)
    until a batch comes up short; answer how many were pruned in all."""
    total = 0
    while True:
        count = prune_batch()
        total += count
        if count < limit:
            return total


def params_text(new: NewTask) -> str:
    """The params as the compact JSON text a store writes."""
    if new.params_json is not None:
        return new.params_json
    return json.dumps(new.params, separators=(",", ":"))


def created_task(task_id: int, created_at: datetime, new: NewTask) -> Task:
    """The task a create just wrote, from its input and what the database added (id, time)."""
    return Task(
        id=task_id,
        project_id=new.project_id,
        task_type=str(new.task_type),
        status=TaskStatus.PENDING,
        progress=0,
        total=0,
        params=new.params,
        result=None,
        error_message="",
        created_at=created_at,
        started_at=None,
        completed_at=None,
    )


def created_signals(created: Sequence[Task]) -> list[TaskSignal]:
    """What a create announces: one signal per task type (a worker needs only to know that work of
    its type is waiting), naming the first task of that type."""
    first: dict[str, int] = {}
    for task in created:
        first.setdefault(task.task_type, task.id)
    return [TaskSignal("created", task_id, task_type=task_type) for task_type, task_id in first.items()]


def cancel_signals(cancelled: Sequence[CancelledTask]) -> list[TaskSignal]:
    """What a cancel announces: every task it cancelled, naming the worker that held it (``None``
    for a pending task: nobody to stop, but a listener may still want to know)."""
    return [TaskSignal("cancelled", task.id, worker_id=task.worker_id) for task in cancelled]


def stored_time(value: Any) -> datetime | None:
    """A stored time: UTC text (SQLite) or an aware datetime (PostgreSQL), as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def rescued_of(rows: Iterable[Any]) -> list[RescuedTask]:
    """A rescue's rows (dicts or ``sqlite3.Row``: ``id``, ``status``, ``attempt``), in id order."""
    return sorted(
        (RescuedTask(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in rows),
        key=lambda rescued: rescued.id,
    )


def states_of(rows: Iterable[Any]) -> list[TaskState]:
    """``task_status_many``'s rows (dicts or ``sqlite3.Row``) as records."""
    return [TaskState(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in rows]


def id_runs(ids: Sequence[int]) -> str:
    """Ids as runs of consecutive ids, ``"5-9,12-12"``: a pruned batch's record (the ids retention
    deleted are mostly consecutive, so a batch of thousands is a few runs)."""
    runs: list[list[int]] = []
    for task_id in sorted(ids):
        if runs and runs[-1][1] + 1 == task_id:
            runs[-1][1] = task_id
        else:
            runs.append([task_id, task_id])
    return ",".join(f"{first}-{last}" for first, last in runs)


def in_runs(task_id: int, runs: str) -> bool:
    """Whether ``task_id`` is in a record of ``id_runs``."""
    for run in runs.split(","):
        first, _, last = run.partition("-")
        if int(first) <= task_id <= int(last):
            return True
    return False


class Store(Protocol):
    """A task store. Methods are thread-safe; each runs in its own short transaction (pruning in
    several, one per batch)."""

    dialect: str

    @property
    def notifier(self) -> Notifier:
        """Where the store publishes its creates and cancels after each commit (``store.notify``)."""
        ...

    def migrate(self, components: Sequence[Component] = ()) -> list[str]:
        """Apply the migrations not yet applied (the task store's, then each component's); answer the
        versions applied now."""
        ...

    def transaction(self) -> AbstractContextManager[Tx]:
        """One write transaction for a repository that shares this database (committed at the end of
        the block, rolled back on an exception)."""
        ...

    def reading(self) -> AbstractContextManager[Tx]:
        """A connection for reads (autocommit: each statement sees the latest committed state)."""
        ...

    def close(self) -> None: ...

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the database cannot answer."""
        ...

    def task_create(self, new: NewTask, actor: str = DEFAULT_ACTOR) -> Task: ...

    def task_create_many(self, news: Sequence[NewTask], actor: str = DEFAULT_ACTOR) -> list[Task]:
        """Create all in one transaction, each with its ``created`` event: all of them or none."""
        ...

    def task_create_keyed(
        self, news: Sequence[NewTask], actor: str, key: str, fingerprint: str
    ) -> list[Task]:
        """``task_create_many`` under an idempotency key, in the same transaction as the key's record:
        a key younger than ``IDEMPOTENCY_TTL_SECONDS`` answers the tasks it first created, as they
        were created (nothing written); recorded with another ``fingerprint`` (a different request) it
        raises ``IdempotencyConflict``; concurrent creates with one key create once."""
        ...

    def listen(self, on_signal: Callable[[TaskSignal], None]) -> Callable[[], None]:
        """Call ``on_signal`` (from another thread) for tasks created or cancelled by any process;
        answer the function that stops listening. A store that cannot notify never calls it."""
        ...

    def task_get(self, task_id: int) -> Task | None: ...

    def task_list(self, query: TaskQuery) -> list[ListedTask]: ...

    def task_get_many(self, task_ids: Sequence[int]) -> list[Task]:
        """The tasks of these ids that exist, by id."""
        ...

    def task_cancel(self, task_id: int, actor: str = DEFAULT_ACTOR) -> CancelledTask | None:
        """Cancel if pending or running; ``None`` when this call did not cancel it."""
        ...

    def task_cancel_many(
        self,
        project_id: int,
        statuses: Sequence[TaskStatus],
        task_type: TaskType | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> list[CancelledTask]:
        """Cancel every task of the project in one of ``statuses`` (pending and/or running), of
        ``task_type`` if given, in one statement; answer those this call cancelled."""
        ...

    def task_events(self, task_id: int) -> list[TaskEvent]:
        """The task's timeline, oldest first (empty for an unknown or pruned task)."""
        ...

    def task_events_add(self, events: Sequence[NewEvent]) -> int:
        """Record observations (``OBSERVATION_KINDS`` only) of tasks that exist; answer how many."""
        ...

    def task_changes(self, after_id: int, limit: int) -> ChangePage:
        """Up to ``limit`` events with ids above ``after_id``, by id, and the database's clock."""
        ...

    def task_events_head(self) -> int:
        """The id of the newest event (0 when there is none): where a new reader of changes starts."""
        ...

    def task_running_progress(self) -> list[RunningProgress]:
        """Progress of every running task (they are few: bounded by the workers' slots)."""
        ...

    def listen_changes(self, on_change: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_change`` (from another thread) soon after the event log grows, and whenever
        changes may have been missed (a reconnect); answer the function that stops listening."""
        ...

    def task_queue_counts(self) -> QueueCounts:
        """The figures of a metrics scrape (see ``QueueCounts``)."""
        ...

    def task_prune(self, older_than_seconds: float, limit: int = PRUNE_BATCH) -> int:
        """Delete finished tasks (and their events) that finished more than ``older_than_seconds``
        ago, ``limit`` per transaction, each batch recorded for ``task_pruned``; answer how many."""
        ...

    def task_pruned(self, task_id: int) -> PruneRecord | None:
        """The pruning that deleted ``task_id``, if one did (ids are never reused)."""
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

    def task_release(self, task_id: int, attempt: int, reason: str = "worker shutdown") -> bool:
        """Hand a running attempt back as pending without using up an attempt (graceful shutdown);
        ``reason`` is the detail of its ``released`` event."""
        ...

    def lease_renew(self, worker_id: str, held: Sequence[tuple[int, int]], lease_seconds: float) -> int:
        """Extend the leases of the attempts ``held`` (task id, attempt) that this worker still runs;
        answer how many. A row of this worker whose attempt it does not hold (it lost track of it) is
        left to expire and be rescued, rather than kept running for ever by a worker that does not
        run it."""
        ...

    def task_rescue(self, actor: str = "rescuer") -> list[RescuedTask]:
        """Recover running tasks whose lease expired (their worker is gone); ``actor`` (the rescuing
        process, "rescuer <worker_id>") signs their ``rescued`` or ``lost`` events."""
        ...

    def task_states(self, task_ids: Sequence[int]) -> list[TaskState]: ...

    def run_create(self, new: NewRun, actor: str = DEFAULT_ACTOR) -> PipelineRun:
        """Start a run: the run and its first step's task (with its ``created`` event), one transaction.
        Each next step is created by ``task_finish`` in the transaction that completes the one before."""
        ...

    def run_get(self, run_id: int) -> PipelineRun | None: ...

    def run_list(self, project_id: int | None, limit: int) -> list[PipelineRun]:
        """The newest ``limit`` runs, of ``project_id`` when given, newest first."""
        ...

    def run_cancel(self, run_id: int, actor: str = DEFAULT_ACTOR) -> RunCancel | None:
        """Mark a running run cancelled and cancel its step in flight, one transaction (no later step is
        ever created); ``None`` when there is no such run."""
        ...
