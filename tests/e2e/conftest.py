"""Fixtures of the end-to-end tests: a real ``taskapi serve`` process on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskapi.store.sqlite import SQLiteStore
from tests.helpers.private_postgres import private_postgres as private_postgres  # a fixture, for pytest
from tests.helpers.server import ServerProcess, running_server

SERVER_ENV = {"TZ": "CST-8"}
"""The server runs in UTC+8 (as the users do), so a time rendered in local time instead of UTC shows."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """``python -m taskapi serve`` (API and embedded worker) on ``tmp_path/x.db`` and a free port."""
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=SERVER_ENV) as started:
        yield started


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests of a module (a start costs a second or two); each test works on tasks
    of its own, so none depends on what another left behind. It serves the API only: its tests play
    the worker themselves (``side_store``), so no embedded worker may take their tasks (every type
    of the pipeline has a built-in handler now)."""
    root = tmp_path_factory.mktemp("server")
    env = {**SERVER_ENV, "TASKAPI_RUN_WORKER": "false"}
    with running_server(root / "x.db", root / "server.log", env=env) as started:
        yield started


@pytest.fixture
def side_store(shared_server: ServerProcess) -> Iterator[SQLiteStore]:
    """The shared server's database opened from this test process, as a worker in another process
    opens it."""
    store = SQLiteStore(shared_server.db_path)
    try:
        yield store
    finally:
        store.close()
