"""The scale-out store: one PostgreSQL database shared by every API replica and worker host.

Sync psycopg 3 over a ``psycopg_pool.ConnectionPool`` (the code base's one choice: workers call the
store from threads). Connections run in autocommit: nearly every method is a single statement (a
transition and its ``task_events`` rows are one statement of CTEs), so it is its own transaction and
costs one round trip; ``migrate``, ``task_finish`` and a large ``task_create_many`` (COPY) open an
explicit transaction. Times are the database's clock, never this host's, so hosts with skewed clocks
still agree.
Connection failures and pool timeouts surface as ``StoreUnavailable``; transient transaction aborts
(deadlock, serialization) as its kind ``StoreConflict``: a caller may simply retry either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.errors
from psycopg import conninfo as pg_conninfo
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from taskapi.domain import (
    IDEMPOTENCY_TTL_SECONDS,
    EventKind,
    IdempotencyConflict,
    ListedTask,
    NewEvent,
    NewTask,
    QueueCounts,
    StoreConflict,
    StoreFull,
    StoreUnavailable,
    Task,
    TaskEvent,
    TaskQuery,
    TaskStatus,
    TaskType,
)
from taskapi.signals import TaskSignal
from taskapi.store._circuit import Circuit
from taskapi.store._queries import (
    LIST_FILTERS,
    Component,
    compose_task_list,
    load_queries,
    pending_migrations,
)
from taskapi.store._runs import (
    CreatedStep,
    FinishedStep,
    RunSql,
    cancel_run,
    create_run,
    finish_steps,
    list_runs,
    read_run,
)
from taskapi.store.base import (
    DEFAULT_ACTOR,
    PRUNE_BATCH,
    CancelledTask,
    ChangePage,
    Claim,
    Completion,
    NewRun,
    PipelineRun,
    ProgressWrite,
    PruneRecord,
    RescuedTask,
    RunCancel,
    RunningProgress,
    TaskState,
    cancel_signals,
    check_observations,
    created_signals,
    created_task,
    in_runs,
    params_text,
    prune_in_batches,
)
from taskapi.store.db import PostgresTx, Tx
from taskapi.store.notify import PostgresNotifier

Row = dict[str, Any]
_LIST_FILTERS = LIST_FILTERS
_TRANSIENT = psycopg.OperationalError  # also PoolTimeout, PoolClosed
# A transaction PostgreSQL aborted to let another go on (psycopg makes these siblings, not subclasses
# of TransactionRollback): ``StoreConflict``, which the worker retries without tripping the circuit.
_CONFLICTS = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.TransactionRollback,
)
COPY_FROM = 300
"""Batches of at least this many tasks are written with COPY, smaller ones with one INSERT statement
(a single round trip). Measured here: the two cost the same at about 300 tasks; at 10,000 COPY took
214 ms and the INSERT 273 ms."""


log = logging.getLogger("taskapi.store")


def _utc(moment: datetime | None) -> datetime | None:
    """psycopg answers in the session's time zone; every layer above expects UTC."""
    return None if moment is None else moment.astimezone(UTC)


def _as_utc(moment: datetime | None) -> datetime | None:
    """A time for a parameter: naive is taken as UTC (as the SQLite store does when it formats)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _row_to_task(row: Row) -> Task:
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
        started_at=_utc(row["started_at"]),
        completed_at=_utc(row["completed_at"]),
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        worker_id=row["worker_id"],
        lease_expires_at=_utc(row["lease_expires_at"]),
    )


def _row_to_listed(row: Row) -> ListedTask:
    return ListedTask(
        id=row["id"],
        project_id=row["project_id"],
        task_type=row["task_type"],
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        total=row["total"],
        created_at=row["created_at"].astimezone(UTC),
    )


def _row_to_event(row: Row) -> TaskEvent:
    return TaskEvent(
        id=row["id"],
        task_id=row["task_id"],
        at=row["at"].astimezone(UTC),
        kind=EventKind(row["kind"]),
        attempt=row["attempt"],
        actor=row["actor"],
        detail=row["detail"],
    )


def _cancelled(rows: list[Row]) -> list[CancelledTask]:
    return [CancelledTask(id=row["id"], worker_id=row["worker_id"], attempt=row["attempt"]) for row in rows]


def _copy_field(text: str) -> str:
    """A value for COPY's text format. JSON from ``json.dumps`` holds no raw tab, newline or carriage
    return (they are escaped), so only the backslash needs doubling; other text is escaped fully."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def describe_url(url: str) -> str:
    """``host:port/dbname`` of a URL, without the password, for messages and logs."""
    try:
        parts = pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<invalid PostgreSQL URL>"
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


class PostgresStore:
    """A ``Store`` on a PostgreSQL database (15+), safe to share between threads.

    ``min_size``/``max_size`` bound the pool (an API replica wants about its thread count, a worker
    about its concurrency plus its duties); ``timeout`` is how long a call waits for a connection, and
    the constructor for the first one, before ``StoreUnavailable``.
    """

    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5.0) -> None:
        try:
            settings = pg_conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"invalid PostgreSQL URL: {exc}") from None
        self.url = url
        self.where = describe_url(url)
        self.min_size, self.max_size = min_size, max_size
        self.timeout = timeout
        self._queries = load_queries(self.dialect)
        self._runs = RunSql(
            insert=self._queries["run_insert"],
            step_insert=self._queries["run_step_insert"],
            step_logged=self._queries["run_step_logged"],
            step_linked=self._queries["run_step_linked"],
            set_task=self._queries["run_set_task"],
            advance=self._queries["run_advance"],
            fail=self._queries["run_fail"],
            get=self._queries["run_get"],
            list=self._queries["run_list"],
            state=self._queries["run_state"],
            lock_task=self._queries["run_lock_task"],
            mark_cancelled=self._queries["run_mark_cancelled"],
        )
        self.notifier = PostgresNotifier(
            url,
            self.where,
            self._queries["postgres.listen"],
            self._queries["postgres.listen_changes"],
            timeout,
        )
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in settings:  # a dead host must not hang a call for minutes
            kwargs["connect_timeout"] = max(1, round(timeout))
        self._connect_timeout = int(settings.get("connect_timeout") or kwargs["connect_timeout"])
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs=kwargs,
            configure=self._configure,
            open=False,
            name=f"taskapi {self.where}",
        )
        self._circuit = Circuit(self._probe, f"PostgreSQL at {self.where}")
        try:
            self._pool.open(wait=True, timeout=timeout)
        except psycopg.OperationalError as exc:
            self._pool.close()
            raise StoreUnavailable(f"PostgreSQL at {self.where} is unavailable: {self._why(exc)}") from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Each new pooled connection tags the NOTIFY payloads it sends with this store's origin."""
        conn.execute(self._queries["postgres.set_origin"], {"origin": self.notifier.origin})

    def _probe(self) -> None:
        """While the circuit is open: one direct connection (not through the pool, whose waiters
        would queue behind it); on success, drop the pool's dead connections before closing it."""
        psycopg.connect(self.url, connect_timeout=self._connect_timeout).close()
        self._drop_broken_connections()

    def _why(self, exc: Exception) -> str:
        """Why the first connection failed: a pool timeout hides the reason, so connect once directly."""
        try:
            psycopg.connect(self.url, connect_timeout=2).close()
        except psycopg.Error as direct:
            return str(direct).strip()
        return str(exc)

    # -- connections ------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; a lost server or an exhausted pool becomes ``StoreUnavailable``.

        While the server is known to be down (the circuit is open: a connection broke or the pool
        timed out, and no probe has reached the server since) a call fails at once instead of
        waiting ``timeout`` for a connection that will not come."""
        self._circuit.check()
        used: psycopg.Connection[Any] | None = None
        try:
            with self._pool.connection() as conn:
                used = conn
                yield conn
        except psycopg.errors.DiskFull as exc:  # SQLSTATE 53100: the server is up, its disk is full
            raise StoreFull(f"PostgreSQL at {self.where} is out of disk space: {exc}") from exc
        except _CONFLICTS as exc:  # the server is up and fine; the same call again may well succeed
            raise StoreConflict(f"PostgreSQL at {self.where} aborted a transaction: {exc}") from exc
        except _TRANSIENT as exc:
            self._after_failure(exc, used)
            raise StoreUnavailable(f"PostgreSQL at {self.where} is unavailable: {exc}") from exc

    def _after_failure(self, exc: psycopg.OperationalError, used: psycopg.Connection[Any] | None) -> None:
        """Open the circuit when the server is gone: the pool timed out waiting for a connection, or
        a connection broke and a direct one cannot be had either. A connection the server merely
        dropped (a restart, a terminated backend) costs this call only; a deadlock, nothing more."""
        if isinstance(exc, PoolTimeout):
            self._circuit.trip(str(exc).strip())
        elif used is not None and used.broken:
            try:
                self._probe()
            except psycopg.Error as down:
                self._circuit.trip(str(down).strip() or type(down).__name__)
        elif not isinstance(exc, PoolClosed):
            self._drop_broken_connections()

    def _drop_broken_connections(self) -> None:
        """After a server restart every idle connection is dead; test them now, so that only this
        call fails instead of one call per pooled connection."""
        with suppress(psycopg.Error):
            self._pool.check()

    def _fetch(self, name: str, params: dict[str, Any] | None = None) -> list[Row]:
        with self._connection() as conn:
            return _fetch(conn, self._queries[name], params)

    def _execute(self, name: str, params: dict[str, Any]) -> int:
        """Run one statement; answer its row count."""
        with self._connection() as conn:
            return conn.execute(self._queries[name], params).rowcount

    def close(self) -> None:
        self._circuit.close()
        self._pool.close()
        self.notifier.close()

    def ping(self) -> None:
        self._fetch("ping")

    # -- migrations -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[PostgresTx]:
        """One transaction on a pooled connection for a repository's own statements."""
        with self._connection() as conn, conn.transaction():
            yield PostgresTx(conn)

    @contextmanager
    def reading(self) -> Iterator[PostgresTx]:
        """A pooled connection in autocommit."""
        with self._connection() as conn:
            yield PostgresTx(conn)

    def migrate(self, components: Sequence[Component] = ()) -> list[str]:
        """One transaction under an advisory lock: concurrent migrators apply each version once; the
        task store's migrations first, then each component's."""
        applied_now: list[str] = []
        with self._connection() as conn, conn.transaction():
            conn.execute(self._queries["migrations_create_table"], prepare=False)
            done = {row["version"] for row in _fetch(conn, self._queries["migrations_applied"])}
            for migration in pending_migrations(self.dialect, components, done):
                conn.execute(migration.sql, prepare=False)
                conn.execute(self._queries["migration_record"], {"version": migration.version})
                applied_now.append(migration.version)
        return applied_now

    # -- the service's operations -----------------------------------------------------------

    def task_create(self, new: NewTask, actor: str = DEFAULT_ACTOR) -> Task:
        return self.task_create_many([new], actor)[0]

    def task_create_many(self, news: Sequence[NewTask], actor: str = DEFAULT_ACTOR) -> list[Task]:
        """One transaction, with a ``created`` event per task: one INSERT statement for a small batch,
        COPY for a large one. The tasks answered are built from the input (the database adds only
        ids and the time), so a large batch is not read back."""
        if not news:
            return []
        texts = [params_text(new) for new in news]
        try:
            if len(news) < COPY_FROM:
                stamped = self._insert(news, texts, actor)
            else:
                stamped = self._copy(news, texts, actor)
        except psycopg.DataError as exc:  # e.g. "\u0000" in a string: valid JSON, not valid jsonb
            raise ValueError(f"params cannot be stored in PostgreSQL: {exc}") from exc
        utc: dict[datetime, datetime] = {}  # a batch shares one time: convert it once
        created = [
            created_task(task_id, utc.get(at) or utc.setdefault(at, at.astimezone(UTC)), new)
            for (task_id, at), new in zip(stamped, news, strict=True)
        ]
        self.notifier.announce(created_signals(created))
        return created

    def _insert(self, news: Sequence[NewTask], texts: list[str], actor: str) -> list[tuple[int, datetime]]:
        if len(news) == 1:
            [new], [text] = news, texts
            one = {
                "project_id": new.project_id,
                "task_type": str(new.task_type),
                "params": text,
                "actor": actor,
            }
            with self._connection() as conn:  # tuple rows: the hottest call skips the dict rows
                row = conn.execute(self._queries["postgres.task_insert_one"], one).fetchone()
            assert row is not None  # an INSERT ... RETURNING of one row
            return [(row[0], row[1])]
        rows = self._fetch("task_insert", self._insert_params(news, texts, actor))
        return sorted((row["id"], row["created_at"]) for row in rows)  # ids follow the input's order

    @staticmethod
    def _insert_params(news: Sequence[NewTask], texts: list[str], actor: str) -> dict[str, Any]:
        """The parameters of ``task_insert``: the batch as arrays, in its order."""
        return {
            "project_ids": [new.project_id for new in news],
            "task_types": [str(new.task_type) for new in news],
            "params": texts,
            "actor": actor,
        }

    def _copy(self, news: Sequence[NewTask], texts: list[str], actor: str) -> list[tuple[int, datetime]]:
        """Three round trips whatever the size: the ids with their events and notifications, the
        COPY, the commit (binary rows: a thousand ids parse faster than as text)."""
        types = sorted({str(new.task_type) for new in news})
        params = {"count": len(news), "actor": actor, "task_types": types}
        with self._connection() as conn, conn.transaction():
            with conn.cursor(binary=True) as cursor:
                block = cursor.execute(self._queries["postgres.task_id_block"], params).fetchone()
            assert block is not None  # an aggregate answers one row
            ids: list[int] = block[0]
            now: datetime = block[1]
            stamp = now.isoformat()
            lines = "".join(
                f"{task_id}\t{new.project_id}\t{new.task_type}\t{_copy_field(text)}\t{stamp}\n"
                for task_id, new, text in zip(ids, news, texts, strict=True)
            )
            with conn.cursor() as cursor, cursor.copy(self._queries["postgres.task_copy"]) as copy:
                copy.write(lines)
        return [(task_id, now) for task_id in ids]

    def task_create_keyed(
        self, news: Sequence[NewTask], actor: str, key: str, fingerprint: str
    ) -> list[Task]:
        """One transaction: take the key (``postgres.idempotency_claim``), insert, record the ids. When
        the key is held by a fresh record (a concurrent holder is waited for by the primary key), its
        tasks are answered as they were created, or ``IdempotencyConflict`` for another request."""
        texts = [params_text(new) for new in news]
        claim = {"key": key, "fingerprint": fingerprint, "ttl_seconds": float(IDEMPOTENCY_TTL_SECONDS)}
        try:
            with self._connection() as conn, conn.transaction():
                if _fetch(conn, self._queries["postgres.idempotency_claim"], claim):
                    rows = _fetch(conn, self._queries["task_insert"], self._insert_params(news, texts, actor))
                    stamped = sorted((row["id"], row["created_at"]) for row in rows)
                    record = {
                        "key": key,
                        "task_ids": [i for i, _ in stamped],
                        "created_at": stamped[0][1],
                        "ttl_seconds": claim["ttl_seconds"],
                    }
                    conn.execute(self._queries["postgres.idempotency_set_tasks"], record)
                    held = None
                else:
                    [held] = _fetch(conn, self._queries["idempotency_get"], {"key": key})
        except psycopg.DataError as exc:  # e.g. "\u0000" in a string: valid JSON, not valid jsonb
            raise ValueError(f"params cannot be stored in PostgreSQL: {exc}") from exc
        if held is not None:
            if held["fingerprint"] != fingerprint:
                raise IdempotencyConflict(key)
            at = held["created_at"].astimezone(UTC)
            return [created_task(i, at, new) for i, new in zip(held["task_ids"], news, strict=True)]
        at = stamped[0][1].astimezone(UTC)
        created = [created_task(task_id, at, new) for (task_id, _), new in zip(stamped, news, strict=True)]
        self.notifier.announce(created_signals(created))
        return created

    def listen(self, on_signal: Callable[[TaskSignal], None]) -> Callable[[], None]:
        """``notifier.subscribe``: this store's creates and cancels (in-process, after the commit) and
        every other store's (NOTIFY); answer the function that stops. Returns once LISTEN is in place
        (or after ``timeout``: the listener keeps trying)."""
        return self.notifier.subscribe(on_signal)

    def listen_changes(self, on_change: Callable[[], None]) -> Callable[[], None]:
        """Hear every statement that grew the event log, from any process (NOTIFY 'taskapi_changes');
        also called on each (re)connect, since changes may have been missed while disconnected."""
        return self.notifier.listen_changes(on_change)

    def task_get(self, task_id: int) -> Task | None:
        rows = self._fetch("task_get", {"id": task_id})
        return _row_to_task(rows[0]) if rows else None

    def task_list(self, query: TaskQuery) -> list[ListedTask]:
        sql, params = self.task_list_sql(query)
        with self._connection() as conn:
            return [_row_to_listed(row) for row in _fetch(conn, sql, params)]

    def task_list_sql(self, query: TaskQuery) -> tuple[str, dict[str, Any]]:
        """The list query for these filters (public so the query-plan test can EXPLAIN it)."""
        return compose_task_list(self._queries, query, _as_utc)

    def task_get_many(self, task_ids: Sequence[int]) -> list[Task]:
        if not task_ids:
            return []
        return [_row_to_task(row) for row in self._fetch("task_get_many", {"ids": list(task_ids)})]

    def task_cancel(self, task_id: int, actor: str = DEFAULT_ACTOR) -> CancelledTask | None:
        cancelled = _cancelled(self._fetch("task_cancel", {"id": task_id, "actor": actor}))
        self.notifier.announce(cancel_signals(cancelled))
        return cancelled[0] if cancelled else None

    def task_cancel_many(
        self,
        project_id: int,
        statuses: Sequence[TaskStatus],
        task_type: TaskType | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> list[CancelledTask]:
        params = {
            "project_id": project_id,
            "statuses": [str(status) for status in statuses],
            "task_type": None if task_type is None else str(task_type),
            "actor": actor,
        }
        cancelled = _cancelled(self._fetch("task_cancel_many", params))
        self.notifier.announce(cancel_signals(cancelled))
        return cancelled

    def task_events(self, task_id: int) -> list[TaskEvent]:
        return [_row_to_event(row) for row in self._fetch("task_events", {"id": task_id})]

    def task_events_add(self, events: Sequence[NewEvent]) -> int:
        if not events:
            return 0
        check_observations(events)
        params = {
            "task_ids": [event.task_id for event in events],
            "kinds": [str(event.kind) for event in events],
            "attempts": [event.attempt for event in events],
            "actors": [event.actor for event in events],
            "details": [event.detail.replace("\x00", "\ufffd") for event in events],
        }
        return int(self._fetch("task_events_add", params)[0]["written"])

    def task_changes(self, after_id: int, limit: int) -> ChangePage:
        rows = self._fetch("task_changes", {"after_id": after_id, "limit": limit})
        if not rows:  # nothing to compare the clock with: any clock will do
            return ChangePage([], datetime.now(UTC))
        return ChangePage([_row_to_event(row) for row in rows], rows[-1]["now"].astimezone(UTC))

    def task_events_head(self) -> int:
        return int(self._fetch("task_events_head")[0]["head"])

    def task_running_progress(self) -> list[RunningProgress]:
        rows = self._fetch("task_running_progress")
        return sorted((row["id"], row["progress"], row["total"]) for row in rows)

    def task_queue_counts(self) -> QueueCounts:
        rows = self._fetch("task_active_counts")
        active = {(row["status"], row["task_type"]): row["count"] for row in rows}
        oldest = self._fetch("task_oldest_pending")[0]["oldest"]
        events = {row["kind"]: row["count"] for row in self._fetch("task_rare_event_counts")}
        return QueueCounts(active, _utc(oldest), events)

    def task_prune(self, older_than_seconds: float, limit: int = PRUNE_BATCH) -> int:
        """Retention's pass: finished tasks past the age limit, and idempotency keys past their day."""
        self._execute("idempotency_forget", {})
        params = {"older_than_seconds": older_than_seconds, "limit": limit}
        return prune_in_batches(lambda: int(self._fetch("task_prune", params)[0]["count"]), limit)

    def task_pruned(self, task_id: int) -> PruneRecord | None:
        for row in self._fetch("task_pruned", {"id": task_id}):  # the few batches whose span holds it
            if in_runs(task_id, row["ranges"]):
                return PruneRecord(row["pruned_at"].astimezone(UTC), row["older_than_seconds"])
        return None

    def task_claim(self, claim: Claim) -> list[Task]:
        params = {
            "worker_id": claim.worker_id,
            "task_types": list(claim.task_types),
            "limit": claim.limit,
            "lease_seconds": claim.lease_seconds,
            "max_attempts": json.dumps(dict(claim.max_attempts)),
        }
        rows = self._fetch("task_claim", params)
        return sorted((_row_to_task(row) for row in rows), key=lambda task: task.id)

    def task_set_progress(self, writes: Sequence[ProgressWrite], lease_seconds: float) -> list[int]:
        if not writes:
            return []
        # One row per (id, attempt), the last write winning, as writing them one by one would end.
        latest = list({(w.id, w.attempt): w for w in writes}.values())
        params = {
            "ids": [w.id for w in latest],
            "attempts": [w.attempt for w in latest],
            "progress": [w.progress for w in latest],
            "totals": [w.total for w in latest],
            "lease_seconds": lease_seconds,
        }
        written = {(row["id"], row["attempt"]) for row in self._fetch("task_set_progress", params)}
        return [w.id for w in writes if (w.id, w.attempt) not in written]

    def task_finish(self, completions: Sequence[Completion]) -> list[int]:
        if not completions:
            return []
        firsts: dict[tuple[int, int], Completion] = {}
        for done in completions:  # a second outcome of one attempt loses, as it would one by one
            firsts.setdefault((done.id, done.attempt), done)
        succeeded = [done for done in firsts.values() if done.succeeded]
        failed = [done for done in firsts.values() if not done.succeeded]
        rows: list[Row] = []
        steps: list[CreatedStep] = []
        with self._connection() as conn, conn.transaction():
            if succeeded and failed:  # lock all rows in id order first: see postgres.task_finish_lock
                keys = list(firsts)
                lock = {"ids": [k[0] for k in keys], "attempts": [k[1] for k in keys]}
                conn.execute(self._queries["postgres.task_finish_lock"], lock)
            if succeeded:
                results = [json.dumps(done.result, separators=(",", ":")) for done in succeeded]
                rows += _finish(conn, self._queries["task_complete"], succeeded, "results", results)
            if failed:
                # PostgreSQL text cannot hold NUL; an exception message may. Losing the whole batch
                # of outcomes over one character would be worse than replacing it.
                errors = [(done.error_message or "").replace("\x00", "\ufffd") for done in failed]
                rows += _finish(conn, self._queries["task_fail"], failed, "error_messages", errors)
            steps = self._chain(conn, [row["id"] for row in rows if row["in_run"]])
        self.notifier.announce([TaskSignal("created", s.task_id, task_type=s.task_type) for s in steps])
        won = {(row["id"], row["attempt"]) for row in rows}
        return [
            done.id
            for done in completions
            if firsts[(done.id, done.attempt)] is done and (done.id, done.attempt) in won
        ]

    def _chain(self, conn: psycopg.Connection[Any], ids: list[int]) -> list[CreatedStep]:
        """In task_finish's transaction: the next step of each run whose step in flight just ended
        (``ids``: the outcomes written whose task's params name a run; none for a task outside any
        run, which so never touches pipeline_runs). The next step's NOTIFY goes with the commit."""
        if not ids:
            return []
        rows = _fetch(conn, self._queries["postgres.run_of_finished"], {"ids": ids})
        ended = [FinishedStep(row["run_id"], row["task_id"], row["status"] == "completed") for row in rows]
        return finish_steps(PostgresTx(conn), self._runs, ended, None)

    def task_release(self, task_id: int, attempt: int, reason: str = "worker shutdown") -> bool:
        return len(self._fetch("task_release", {"id": task_id, "attempt": attempt, "reason": reason})) == 1

    def lease_renew(self, worker_id: str, held: Sequence[tuple[int, int]], lease_seconds: float) -> int:
        if not held:
            return 0
        params = {
            "ids": [task_id for task_id, _ in held],
            "attempts": [attempt for _, attempt in held],
            "worker_id": worker_id,
            "lease_seconds": lease_seconds,
        }
        return self._execute("lease_renew", params)

    def task_rescue(self, actor: str = "rescuer") -> list[RescuedTask]:
        rows = self._fetch("task_rescue", {"actor": actor})
        return sorted(
            (RescuedTask(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in rows),
            key=lambda rescued: rescued.id,
        )

    def task_states(self, task_ids: Sequence[int]) -> list[TaskState]:
        if not task_ids:
            return []
        rows = self._fetch("task_status_many", {"ids": list(task_ids)})
        return [TaskState(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in rows]

    # -- pipeline runs ----------------------------------------------------------------------------

    def run_create(self, new: NewRun, actor: str = DEFAULT_ACTOR) -> PipelineRun:
        """One transaction; the first step's NOTIFY is delivered with the commit."""
        try:
            with self._connection() as conn, conn.transaction():
                run, first = create_run(PostgresTx(conn), self._runs, new, actor, None)
        except psycopg.DataError as exc:  # e.g. "\u0000" in a string: valid JSON, not valid jsonb
            raise ValueError(f"params cannot be stored in PostgreSQL: {exc}") from exc
        self.notifier.announce([TaskSignal("created", first.task_id, task_type=first.task_type)])
        return run

    def run_get(self, run_id: int) -> PipelineRun | None:
        with self._connection() as conn:
            return read_run(PostgresTx(conn), self._runs, run_id)

    def run_list(self, project_id: int | None, limit: int) -> list[PipelineRun]:
        with self._connection() as conn:
            return list_runs(PostgresTx(conn), self._runs, project_id, limit)

    def run_cancel(self, run_id: int, actor: str = DEFAULT_ACTOR) -> RunCancel | None:
        """One transaction; the step's cancel NOTIFY (which stops its worker) goes with the commit."""

        def cancel(tx: Tx, task_id: int) -> list[CancelledTask]:
            return _cancelled(tx.fetch(self._queries["task_cancel"], {"id": task_id, "actor": actor}))

        with self._connection() as conn, conn.transaction():
            outcome = cancel_run(PostgresTx(conn), self._runs, run_id, actor, None, cancel)
        if outcome is not None:
            self.notifier.announce(cancel_signals(outcome.cancelled))
        return outcome


def _fetch(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any] | None = None) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


def _finish(
    conn: psycopg.Connection[Any], sql: str, batch: list[Completion], column: str, values: list[Any]
) -> list[Row]:
    """One UPDATE for a batch of outcomes of one kind; answer the rows it wrote: ``id``, ``attempt``
    and ``in_run`` (whether the task's params name a pipeline run)."""
    params = {
        "ids": [done.id for done in batch],
        "attempts": [done.attempt for done in batch],
        "progress": [done.progress for done in batch],
        "totals": [done.total for done in batch],
        column: values,
    }
    return _fetch(conn, sql, params)
