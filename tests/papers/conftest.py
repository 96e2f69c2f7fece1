"""Fixtures of the papers library's tests: a migrated store (task store + papers library) and its
repository, for every dialect, like the ``store`` fixture of ``tests/integration``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import pytest

from taskapi.domain import NewTask, TaskType
from taskapi.papers import PAPERS_COMPONENT, Fence, PapersRepository
from taskapi.store.base import Claim, Store
from taskapi.store.sqlite import SQLiteStore

LIBRARY_DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def library_store_of(dialect: str, tmp_path: Path) -> Iterator[Store]:
    """A fresh store of ``dialect`` with the papers library migrated, closed (and dropped) afterwards."""
    if dialect == "sqlite":
        sqlite = SQLiteStore(tmp_path / "library.db")
        try:
            sqlite.migrate([PAPERS_COMPONENT])
            yield sqlite
        finally:
            sqlite.close()
        return
    from tests.integration.pg import make_postgres_store

    with make_postgres_store(tmp_path) as postgres:
        postgres.migrate([PAPERS_COMPONENT])  # a no-op once the template has it
        yield postgres


@pytest.fixture(params=LIBRARY_DIALECTS)
def library_dialect(request: pytest.FixtureRequest) -> str:
    return cast(str, request.param)


@pytest.fixture(scope="session")
def shared_postgres_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One PostgreSQL database for the session's library tests, emptied before each test: cloning a
    database per test costs 0.3 to 1 s on a busy server, emptying its tables a few milliseconds."""
    with library_store_of("postgres", tmp_path_factory.mktemp("pg")) as store:
        yield store


def emptied(store: Store) -> Store:
    """``store`` with every table but the migrations' empty. DELETE, not TRUNCATE (a few milliseconds
    instead of a hundred), in any order: foreign keys are not checked meanwhile (replica role)."""
    with store.transaction() as tx:
        tx.execute("SET LOCAL session_replication_role = replica")
        for row in tx.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"):
            if row["tablename"] != "schema_migrations":
                tx.execute(f'DELETE FROM "{row["tablename"]}"')
    return store


@pytest.fixture
def library_store(library_dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A store with the library migrated and empty: a fresh SQLite file, or the emptied shared database."""
    if library_dialect == "postgres":
        yield emptied(cast(Store, request.getfixturevalue("shared_postgres_library")))
        return
    with library_store_of(library_dialect, tmp_path) as store:
        yield store


@pytest.fixture
def papers(library_store: Store) -> PapersRepository:
    """The repository on a fresh store of each dialect."""
    return PapersRepository(library_store)


StartTask = Callable[..., Fence]


@pytest.fixture
def start_task(library_store: Store) -> StartTask:
    """``start_task(lease_seconds=30.0)``: create a task and claim it; answer its running attempt's fence."""

    def start(lease_seconds: float = 30.0) -> Fence:
        task = library_store.task_create(NewTask(1, TaskType.SEARCH))
        claimed = library_store.task_claim(Claim("worker-1", [TaskType.SEARCH.value], 100, lease_seconds, {}))
        [mine] = [running for running in claimed if running.id == task.id]
        return Fence(mine.id, mine.attempt)

    return start
