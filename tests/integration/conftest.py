"""The ``store`` fixture: one fresh, migrated store per test, for every dialect the suite runs on.

The conformance suite (``test_store_conformance.py``) only talks to the ``Store`` protocol, so one set
of tests asserts identical behaviour of every implementation. To add a dialect, extend
``store_dialects()`` and the two factory functions below; nothing in the tests changes.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from taskapi.store.base import Store
from taskapi.store.sqlite import SQLiteStore

_PG_HELPER = "tests.integration.pg"


def _pg_helper() -> Any | None:
    """``tests/integration/pg.py`` (written with the PostgreSQL store), or ``None`` while it is absent."""
    if importlib.util.find_spec(_PG_HELPER) is None:
        return None
    return importlib.import_module(_PG_HELPER)


def store_dialects() -> list[Any]:
    """The dialects of the ``store`` fixture: SQLite always; PostgreSQL as soon as its helper exists."""
    dialects: list[Any] = ["sqlite"]
    # --- PostgreSQL: picked up automatically once tests/integration/pg.py exists ---------------------
    if _pg_helper() is not None:
        dialects.append(pytest.param("postgres", marks=pytest.mark.postgres))
    return dialects


@contextmanager
def make_store(dialect: str, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store that belongs to one test; closed (and dropped) when the block ends."""
    if dialect == "sqlite":
        sqlite = SQLiteStore(tmp_path / "conformance.db")
        try:
            sqlite.migrate()
            yield sqlite
        finally:
            sqlite.close()
        return
    if dialect == "postgres":
        # --- PostgreSQL branch ---------------------------------------------------------------------
        # Contract with tests/integration/pg.py: ``make_postgres_store(tmp_path)`` is a context manager
        # yielding a migrated store on a database (or schema) of this test alone, removed afterwards.
        # It skips the test (pytest.skip) when no PostgreSQL is reachable outside CI.
        helper = _pg_helper()
        assert helper is not None, "tests/integration/pg.py is missing"
        with cast(AbstractContextManager[Store], helper.make_postgres_store(tmp_path)) as store:
            yield store
        return
    raise ValueError(f"unknown dialect {dialect!r}")


def open_again(dialect: str, store: Store) -> Store:
    """Another store object (its own connections) on the same database, as a second process would have."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    if dialect == "postgres":
        # --- PostgreSQL branch: ``reopen_postgres_store(store)`` opens a new pool on the same database.
        helper = _pg_helper()
        assert helper is not None, "tests/integration/pg.py is missing"
        return cast(Store, helper.reopen_postgres_store(store))
    raise ValueError(f"unknown dialect {dialect!r}")


@pytest.fixture(params=store_dialects())
def dialect(request: pytest.FixtureRequest) -> str:
    return cast(str, request.param)


@pytest.fixture
def store(dialect: str, tmp_path: Path) -> Iterator[Store]:
    """A fresh migrated store of ``dialect`` for this test."""
    with make_store(dialect, tmp_path) as opened:
        yield opened


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A fresh migrated SQLite store, for tests of SQLite specifics (query plans, schema)."""
    store = SQLiteStore(tmp_path / "sqlite.db")
    try:
        store.migrate()
        yield store
    finally:
        store.close()
