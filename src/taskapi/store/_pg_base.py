"""The PostgreSQL store's connections: the pool, the circuit, and what a failure is called.

Every statement of the store runs on a connection from ``_connection`` (or ``_fetch_rows``, its form
for one statement on the connection's kept cursor), which is where psycopg's errors become the
domain's (``_domain_error``): connection failures and pool timeouts ``StoreUnavailable``, transient
transaction aborts (deadlock, serialization) its kind ``StoreConflict``, a full disk ``StoreFull``.
The mixins that hold the store's operations (``_pg_writes``, ``_pg_work``, ``_pg_reads``) subclass
``PgBase`` and so reach the pool by a plain method call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
import psycopg.errors
from psycopg import conninfo as pg_conninfo
from psycopg.rows import TupleRow, dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from taskapi.domain import StoreConflict, StoreFull, StoreUnavailable
from taskapi.store._circuit import Circuit
from taskapi.store._pg_rows import Row
from taskapi.store._queries import Component, load_queries, pending_migrations
from taskapi.store._runs import RunSql
from taskapi.store.db import PostgresTx
from taskapi.store.notify import PostgresNotifier

_TRANSIENT = psycopg.OperationalError  # also PoolTimeout, PoolClosed
# A transaction PostgreSQL aborted to let another go on (psycopg makes these siblings, not subclasses
# of TransactionRollback): ``StoreConflict``, which the worker retries without tripping the circuit.
_CONFLICTS = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.TransactionRollback,
)


def describe_url(url: str) -> str:
    """``host:port/dbname`` of a URL, without the password, for messages and logs."""
    try:
        parts = pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<invalid PostgreSQL URL>"
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


def fetch(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any] | None = None) -> list[Row]:
    """Run one statement on ``conn`` (inside a caller's transaction); answer its rows as dicts."""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


class PooledConnection(psycopg.Connection[TupleRow]):
    """The pool's connections: each keeps one cursor for the store's hottest statement (the single
    create), since a cursor made per call costs more client CPU than the statement's parameters."""

    _kept: psycopg.Cursor[TupleRow] | None = None

    def kept_cursor(self) -> psycopg.Cursor[TupleRow]:
        """This connection's kept cursor (tuple rows); the pool hands a connection to one caller at a
        time, so its cursor is never shared either."""
        cursor = self._kept
        if cursor is None or cursor.closed:
            cursor = self._kept = self.cursor()
        return cursor


class PgBase:
    """The pool and everything about a connection; ``PostgresStore`` documents the arguments."""

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
        self._runs = RunSql.from_queries(self._queries)
        self.notifier = PostgresNotifier(
            url,
            self.where,
            self._queries["postgres.listen"],
            self._queries["postgres.listen_changes"],
            timeout,
        )
        self._created_notes: dict[str, str] = {}  # a create's NOTIFY payload per task type (_pg_writes)
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in settings:  # a dead host must not hang a call for minutes
            kwargs["connect_timeout"] = max(1, round(timeout))
        self._connect_timeout = int(settings.get("connect_timeout") or kwargs["connect_timeout"])
        self._pool = ConnectionPool(
            url,
            connection_class=PooledConnection,
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

    @contextmanager
    def _connection(self) -> Iterator[PooledConnection]:
        """A pooled connection; a lost server or an exhausted pool becomes ``StoreUnavailable``.

        While the server is known to be down (the circuit is open: a connection broke or the pool
        timed out, and no probe has reached the server since) a call fails at once instead of
        waiting ``timeout`` for a connection that will not come. ``getconn``/``putconn`` rather than
        the pool's ``connection()``: its ``with conn`` only adds a commit that autocommit makes
        empty, and ``putconn`` already rolls back a connection left in a transaction."""
        self._circuit.check()
        used: PooledConnection | None = None
        try:
            used = self._pool.getconn()
            try:
                yield used
            finally:
                self._pool.putconn(used)
        except psycopg.Error as exc:
            if (mapped := self._domain_error(exc, used)) is None:
                raise
            raise mapped from exc

    def _fetch_rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """``_connection`` for one statement in autocommit, on the connection's kept cursor: its rows
        as tuples. The creates' path, without a context manager's frames."""
        self._circuit.check()
        used: PooledConnection | None = None
        try:
            used = self._pool.getconn()
            try:
                return used.kept_cursor().execute(sql, params).fetchall()
            finally:
                self._pool.putconn(used)
        except psycopg.Error as exc:
            if (mapped := self._domain_error(exc, used)) is None:
                raise
            raise mapped from exc

    def _domain_error(self, exc: psycopg.Error, used: PooledConnection | None) -> Exception | None:
        """The domain's error for a failed call on ``used`` (``None``: raise psycopg's own, e.g. a
        ``DataError`` the caller turns into ``ValueError``)."""
        if isinstance(exc, psycopg.errors.DiskFull):  # SQLSTATE 53100: the server is up, its disk is full
            return StoreFull(f"PostgreSQL at {self.where} is out of disk space: {exc}")
        if isinstance(exc, _CONFLICTS):  # the server is up and fine; the same call again may well succeed
            return StoreConflict(f"PostgreSQL at {self.where} aborted a transaction: {exc}")
        if isinstance(exc, _TRANSIENT):
            self._after_failure(exc, used)
            return StoreUnavailable(f"PostgreSQL at {self.where} is unavailable: {exc}")
        return None

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

    def _read(self, name: str, params: dict[str, Any] | None = None) -> list[Row]:
        with self._connection() as conn:
            return fetch(conn, self._queries[name], params)

    def _execute(self, name: str, params: dict[str, Any]) -> int:
        """Run one statement; answer its row count."""
        with self._connection() as conn:
            return conn.execute(self._queries[name], params).rowcount

    def close(self) -> None:
        self._circuit.close()
        self._pool.close()
        self.notifier.close()

    def ping(self) -> None:
        self._read("ping")

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
            done = {row["version"] for row in fetch(conn, self._queries["migrations_applied"])}
            for migration in pending_migrations(self.dialect, components, done):
                conn.execute(migration.sql, prepare=False)
                conn.execute(self._queries["migration_record"], {"version": migration.version})
                applied_now.append(migration.version)
        return applied_now
