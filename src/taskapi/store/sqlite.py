"""The embedded store: one SQLite file in WAL mode, one connection per thread.

Writes open ``BEGIN IMMEDIATE`` so that two writers queue on SQLite's busy timeout instead of failing
with a lock upgrade error; reads run in autocommit and see the latest committed state. A transition
writes its ``task_events`` rows in its own write transaction; one writer at a time means event ids are
in commit order.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from taskapi.domain import (
    IDEMPOTENCY_TTL_SECONDS,
    EventKind,
    IdempotencyConflict,
    ListedTask,
    NewEvent,
    NewTask,
    QueueCounts,
    StoreUnavailable,
    Task,
    TaskEvent,
    TaskQuery,
    TaskStatus,
    TaskType,
    utcnow,
)
from taskapi.signals import TaskSignal
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
    id_runs,
    in_runs,
    params_text,
    prune_in_batches,
)
from taskapi.store.db import SQLiteTx, Tx, sqlite_failure
from taskapi.store.notify import SQLiteNotifier

BUSY_TIMEOUT_MS = 10_000
log = logging.getLogger("taskapi.store")
_LIST_FILTERS = LIST_FILTERS
_STATUS_OF = {str(status): status for status in TaskStatus}


def format_time(moment: datetime) -> str:
    """UTC text of fixed width, so that text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _row_to_task(row: sqlite3.Row) -> Task:
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


def _row_to_event(row: sqlite3.Row) -> TaskEvent:
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


def _cancelled(rows: list[sqlite3.Row]) -> list[CancelledTask]:
    return sorted(
        (CancelledTask(id=row["id"], worker_id=row["worker_id"], attempt=row["attempt"]) for row in rows),
        key=lambda cancelled: cancelled.id,
    )


class SQLiteStore:
    """A ``Store`` on one SQLite database file (a file, not memory: workers in other processes share it)."""

    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._queries = load_queries(self.dialect)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self.notifier = SQLiteNotifier(Path(self.path))
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

    # -- connections ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            conn = self._open()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            _enter_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; SQLite errors surface as ``StoreUnavailable``."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite database is busy or unavailable: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:  # a failed COMMIT may have rolled back already (SQLITE_FULL)
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise sqlite_failure(exc, f"SQLite database {self.path!r}") from exc
            raise

    def _read(self, name: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
        try:
            return self._connection().execute(self._queries[name], params or {}).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from exc

    def close(self) -> None:
        self._closed = True
        self.notifier.close()
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def ping(self) -> None:
        try:
            self._connection().execute(self._queries["ping"]).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite database {self.path!r} is unavailable: {exc}") from exc

    # -- migrations -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[SQLiteTx]:
        """A write transaction for a repository's own statements (``BEGIN IMMEDIATE``: the one writer)."""
        with self._write() as conn:
            yield SQLiteTx(conn)

    @contextmanager
    def reading(self) -> Iterator[SQLiteTx]:
        """This thread's connection in autocommit: each statement sees the latest committed state."""
        yield SQLiteTx(self._connection())

    def migrate(self, components: Sequence[Component] = ()) -> list[str]:
        """The task store's migrations, then each component's, in one transaction."""
        applied_now: list[str] = []
        with self._write() as conn:
            conn.execute(self._queries["migrations_create_table"])
            done = {row["version"] for row in conn.execute(self._queries["migrations_applied"])}
            for migration in pending_migrations(self.dialect, components, done):
                for statement in _split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    self._queries["migration_record"],
                    {"version": migration.version, "now": format_time(utcnow())},
                )
                applied_now.append(migration.version)
        return applied_now

    # -- the service's operations -----------------------------------------------------------

    def task_create(self, new: NewTask, actor: str = DEFAULT_ACTOR) -> Task:
        return self.task_create_many([new], actor)[0]

    def task_create_many(self, news: Sequence[NewTask], actor: str = DEFAULT_ACTOR) -> list[Task]:
        """One write transaction: every row, then one INSERT ... SELECT of their ``created`` events.
        The only writer gives the batch the ids right above the largest id ever given."""
        if not news:
            return []
        moment = utcnow()
        now = format_time(moment)
        rows = [
            {"project_id": n.project_id, "task_type": str(n.task_type), "params": params_text(n), "now": now}
            for n in news
        ]
        with self._write() as conn:
            seen = int(conn.execute(self._queries["sqlite.task_id_seen"]).fetchone()["seen"])
            conn.executemany(self._queries["task_insert"], rows)
            conn.execute(self._queries["sqlite.task_created_logged"], {"seen": seen, "actor": actor})
        created = [created_task(seen + offset, moment, new) for offset, new in enumerate(news, start=1)]
        self.notifier.changed()
        self.notifier.announce(created_signals(created))
        return created

    def task_create_keyed(
        self, news: Sequence[NewTask], actor: str, key: str, fingerprint: str
    ) -> list[Task]:
        """``task_create_many`` under an idempotency key, in one write transaction (the only writer, so
        a concurrent create with the key waits and then reads this one's record): a key younger than a
        day answers the tasks it first created, as they were created; with another ``fingerprint`` it
        raises ``IdempotencyConflict``; a new or expired key creates and records them."""
        moment = utcnow()
        now = format_time(moment)
        expires_at = format_time(moment + timedelta(seconds=IDEMPOTENCY_TTL_SECONDS))
        rows = [
            {"project_id": n.project_id, "task_type": str(n.task_type), "params": params_text(n), "now": now}
            for n in news
        ]
        with self._write() as conn:
            held = conn.execute(self._queries["idempotency_get"], {"key": key}).fetchone()
            if held is not None and held["expires_at"] > now:
                if held["fingerprint"] != fingerprint:
                    raise IdempotencyConflict(key)
                created_at = parse_time(held["created_at"])
                assert created_at is not None
                ids = json.loads(held["task_ids"])
                return [created_task(i, created_at, n) for i, n in zip(ids, news, strict=True)]
            seen = int(conn.execute(self._queries["sqlite.task_id_seen"]).fetchone()["seen"])
            conn.executemany(self._queries["task_insert"], rows)
            conn.execute(self._queries["sqlite.task_created_logged"], {"seen": seen, "actor": actor})
            ids = list(range(seen + 1, seen + 1 + len(news)))
            record = {
                "key": key,
                "fingerprint": fingerprint,
                "task_ids": json.dumps(ids),
                "now": now,
                "expires_at": expires_at,
            }
            conn.execute(self._queries["sqlite.idempotency_put"], record)
        created = [created_task(task_id, moment, new) for task_id, new in zip(ids, news, strict=True)]
        self.notifier.changed()
        self.notifier.announce(created_signals(created))
        return created

    def listen(self, on_signal: Callable[[TaskSignal], None]) -> Callable[[], None]:
        """``notifier.subscribe``: this store's creates and cancels, and other processes' on this
        file (host signals: Unix datagrams); answer the function that stops. A shortcut only: workers
        still poll."""
        return self.notifier.subscribe(on_signal)

    def _announce_cancels(self, cancelled: Sequence[CancelledTask]) -> None:
        """Tell the workers (here and in other processes) to stop the cancelled tasks that were running."""
        self.notifier.announce(cancel_signals(cancelled))

    def listen_changes(self, on_change: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_change`` after each commit of this store object that grew the event log (the API
        and an embedded worker share one). Other processes' writes are found by polling."""
        return self.notifier.listen_changes(on_change)

    def _changed(self) -> None:
        self.notifier.changed()

    def task_get(self, task_id: int) -> Task | None:
        rows = self._read("task_get", {"id": task_id})
        return _row_to_task(rows[0]) if rows else None

    def task_list(self, query: TaskQuery) -> list[ListedTask]:
        """The hottest read (every dashboard and client poll), so built lean: tuple rows in the query's
        column order, a dict for the status, one ``fromisoformat`` per time (about a third of the cost
        of ``sqlite3.Row`` rows read by name)."""
        sql, params = self.task_list_sql(query)
        try:
            cursor = self._connection().cursor()
            cursor.row_factory = None
            rows: list[tuple[Any, ...]] = cursor.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from exc
        status, stamp = _STATUS_OF.__getitem__, datetime.fromisoformat
        return [
            ListedTask(task_id, project, kind, status(state), progress, total, stamp(created + "+00:00"))
            for task_id, project, kind, state, progress, total, created in rows
        ]

    def task_list_sql(self, query: TaskQuery) -> tuple[str, dict[str, Any]]:
        """The list query for these filters (public so the query-plan test can EXPLAIN it)."""
        return compose_task_list(self._queries, query, format_time)

    def task_get_many(self, task_ids: Sequence[int]) -> list[Task]:
        rows = self._read("task_get_many", {"ids": json.dumps(list(task_ids))})
        return [_row_to_task(row) for row in rows]

    def task_cancel(self, task_id: int, actor: str = DEFAULT_ACTOR) -> CancelledTask | None:
        params = {"id": task_id, "now": format_time(utcnow()), "actor": actor}
        with self._write() as conn:
            rows = self._cancel_one(conn, params)
            self._end_runs_of(conn, rows, params)
        if not rows:
            return None
        self._changed()
        cancelled = _cancelled(rows)
        self._announce_cancels(cancelled)
        return cancelled[0]

    def task_cancel_many(
        self,
        project_id: int,
        statuses: Sequence[TaskStatus],
        task_type: TaskType | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> list[CancelledTask]:
        params = {
            "project_id": project_id,
            "statuses": json.dumps([str(status) for status in statuses]),
            "task_type": None if task_type is None else str(task_type),
            "now": format_time(utcnow()),
            "actor": actor,
        }
        with self._write() as conn:
            conn.execute(self._queries["sqlite.task_cancel_many_logged"], params)
            rows = conn.execute(self._queries["task_cancel_many"], params).fetchall()
            self._end_runs_of(conn, rows, params)
        if rows:
            self._changed()
        cancelled = _cancelled(rows)
        self._announce_cancels(cancelled)
        return cancelled

    def _cancel_one(self, conn: sqlite3.Connection, params: dict[str, Any]) -> list[sqlite3.Row]:
        """Cancel one task in the open write transaction (its event first, while its status is readable)."""
        conn.execute(self._queries["sqlite.task_cancel_logged"], params)
        return conn.execute(self._queries["task_cancel"], params).fetchall()

    def _end_runs_of(
        self, conn: sqlite3.Connection, rows: Sequence[sqlite3.Row], params: dict[str, Any]
    ) -> None:
        """End the runs whose step in flight these tasks were (cancelled, or lost for good by a rescue)."""
        if rows:
            ids = json.dumps([row["id"] for row in rows])
            conn.execute(self._queries["sqlite.run_ended_with_tasks"], {**params, "ids": ids})

    def task_events(self, task_id: int) -> list[TaskEvent]:
        return [_row_to_event(row) for row in self._read("task_events", {"id": task_id})]

    def task_events_add(self, events: Sequence[NewEvent]) -> int:
        if not events:
            return 0
        check_observations(events)
        now = format_time(utcnow())
        rows = [
            {
                "task_id": event.task_id,
                "kind": str(event.kind),
                "attempt": event.attempt,
                "actor": event.actor,
                "detail": event.detail,
                "now": now,
            }
            for event in events
        ]
        with self._write() as conn:
            written = conn.executemany(self._queries["task_events_add"], rows).rowcount
        if written:
            self._changed()
        return written

    def task_changes(self, after_id: int, limit: int) -> ChangePage:
        now = utcnow()  # before reading: an event read is never later than this clock says
        rows = self._read("task_changes", {"after_id": after_id, "limit": limit})
        return ChangePage([_row_to_event(row) for row in rows], now)

    def task_events_head(self) -> int:
        return int(self._read("task_events_head")[0]["head"])

    def task_running_progress(self) -> list[RunningProgress]:
        rows = self._read("task_running_progress")
        return sorted((row["id"], row["progress"], row["total"]) for row in rows)

    def task_queue_counts(self) -> QueueCounts:
        rows = self._read("task_active_counts")
        active = {(row["status"], row["task_type"]): row["count"] for row in rows}
        oldest = self._read("task_oldest_pending")[0]["oldest"]
        events = {row["kind"]: row["count"] for row in self._read("task_rare_event_counts")}
        return QueueCounts(active, parse_time(oldest), events)

    def task_prune(self, older_than_seconds: float, limit: int = PRUNE_BATCH) -> int:
        """Retention's pass: finished tasks past the age limit, and idempotency keys past their day."""
        with self._write() as conn:
            conn.execute(self._queries["idempotency_forget"], {"now": format_time(utcnow())})
        return prune_in_batches(lambda: self._prune_batch(older_than_seconds, limit), limit)

    def _prune_batch(self, older_than_seconds: float, limit: int) -> int:
        moment = utcnow()
        cutoff = format_time(moment - timedelta(seconds=older_than_seconds))
        with self._write() as conn:
            rows = conn.execute(self._queries["task_prune"], {"cutoff": cutoff, "limit": limit}).fetchall()
            ids = [row["id"] for row in rows]
            if not ids:
                return 0
            doomed = {"ids": json.dumps(ids)}
            conn.execute(self._queries["sqlite.task_prune_events"], doomed)
            conn.execute(self._queries["sqlite.task_prune_tasks"], doomed)
            record = {
                "now": format_time(moment),
                "older_than_seconds": older_than_seconds,
                "min_task_id": min(ids),
                "max_task_id": max(ids),
                "count": len(ids),
                "ranges": id_runs(ids),
            }
            conn.execute(self._queries["sqlite.task_prune_record"], record)
        return len(ids)

    def task_pruned(self, task_id: int) -> PruneRecord | None:
        for row in self._read("task_pruned", {"id": task_id}):  # the few batches whose span holds it
            if in_runs(task_id, row["ranges"]):
                pruned_at = datetime.fromisoformat(row["pruned_at"]).replace(tzinfo=UTC)
                return PruneRecord(pruned_at, row["older_than_seconds"])
        return None

    def task_claim(self, claim: Claim) -> list[Task]:
        now = utcnow()
        params = {
            "worker_id": claim.worker_id,
            "task_types": json.dumps(list(claim.task_types)),
            "limit": claim.limit,
            "now": format_time(now),
            "lease_expires_at": format_time(now + timedelta(seconds=claim.lease_seconds)),
            "max_attempts": json.dumps(dict(claim.max_attempts)),
        }
        with self._write() as conn:
            rows = conn.execute(self._queries["task_claim"], params).fetchall()
            if rows:
                ids = json.dumps(sorted(row["id"] for row in rows))
                conn.execute(self._queries["sqlite.task_claimed_logged"], {"ids": ids})
        if rows:
            self._changed()
        return sorted((_row_to_task(row) for row in rows), key=lambda task: task.id)

    def task_set_progress(self, writes: Sequence[ProgressWrite], lease_seconds: float) -> list[int]:
        lease = format_time(utcnow() + timedelta(seconds=lease_seconds))
        lost: list[int] = []
        with self._write() as conn:
            for write in writes:
                cursor = conn.execute(
                    self._queries["task_set_progress"],
                    {
                        "id": write.id,
                        "attempt": write.attempt,
                        "progress": write.progress,
                        "total": write.total,
                        "lease_expires_at": lease,
                    },
                )
                if cursor.rowcount == 0:
                    lost.append(write.id)
        return lost

    def task_finish(self, completions: Sequence[Completion]) -> list[int]:
        now = format_time(utcnow())
        won: list[int] = []
        with self._write() as conn:
            for done in completions:
                params: dict[str, Any] = {
                    "id": done.id,
                    "attempt": done.attempt,
                    "progress": done.progress,
                    "total": done.total,
                    "now": now,
                }
                if done.succeeded:
                    params["result"] = json.dumps(done.result, separators=(",", ":"))
                    cursor = conn.execute(self._queries["task_complete"], params)
                else:
                    params["error_message"] = done.error_message
                    cursor = conn.execute(self._queries["task_fail"], params)
                if cursor.rowcount == 1:
                    won.append(done.id)
            created: list[CreatedStep] = []
            if won:
                ids = json.dumps(sorted(won))
                conn.execute(self._queries["sqlite.task_finished_logged"], {"ids": ids})
                created = self._chain(conn, ids, now)
        if won:
            self._changed()
        self._announce_created(created)
        return won

    def _chain(self, conn: sqlite3.Connection, ids: str, now: str) -> list[CreatedStep]:
        """In task_finish's transaction: the next step of each run whose step in flight just ended."""
        rows = conn.execute(self._queries["sqlite.run_of_finished"], {"ids": ids}).fetchall()
        if not rows:  # the common case: tasks outside any run (one probe of a tiny index)
            return []
        ended = [FinishedStep(row["run_id"], row["task_id"], row["status"] == "completed") for row in rows]
        return finish_steps(SQLiteTx(conn), self._runs, ended, now)

    def _announce_created(self, created: Sequence[CreatedStep]) -> None:
        """Wake idle workers for step tasks a commit created (as creates do)."""
        signals = [TaskSignal("created", step.task_id, task_type=step.task_type) for step in created]
        self.notifier.announce(signals)

    def task_release(self, task_id: int, attempt: int, reason: str = "worker shutdown") -> bool:
        params = {"id": task_id, "attempt": attempt, "reason": reason, "now": format_time(utcnow())}
        with self._write() as conn:
            conn.execute(self._queries["sqlite.task_release_logged"], params)
            released = conn.execute(self._queries["task_release"], params).rowcount == 1
        if released:
            self._changed()
        return released

    def lease_renew(self, worker_id: str, held: Sequence[tuple[int, int]], lease_seconds: float) -> int:
        if not held:
            return 0
        lease = format_time(utcnow() + timedelta(seconds=lease_seconds))
        params = {"worker_id": worker_id, "held": json.dumps(list(held)), "lease_expires_at": lease}
        with self._write() as conn:
            cursor = conn.execute(self._queries["lease_renew"], params)
        return cursor.rowcount

    def task_rescue(self, actor: str = "rescuer") -> list[RescuedTask]:
        params = {"now": format_time(utcnow()), "actor": actor}
        with self._write() as conn:
            conn.execute(self._queries["sqlite.task_rescue_logged"], params)
            rows = conn.execute(self._queries["task_rescue"], params).fetchall()
            self._end_runs_of(conn, [row for row in rows if row["status"] == "failed"], params)
        if rows:
            self._changed()
        return sorted(
            (RescuedTask(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in rows),
            key=lambda rescued: rescued.id,
        )

    def task_states(self, task_ids: Sequence[int]) -> list[TaskState]:
        rows = self._read("task_status_many", {"ids": json.dumps(list(task_ids))})
        return [TaskState(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in rows]

    # -- pipeline runs ----------------------------------------------------------------------------

    def run_create(self, new: NewRun, actor: str = DEFAULT_ACTOR) -> PipelineRun:
        with self._write() as conn:
            run, first = create_run(SQLiteTx(conn), self._runs, new, actor, format_time(utcnow()))
        self._changed()
        self._announce_created([first])
        return run

    def run_get(self, run_id: int) -> PipelineRun | None:
        return read_run(SQLiteTx(self._connection()), self._runs, run_id)

    def run_list(self, project_id: int | None, limit: int) -> list[PipelineRun]:
        return list_runs(SQLiteTx(self._connection()), self._runs, project_id, limit)

    def run_cancel(self, run_id: int, actor: str = DEFAULT_ACTOR) -> RunCancel | None:
        now = format_time(utcnow())
        with self._write() as conn:

            def cancel(_tx: Tx, task_id: int) -> list[CancelledTask]:
                return _cancelled(self._cancel_one(conn, {"id": task_id, "now": now, "actor": actor}))

            outcome = cancel_run(SQLiteTx(conn), self._runs, run_id, actor, now, cancel)
        if outcome is not None and outcome.cancelled:
            self._changed()
            self._announce_cancels(outcome.cancelled)
        return outcome

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "anything new?" for pollers."""
        row = self._connection().execute(self._queries["data_version"]).fetchone()
        return int(row[0])


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch a new file to WAL. The switch ignores the busy timeout, so when several processes open
    a fresh file at once it may find the file locked: retry until one of them has switched it."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # back off while another connection holds the lock


def _split_statements(sql: str) -> list[str]:
    """Split a migration into complete statements (SQLite's own tokenizer decides where one ends)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not _only_comments(buffer):
        raise ValueError(f"incomplete statement at the end of a migration: {buffer.strip()[:80]!r}")
    return statements


def _only_comments(part: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in part.splitlines())
