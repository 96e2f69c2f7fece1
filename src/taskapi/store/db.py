"""The database layer under every repository: one transaction or read, the same calls on both dialects.

The task store and the papers library share one database and one pool. A repository of its own tables
asks the store for a ``Tx`` (``store.transaction()`` for a write, ``store.reading()`` for reads) and runs
its own named SQL on it; rows come back as dicts on both dialects. SQL text stays per dialect (SQLite's
``:name`` parameters, psycopg's ``%(name)s``), loaded with ``load_queries(dialect, package)``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from taskapi.domain import StoreFull, StoreUnavailable

Params = Mapping[str, Any] | Sequence[Any]


class Tx(Protocol):
    """A connection inside one transaction (or in autocommit, for reads)."""

    dialect: str

    def fetch(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]: ...

    def fetch_one(self, sql: str, params: Params | None = None) -> dict[str, Any] | None: ...

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; answer its row count."""
        ...

    def execute_many(self, sql: str, rows: Iterable[Params]) -> None: ...


def sqlite_failure(exc: sqlite3.OperationalError, what: str = "SQLite") -> StoreUnavailable:
    """What a caller is told of an SQLite failure: ``StoreFull`` when the disk is full (SQLITE_FULL),
    else ``StoreUnavailable`` (locked, busy, I/O); both mean "retry later", the first says when."""
    if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
        return StoreFull(f"{what}: the disk is full: {exc}")
    return StoreUnavailable(f"{what}: {exc}")


class SQLiteTx:
    """A ``Tx`` on a ``sqlite3`` connection; SQLite errors other than constraint ones become
    ``StoreUnavailable`` (a locked or full database: the caller may retry)."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def fetch(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        try:
            cursor = self.conn.execute(sql, params or {})
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except sqlite3.OperationalError as exc:
            raise sqlite_failure(exc) from exc

    def fetch_one(self, sql: str, params: Params | None = None) -> dict[str, Any] | None:
        rows = self.fetch(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Params | None = None) -> int:
        try:
            return self.conn.execute(sql, params or {}).rowcount
        except sqlite3.OperationalError as exc:
            raise sqlite_failure(exc) from exc

    def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise sqlite_failure(exc) from exc


class PostgresTx:
    """A ``Tx`` on a pooled psycopg connection (the store maps connection failures to
    ``StoreUnavailable`` around the whole block)."""

    dialect = "postgres"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def fetch(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    def fetch_one(self, sql: str, params: Params | None = None) -> dict[str, Any] | None:
        rows = self.fetch(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Params | None = None) -> int:
        return self.conn.execute(sql, params).rowcount

    def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(sql, rows)
