"""Fixtures of the worker tests: a fresh migrated SQLite store, a service on it, a marker directory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore

# Handler modules are imported by name (``tests.handlers.basic``), here and in the forkserver's children
# (which inherit this sys.path): the repository root must be importable whatever pytest's import mode.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "worker.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    """A migrated store of this test alone."""
    opened = SQLiteStore(db_path)
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def service(store: SQLiteStore) -> TaskService:
    """The service on ``store``; its ``signals`` reach a worker given them (the in-process path)."""
    return TaskService(store)


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    """Where handlers leave their marker files."""
    directory = tmp_path / "marks"
    directory.mkdir()
    return directory
