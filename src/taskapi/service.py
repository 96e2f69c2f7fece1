"""The Python API: create, get, list and cancel tasks, read their timelines and the change feed, and
prune old ones, with the rules that every door shares.

The HTTP routes and the CLI are thin layers over ``TaskService``; a pipeline may also use it directly::

    with TaskService.open("sqlite:///taskapi.db") as tasks:
        task = tasks.create(project_id=1, task_type="search", params={"query": "graphene"})
        tasks.cancel(task.id)

Every write takes an ``actor`` (who asked: "api", "cli", "operate token 3f9a1c", ...), which signs the
events it writes in the task's timeline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from taskapi.domain import (
    CANCELLABLE_STATUSES,
    DEFAULT_LIST_LIMIT,
    Cursor,
    InvalidInput,
    ListedTask,
    NewTask,
    QueueCounts,
    Task,
    TaskEvent,
    TaskNotCancellable,
    TaskNotFound,
    TaskPruned,
    TaskQuery,
    TaskStatus,
    TaskType,
    check_id,
    check_idempotency_key,
    check_limit,
    json_has_nul,
    params_problem,
)
from taskapi.signals import Signals, TaskSignal
from taskapi.store import Store, open_store
from taskapi.store.base import DEFAULT_ACTOR, RunningProgress

MAX_BATCH = 10_000
MAX_CHANGES = 10_000
"""Most events (and most ids for ``get_many``) one call answers."""
CHANGE_SETTLE_SECONDS = 10.0
"""How long an event id may stay invisible below a visible one before the feed reads past it.

Ids are drawn when a row is written, visibility comes at commit: on PostgreSQL two transactions may
commit out of id order, so a missing id just below a young event may still appear. Past this age the
gap is permanent (a rolled-back statement, a pruned event); no transition stays open this long.
"""
_SETTLE = timedelta(seconds=CHANGE_SETTLE_SECONDS)
HEAD_WINDOW = 1_000
"""How many of the newest events ``latest_event_id`` reads to find where the settled log ends."""
# Aliases for annotations inside TaskService, where ``list`` names its method.
Events = list[TaskEvent]
Progresses = list[RunningProgress]
_PARAMS_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_TYPES = ", ".join(t.value for t in TaskType)
_TYPE_OF = {t.value: t for t in TaskType}
_STATUSES = ", ".join(s.value for s in TaskStatus)


def check_task_type(value: object, name: str = "task_type") -> TaskType:
    found = _TYPE_OF.get(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput(name, f"must be one of {_TYPES}, got {value!r}")
    return found


def check_status(value: object) -> TaskStatus:
    if isinstance(value, str) and value in TaskStatus.__members__.values():
        return TaskStatus(value)
    raise InvalidInput("status", f"must be one of {_STATUSES}, got {value!r}")


def check_params(value: object) -> dict[str, Any]:
    """Params are a JSON object that both stores keep as given and every door answers back: no NaN or
    infinities (not JSON), no NUL character (PostgreSQL's jsonb cannot hold one), and the domain's
    ``params_problem`` rule (depth, 64-bit integers, lone surrogates), which the HTTP routes apply
    with the same words, so that every door refuses the same params."""
    return _checked_params(value)[0]


def _checked_params(value: object) -> tuple[dict[str, Any], str]:
    """The params and their JSON text (serialised once: to check them, and for the store to write)."""
    if not isinstance(value, Mapping):
        raise InvalidInput("params", f"must be a JSON object, got {type(value).__name__}")
    params = dict(value)
    problem = params_problem(params)
    if problem is not None:
        raise InvalidInput("params", str(problem))
    try:
        text = _PARAMS_JSON.encode(params)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput("params", f"must be JSON-serialisable: {exc}") from None
    if "\\u0000" in text and json_has_nul(text):
        raise InvalidInput("params", "must not contain the NUL character (\\u0000)")
    return params, text


ParamsValidator = Callable[[dict[str, Any]], None]
"""Checks one task type's params at creation; raises ``InvalidInput`` naming the field
(``params.limit``). The handler that runs the type brings it, through the composition root."""


class CreateCall(NamedTuple):
    """One single create's arguments, as ``TaskService.create`` takes them (without a key)."""

    project_id: int
    task_type: str
    params: Mapping[str, Any] | None
    actor: str


def check_new_task(
    project_id: object,
    task_type: object,
    params: object,
    validators: Mapping[str, ParamsValidator] | None = None,
) -> NewTask:
    """One task to create, checked as the single create and every item of a batch are."""
    checked, text = _checked_params({} if params is None else params)
    new = NewTask(check_id("project_id", project_id), check_task_type(task_type), checked, text)
    validate = None if validators is None else validators.get(new.task_type)
    if validate is not None:
        validate(checked)
    return new


def fingerprint(kind: str, news: Sequence[NewTask]) -> str:
    """What an idempotency key's record compares to tell a retry from a different request: the door
    (one create or a batch) and each task's project, type and params (keys sorted: the same object
    written in another order is the same request)."""
    canonical = [kind, *([n.project_id, str(n.task_type), n.params] for n in news)]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200:
        raise InvalidInput("actor", "must be a non-empty string of at most 200 characters")
    return actor


def check_count(name: str, value: object, largest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= largest:
        raise InvalidInput(name, f"must be an integer between 1 and {largest}, got {value!r}")
    return value


def check_time(name: str, value: datetime | None) -> datetime | None:
    """A naive time is taken as UTC, as the API renders every time in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TaskService:
    """The task operations over a store; ``validators`` check each type's params at creation (none:
    params are taken as they are).

    The store announces its own creates and cancels after each commit (``store.notify``); callers
    hear them through ``subscribe`` and the log's growth through ``listen_changes``. ``signals`` is
    the store's in-process subscriber list (kept for code that subscribes there); a ``Signals``
    given here instead hears the same announcements.
    """

    def __init__(
        self,
        store: Store,
        signals: Signals | None = None,
        validators: Mapping[str, ParamsValidator] | None = None,
    ) -> None:
        self.store = store
        self.signals = store.notifier.local
        if signals is not None and signals is not self.signals:
            self.signals.subscribe(signals.publish)
            self.signals = signals
        self.validators: Mapping[str, ParamsValidator] = validators or {}

    @property
    def dialect(self) -> str:
        """The store's dialect, ``sqlite`` or ``postgres`` (what /readyz reports)."""
        return self.store.dialect

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the database cannot answer."""
        self.store.ping()

    def subscribe(
        self, on_signal: Callable[[TaskSignal], None], *, remote: bool = True
    ) -> Callable[[], None]:
        """Call ``on_signal`` (from the writing thread, or a listener's) for each create and cancel
        committed by this service's store and, with ``remote``, by every other process on the
        database; each once. Answer the function that stops. It must not block."""
        return self.store.notifier.subscribe(on_signal, remote=remote)

    def listen_changes(self, on_change: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_change`` soon after the event log grows (this process's writes on SQLite, every
        process's on PostgreSQL), and after a reconnect; answer the function that stops."""
        return self.store.notifier.listen_changes(on_change)

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

    def create(
        self,
        project_id: int,
        task_type: str,
        params: Mapping[str, Any] | None = None,
        *,
        actor: str = DEFAULT_ACTOR,
        idempotency_key: str | None = None,
    ) -> Task:
        """Create a pending task. With ``idempotency_key``, a create repeated with the key within 24
        hours answers the task the first one created, as it was created, and writes nothing (so a
        caller may retry a create whose answer it lost); the key with a different request raises
        ``IdempotencyConflict``."""
        new = check_new_task(project_id, task_type, params, self.validators)
        if idempotency_key is None:
            return self.store.task_create(new, check_actor(actor))
        key = check_idempotency_key(idempotency_key)
        [task] = self.store.task_create_keyed([new], check_actor(actor), key, fingerprint("one", [new]))
        return task

    def create_many(
        self,
        specs: Sequence[tuple[int, str, Mapping[str, Any] | None]],
        actor: str = DEFAULT_ACTOR,
        *,
        idempotency_key: str | None = None,
    ) -> list[Task]:
        """Create tasks in one transaction: all of them, or (on any bad spec) none. A bad spec is
        named by its index: ``tasks.3.params``. ``idempotency_key`` as for ``create`` (a key names
        one request: a batch's key used for a single create, or the reverse, is a conflict)."""
        key = None if idempotency_key is None else check_idempotency_key(idempotency_key)
        if not 1 <= len(specs) <= MAX_BATCH:
            raise InvalidInput("tasks", f"must hold between 1 and {MAX_BATCH} tasks, got {len(specs)}")
        news = []
        for index, (project_id, task_type, params) in enumerate(specs):
            try:
                news.append(check_new_task(project_id, task_type, params, self.validators))
            except InvalidInput as exc:
                raise InvalidInput(f"tasks.{index}.{exc.field}", exc.detail) from None
        if key is None:
            return self.store.task_create_many(news, check_actor(actor))
        return self.store.task_create_keyed(news, check_actor(actor), key, fingerprint("batch", news))

    def create_each(self, calls: Sequence[CreateCall]) -> list[Task | Exception]:
        """Several independent single creates in as few transactions as their actors allow (one an
        actor), each answered as ``create`` would answer it: the task, or the error it raises. A
        create that fails its checks gets its ``InvalidInput`` and the others go on; an error of a
        write (the store unavailable or full) is each of its creates' error. The group commit of
        creates that arrive together (``taskapi.api.grouping``)."""
        outcomes: dict[int, Task | Exception] = {}
        by_actor: dict[str, list[tuple[int, NewTask]]] = {}
        for index, (project_id, task_type, params, actor) in enumerate(calls):
            try:
                new = check_new_task(project_id, task_type, params, self.validators)
                by_actor.setdefault(check_actor(actor), []).append((index, new))
            except InvalidInput as exc:
                outcomes[index] = exc
        for actor, members in by_actor.items():
            written = self._create_together([new for _, new in members], actor)
            outcomes.update(zip((index for index, _ in members), written, strict=True))
        return [outcomes[index] for index in range(len(calls))]

    def _create_together(self, news: list[NewTask], actor: str) -> Sequence[Task | Exception]:
        try:
            return self.store.task_create_many(news, actor)
        except ValueError as exc:  # data only the store refuses, before its commit: each on its own
            return [exc] if len(news) == 1 else [self._create_alone(new, actor) for new in news]
        except Exception as exc:
            return [exc] * len(news)

    def _create_alone(self, new: NewTask, actor: str) -> Task | Exception:
        try:
            return self.store.task_create(new, actor)
        except Exception as exc:
            return exc

    def get(self, task_id: int) -> Task:
        task = self.store.task_get(check_id("id", task_id))
        if task is None:
            raise self._missing(task_id)
        return task

    def get_many(self, task_ids: Sequence[int]) -> list[Task]:
        """The tasks of these ids that exist (pruned or unknown ones are left out), by id."""
        if len(task_ids) > MAX_CHANGES:
            raise InvalidInput("ids", f"at most {MAX_CHANGES} ids at once, got {len(task_ids)}")
        return self.store.task_get_many([check_id("id", task_id) for task_id in task_ids])

    def _missing(self, task_id: int) -> TaskNotFound:
        """Not found, or pruned by retention (then the error says when)."""
        pruned = self.store.task_pruned(task_id)
        if pruned is None:
            return TaskNotFound(task_id)
        return TaskPruned(task_id, pruned.pruned_at, pruned.older_than_seconds)

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

    def cancel(self, task_id: int, actor: str = DEFAULT_ACTOR) -> None:
        """Cancel a pending or running task; the write is final and the holding worker is told."""
        cancelled = self.store.task_cancel(check_id("id", task_id), check_actor(actor))
        if cancelled is None:
            task = self.store.task_get(task_id)
            if task is None:
                raise self._missing(task_id)
            raise TaskNotCancellable(task_id, task.status)

    def cancel_many(
        self,
        project_id: int,
        *,
        status: str | None = None,
        task_type: str | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> int:
        """Cancel every pending or running task of a project (only those in ``status``, only of
        ``task_type``, when given) in one transaction; each holding worker is told. Answer how many."""
        statuses = sorted(CANCELLABLE_STATUSES)
        if status is not None:
            wanted = check_status(status)
            if wanted not in CANCELLABLE_STATUSES:
                raise InvalidInput("status", f"must be pending or running, got {status!r}")
            statuses = [wanted]
        cancelled = self.store.task_cancel_many(
            check_id("project_id", project_id),
            statuses,
            None if task_type is None else check_task_type(task_type),
            check_actor(actor),
        )
        return len(cancelled)

    def events(self, task_id: int) -> Events:
        """The task's timeline, oldest first; ``TaskNotFound`` (or ``TaskPruned``) if it is gone."""
        events = self.store.task_events(check_id("id", task_id))
        if not events and self.store.task_get(task_id) is None:
            raise self._missing(task_id)
        return events

    def changes(self, after_event_id: int, limit: int = 1000) -> Events:
        """The log of every task's events after ``after_event_id``, oldest first: the change feed.

        It stops before an id that is missing just below an event younger than
        ``CHANGE_SETTLE_SECONDS`` (that id may still commit), so a reader that continues from the last
        id it got never skips one; such a page may be short or empty while more exist. Start with
        ``latest_event_id()`` to read only what happens from now on.
        """
        if isinstance(after_event_id, bool) or not isinstance(after_event_id, int) or after_event_id < 0:
            raise InvalidInput("after_event_id", f"must be an integer of at least 0, got {after_event_id!r}")
        page = self.store.task_changes(after_event_id, check_count("limit", limit, MAX_CHANGES))
        return settled(page.events, after_event_id, page.now, _SETTLE)

    def latest_event_id(self) -> int:
        """Where a reader of ``changes`` starts to see only what happens from now on (0 for an empty
        log): the newest event id, held back below an id still missing under a young event, since
        that id may yet commit (PostgreSQL) and a reader starting above it would never see it."""
        head = self.store.task_events_head()
        floor = max(0, head - HEAD_WINDOW)
        page = self.store.task_changes(floor, HEAD_WINDOW)
        kept = settled(page.events, floor, page.now, _SETTLE)
        return kept[-1].id if kept else floor

    def running_progress(self) -> Progresses:
        """``(id, progress, total)`` of every running task: a cheap read for live progress."""
        return self.store.task_running_progress()

    def queue_stats(self) -> QueueCounts:
        """The store's figures for /metrics: active tasks by status and type, the oldest pending one,
        the rare events by kind. Indexed reads only: cheap at every scrape."""
        return self.store.task_queue_counts()

    def prune(self, older_than: timedelta) -> int:
        """Delete the tasks (and their timelines) that finished more than ``older_than`` ago; answer
        how many. A pruned id then answers ``TaskPruned`` (404 saying when), never another task."""
        seconds = older_than.total_seconds()
        if seconds <= 0:
            raise InvalidInput("older_than", f"must be positive, got {older_than}")
        return self.store.task_prune(seconds)


def settled(events: Sequence[TaskEvent], after_id: int, now: datetime, settle: timedelta) -> list[TaskEvent]:
    """The events up to the first gap in ids that may still fill (see ``TaskService.changes``)."""
    kept: list[TaskEvent] = []
    expected = after_id + 1
    for event in events:
        if event.id != expected and now - event.at < settle:
            break
        kept.append(event)
        expected = event.id + 1
    return kept


def next_cursor(page: Sequence[ListedTask], limit: int) -> Cursor | None:
    """Where the next page starts, or ``None`` when this page was the last."""
    if len(page) < limit or not page:
        return None
    last = page[-1]
    return Cursor(created_at=last.created_at, id=last.id)
