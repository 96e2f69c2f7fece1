"""Fixtures of the pipeline runs' tests: a migrated store of each dialect (a fresh SQLite file, or the
session's PostgreSQL database emptied), shared with ``tests/papers``, and runs planned over it."""

from __future__ import annotations

import pytest

from taskapi.runs import RunService
from taskapi.service import TaskService
from taskapi.store.base import Store
from tests.papers.conftest import (  # noqa: F401  (fixtures, found by pytest by name)
    library_dialect,
    library_store,
    shared_postgres_library,
)


@pytest.fixture
def store(library_store: Store) -> Store:  # noqa: F811 (the fixture of that name)
    """A migrated, empty store of each dialect."""
    return library_store


@pytest.fixture
def runs(store: Store) -> RunService:
    """Runs over ``store``, without params validators (the fake steps take any params)."""
    return RunService.of(TaskService(store))
