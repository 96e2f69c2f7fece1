"""Fixtures of the worker tests: a fresh migrated store (SQLite, and PostgreSQL where the test allows it),
a service on it, a marker directory.

The ``store`` fixture follows ``worker_dialect``. A test that only talks to the ``Store`` protocol runs
once per dialect (``[sqlite]``, ``[postgres]``; the PostgreSQL run is marked ``postgres`` and skips when
no server is reachable, except under ``CI=true``). A test that asks for ``db_path`` is about SQLite
itself (a second ``SQLiteStore`` on the file, a subclass of it, a ``sqlite:///`` URL handed to a real
process): it stays on SQLite alone, unparametrised, as do the modules of ``SQLITE_ONLY_MODULES``
(store-protocol tests whose timings are calibrated for SQLite).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from taskapi.service import TaskService
from taskapi.store.base import Store
from taskapi.store.sqlite import SQLiteStore
from tests.integration.pg import make_postgres_store

# Handler modules are imported by name (``tests.handlers.basic``), here and in the forkserver's children
# (which inherit this sys.path): the repository root must be importable whatever pytest's import mode.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

SQLITE = "sqlite"
POSTGRES = "postgres"
DIALECTS: list[Any] = [SQLITE, pytest.param(POSTGRES, marks=pytest.mark.postgres)]

# The fixture that marks a test as one about SQLite's file (see the module's docstring).
SQLITE_ONLY_FIXTURE = "db_path"

# Modules whose tests use only the Store protocol but are calibrated for SQLite, so stay on it:
SQLITE_ONLY_MODULES = {
    # its cancels pace themselves on the claim front; a cancel over the network is slower than the
    # worker's batched claims of instant tasks, so on PostgreSQL nearly every cancel lands after the
    # task completed (not a race any more) and the pacing's 2 s waits add ~14 s
    "test_races.py",
    # a throughput figure labelled SQLite; PostgreSQL's drain rate is the e2e scale-out test's to report
    "test_overhead.py",
}


def _asks_for(metafunc: pytest.Metafunc, name: str) -> bool:
    """Whether the test function itself (not merely a fixture it uses) takes ``name``."""
    return name in inspect.signature(metafunc.function).parameters


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every store-protocol test of this directory on each dialect; SQLite-file tests on SQLite."""
    if "worker_dialect" not in metafunc.fixturenames or _asks_for(metafunc, SQLITE_ONLY_FIXTURE):
        return
    if metafunc.definition.path.name in SQLITE_ONLY_MODULES:
        return
    metafunc.parametrize("worker_dialect", DIALECTS, indirect=True)


@pytest.fixture
def worker_dialect(request: pytest.FixtureRequest) -> str:
    """The dialect of this test's store: its parameter, or SQLite for SQLite-file tests."""
    return cast(str, getattr(request, "param", SQLITE))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "worker.db"


@pytest.fixture
def store(worker_dialect: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated store of this test alone: a SQLite file, or a cloned PostgreSQL database."""
    if worker_dialect == POSTGRES:
        with make_postgres_store() as postgres:
            yield postgres
        return
    opened = SQLiteStore(cast(Path, request.getfixturevalue("db_path")))
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def service(store: Store) -> TaskService:
    """The service on ``store``: a worker on the same store object hears its creates and cancels at
    once (the in-process path of the store's notifier)."""
    return TaskService(store)


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    """Where handlers leave their marker files."""
    directory = tmp_path / "marks"
    directory.mkdir()
    return directory
