"""The SQLite store's connections: one per thread, write transactions, what a failure is called.

Writes open ``BEGIN IMMEDIATE`` so that two writers queue on SQLite's busy timeout instead of failing
with a lock upgrade error; reads run in autocommit and see the latest committed state. SQLite's
operational errors become ``StoreUnavailable`` (``StoreFull`` for a full disk). The mixins that hold
the store's operations (``_sqlite_writes``, ``_sqlite_work``, ``_sqlite_reads``) subclass
``SQLiteBase``, and so reach the connection by a plain method call; the notifications every write
sends after its commit live here too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskapi.domain import StoreUnavailable, utcnow
from taskapi.signals import TaskSignal
from taskapi.store._queries import Component, load_queries, pending_migrations
from taskapi.store._runs import CreatedStep, RunSql
from taskapi.store._sqlite_rows import format_time
from taskapi.store.base import CancelledTask, cancel_signals
from taskapi.store.db import SQLiteTx, sqlite_failure
from taskapi.store.notify import SQLiteNotifier

BUSY_TIMEOUT_MS = 10_000


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


def split_statements(sql: str) -> list[str]:
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


class SQLiteBase:
    """This thread's connection, write transactions, and the after-commit announcements."""

    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._queries = load_queries(self.dialect)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self.notifier = SQLiteNotifier(Path(self.path))
        self._runs = RunSql.from_queries(self._queries)

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

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "anything new?" for pollers."""
        row = self._connection().execute(self._queries["data_version"]).fetchone()
        return int(row[0])

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
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    self._queries["migration_record"],
                    {"version": migration.version, "now": format_time(utcnow())},
                )
                applied_now.append(migration.version)
        return applied_now

    # -- inside a write transaction, and after its commit -----------------------------------

    def _end_runs_of(
        self, conn: sqlite3.Connection, rows: Sequence[sqlite3.Row], params: dict[str, Any]
    ) -> None:
        """End the runs whose step in flight these tasks were (cancelled, or lost for good by a rescue)."""
        if rows:
            ids = json.dumps([row["id"] for row in rows])
            conn.execute(self._queries["sqlite.run_ended_with_tasks"], {**params, "ids": ids})

    def _changed(self) -> None:
        self.notifier.changed()

    def _announce_cancels(self, cancelled: Sequence[CancelledTask]) -> None:
        """Tell the workers (here and in other processes) to stop the cancelled tasks that were running."""
        self.notifier.announce(cancel_signals(cancelled))

    def _announce_created(self, created: Sequence[CreatedStep]) -> None:
        """Wake idle workers for step tasks a commit created (as creates do)."""
        signals = [TaskSignal("created", step.task_id, task_type=step.task_type) for step in created]
        self.notifier.announce(signals)
