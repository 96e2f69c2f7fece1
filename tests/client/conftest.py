"""Fixtures of the client's tests: a real ``taskapi serve`` on SQLite or PostgreSQL, restartable on its
port, and ``TaskService`` on the same database (to play the worker and check what the server did)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskapi.service import TaskService
from tests.conftest import wait_until
from tests.helpers.server import free_port

DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass
class Served:
    """``taskapi serve --no-worker`` on ``database_url`` and a port of its own, which it keeps across
    ``restart()`` (a client that reconnects finds it again)."""

    database_url: str
    root: Path
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "serve.log"

    def start(self) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TASKAPI_")}
        command = [sys.executable, "-m", "taskapi", "serve", "--no-worker", "--db", self.database_url]
        command += ["--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, env={**clean, **self.env}
            )
        wait_until(self._answering, timeout=30, interval=0.02, what="the server to answer")

    def _answering(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log_path.read_text()}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        """SIGTERM (streams end, connections close), then SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def database(dialect: str, root: Path) -> Iterator[str]:
    """A migrated database of the test alone, as a URL ``serve --db`` takes."""
    if dialect == "sqlite":
        url = f"sqlite:///{root / 'tasks.db'}"
        with TaskService.open(url):
            pass  # migrated before the server starts, so the test's own service may open it at once
        yield url
        return
    from tests.integration.pg import cloned_database

    with cloned_database() as url:
        yield url


@contextmanager
def serving(dialect: str, root: Path, env: Mapping[str, str] | None = None) -> Iterator[Served]:
    with database(dialect, root) as url:
        served = Served(url, root, dict(env or {}))
        served.start()
        try:
            yield served
        finally:
            served.stop()


_projects = itertools.count(1000, 10)  # a test may also use the next few ids


@pytest.fixture(scope="module", params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture(scope="module")
def server(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server per module and dialect (a start costs seconds); each test works in a project of its
    own (``project``), so none depends on what another left behind."""
    with serving(dialect, tmp_path_factory.mktemp(f"serve-{dialect}")) as served:
        yield served


@pytest.fixture(scope="module")
def service(server: Served) -> Iterator[TaskService]:
    """The server's database opened by the test, as a worker in another process opens it."""
    with TaskService.open(server.database_url, migrate=False) as opened:
        yield opened


@pytest.fixture
def project() -> int:
    """A project id no other test of the session uses."""
    return next(_projects)


def finish(service: TaskService, task_id: int, **outcome: Any) -> None:
    """Claim ``task_id`` and complete it with ``result`` (or fail it with ``error_message``), as a
    worker does, through the store's worker methods."""
    from tests.helpers.server import complete, fail

    if "error_message" in outcome:
        fail(service.store, task_id, outcome["error_message"])
    else:
        complete(service.store, task_id, outcome.get("result", {}))
