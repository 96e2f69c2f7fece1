"""PostgreSQL for tests: one migrated template database per session, cloned into a database per test.

Signatures (the contract with ``tests/integration/conftest.py``, whose ``store`` fixture calls them):

``make_postgres_store(tmp_path=None, **options) -> ContextManager[PostgresStore]``
    a migrated store on a fresh database of this test alone (``CREATE DATABASE ... TEMPLATE`` of the
    session's migrated template), closed and dropped (``WITH (FORCE)``) when the block ends;
    ``options`` go to ``PostgresStore`` (``min_size``, ``max_size``, ``timeout``).
``reopen_postgres_store(store, **options) -> PostgresStore``
    another store with its own pool on the same database, as a second process would have.
``empty_database() -> ContextManager[str]``
    the URL of a fresh database without any schema (migration tests), dropped afterwards.
``server_url() -> str``
    the server's URL; skips the test when it is unreachable, or fails it under ``CI=true``.

The server comes from ``TASKAPI_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
its user must be allowed to create databases. Cloning a template costs about 0.1 s, far less than
migrating every test's database, and isolates tests completely (a schema per test would share roles,
advisory locks and the ``pg_stat`` views). Databases are named after this process's pid, so that test
sessions running at once on one server never touch each other's.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from taskapi.papers import PAPERS_COMPONENT
from taskapi.store.postgres import PostgresStore
from tests.conftest import unavailable

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TEMPLATE = f"taskapi_template_{os.getpid()}"

_lock = threading.RLock()
_names = itertools.count(1)
_server: dict[str, str] = {}  # "ok" or "unreachable" (the reason), once checked
_template_ready = False


def admin_url() -> str:
    return os.environ.get("TASKAPI_TEST_POSTGRES_URL", DEFAULT_URL)


def database_url(name: str) -> str:
    """The server's URL with another database name (a ``postgresql://`` URL, as ``open_store`` wants)."""
    parts = urlsplit(admin_url())
    return urlunsplit(parts._replace(path=f"/{name}"))


def server_url() -> str:
    """The server's URL; skip (or, under ``CI=true``, fail) the test when it cannot be reached.

    Checked once per session: a missing server should cost one connection timeout, not one per test.
    """
    with _lock:
        if not _server:
            try:
                psycopg.connect(admin_url(), connect_timeout=3).close()
                _server["ok"] = admin_url()
            except psycopg.Error as exc:
                _server["unreachable"] = str(exc).strip() or type(exc).__name__
    if "unreachable" in _server:
        where = f"TASKAPI_TEST_POSTGRES_URL={admin_url()!r}"
        unavailable(f"PostgreSQL unreachable at {where}: {_server['unreachable']}")
    return admin_url()


def _admin(statement: sql.Composed) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE refuse to run inside one)."""
    with psycopg.connect(server_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


def create_database(name: str, template: str | None = None) -> str:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    _admin(statement)
    return database_url(name)


def drop_database(name: str) -> None:
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _ensure_template() -> None:
    """Create and migrate this session's template once (the task store and the papers library);
    dropped when the interpreter exits."""
    global _template_ready
    server_url()
    with _lock:
        if _template_ready:
            return
        drop_database(TEMPLATE)  # a leftover of a crashed session that had this pid
        store = PostgresStore(create_database(TEMPLATE), min_size=1, max_size=1)
        try:
            store.migrate([PAPERS_COMPONENT])  # the task store's tables and the papers library's
        finally:
            store.close()
        _template_ready = True
        atexit.register(_drop_template_quietly)


def _drop_template_quietly() -> None:
    try:
        with psycopg.connect(admin_url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
    except psycopg.Error:
        pass  # the server went away first: nothing left to clean here


def _fresh_name(kind: str) -> str:
    return f"taskapi_{kind}_{os.getpid()}_{next(_names)}"


@contextmanager
def cloned_database() -> Iterator[str]:
    """The URL of a migrated database of the caller alone, dropped when the block ends."""
    _ensure_template()
    name = _fresh_name("test")
    url = create_database(name, template=TEMPLATE)
    try:
        yield url
    finally:
        drop_database(name)


@contextmanager
def empty_database() -> Iterator[str]:
    """The URL of a database without any schema, dropped when the block ends."""
    server_url()
    name = _fresh_name("empty")
    url = create_database(name)
    try:
        yield url
    finally:
        drop_database(name)


@contextmanager
def make_postgres_store(tmp_path: Path | None = None, **options: Any) -> Iterator[PostgresStore]:
    """A migrated store on a database of this test alone; ``tmp_path`` is accepted for the fixture's
    contract and unused (the database is named by pid and a counter)."""
    del tmp_path
    with cloned_database() as url:
        store = PostgresStore(url, **options)
        try:
            yield store
        finally:
            store.close()


def reopen_postgres_store(store: PostgresStore, **options: Any) -> PostgresStore:
    """Another store (its own small pool) on ``store``'s database; the caller closes it."""
    return PostgresStore(store.url, **{"min_size": 1, "max_size": 2, **options})
