"""The embedded store: one SQLite file in WAL mode, one connection per thread.

Writes open ``BEGIN IMMEDIATE`` so that two writers queue on SQLite's busy timeout instead of failing
with a lock upgrade error; reads run in autocommit and see the latest committed state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from taskapi.domain import NewTask, StoreUnavailable, Task, TaskQuery, TaskStatus, utcnow
from taskapi.signals import TaskSignal
from taskapi.store._queries import LIST_FILTERS, compose_task_list, load_migrations, load_queries
from taskapi.store.base import (
    CancelledTask,
    Claim,
    Completion,
    ListedTask,
    ProgressWrite,
    RescuedTask,
    TaskState,
)

BUSY_TIMEOUT_MS = 10_000
_LIST_FILTERS = LIST_FILTERS


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


def _row_to_listed(row: sqlite3.Row) -> ListedTask:
    created_at = parse_time(row["created_at"])
    assert created_at is not None
    return ListedTask(
        id=row["id"],
        project_id=row["project_id"],
        task_type=row["task_type"],
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        total=row["total"],
        created_at=created_at,
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
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _read(self, name: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
        try:
            return self._connection().execute(self._queries[name], params or {}).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from exc

    def close(self) -> None:
        self._closed = True
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

    def migrate(self) -> list[str]:
        applied_now: list[str] = []
        with self._write() as conn:
            conn.execute(self._queries["migrations_create_table"])
            done = {row["version"] for row in conn.execute(self._queries["migrations_applied"])}
            for migration in load_migrations(self.dialect):
                if migration.version in done:
                    continue
                for statement in _split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    self._queries["migration_record"],
                    {"version": migration.version, "now": format_time(utcnow())},
                )
                applied_now.append(migration.version)
        return applied_now

    # -- the service's operations -----------------------------------------------------------

    def task_create(self, new: NewTask) -> Task:
        return self.task_create_many([new])[0]

    def task_create_many(self, news: Sequence[NewTask]) -> list[Task]:
        now = format_time(utcnow())
        sql = self._queries["task_insert"]
        with self._write() as conn:
            rows = [
                conn.execute(
                    sql,
                    {
                        "project_id": new.project_id,
                        "task_type": str(new.task_type),
                        "params": json.dumps(new.params, separators=(",", ":")),
                        "now": now,
                    },
                ).fetchone()
                for new in news
            ]
        return [_row_to_task(row) for row in rows]

    def listen(self, on_signal: Callable[[TaskSignal], None]) -> Callable[[], None]:
        """SQLite cannot notify other processes: nothing to hear (workers poll); a no-op stopper."""
        return _no_op

    def task_get(self, task_id: int) -> Task | None:
        rows = self._read("task_get", {"id": task_id})
        return _row_to_task(rows[0]) if rows else None

    def task_list(self, query: TaskQuery) -> list[ListedTask]:
        sql, params = self.task_list_sql(query)
        try:
            rows = self._connection().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from exc
        return [_row_to_listed(row) for row in rows]

    def task_list_sql(self, query: TaskQuery) -> tuple[str, dict[str, Any]]:
        """The list query for these filters (public so the query-plan test can EXPLAIN it)."""
        return compose_task_list(self._queries, query, format_time)

    def task_cancel(self, task_id: int) -> CancelledTask | None:
        with self._write() as conn:
            row = conn.execute(
                self._queries["task_cancel"], {"id": task_id, "now": format_time(utcnow())}
            ).fetchone()
        if row is None:
            return None
        return CancelledTask(id=row["id"], worker_id=row["worker_id"], attempt=row["attempt"])

    # -- the workers' operations ------------------------------------------------------------

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
        return won

    def task_release(self, task_id: int, attempt: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(self._queries["task_release"], {"id": task_id, "attempt": attempt})
        return cursor.rowcount == 1

    def lease_renew(self, worker_id: str, lease_seconds: float) -> int:
        lease = format_time(utcnow() + timedelta(seconds=lease_seconds))
        with self._write() as conn:
            cursor = conn.execute(
                self._queries["lease_renew"], {"worker_id": worker_id, "lease_expires_at": lease}
            )
        return cursor.rowcount

    def task_rescue(self) -> list[RescuedTask]:
        with self._write() as conn:
            rows = conn.execute(self._queries["task_rescue"], {"now": format_time(utcnow())}).fetchall()
        return [RescuedTask(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in rows]

    def task_states(self, task_ids: Sequence[int]) -> list[TaskState]:
        rows = self._read("task_status_many", {"ids": json.dumps(list(task_ids))})
        return [TaskState(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in rows]

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


def _no_op() -> None:
    return None


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
