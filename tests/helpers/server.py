"""The API for tests, two ways: in-process over httpx's ASGI transport, or as a real server process.

``InProcessApi`` is the app of ``create_app`` over a fresh SQLite file, called through
``httpx.ASGITransport`` on one event loop (no TestClient). Tasks reach the running, completed and
failed states through the store's own worker methods (``task_claim``, ``task_finish``), never a mock.

``running_server`` starts ``python -m taskapi serve`` on a free port, waits until it answers (a
condition with a deadline), and stops it when the block ends: SIGTERM, then SIGKILL after 10 s.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskapi.api import create_app
from taskapi.domain import Task
from taskapi.service import TaskService
from taskapi.store.base import Claim, Completion, Store
from taskapi.store.sqlite import SQLiteStore
from tests.conftest import wait_until

LIST_FIELDS = frozenset({"id", "project_id", "task_type", "status", "progress", "total", "created_at"})
DETAIL_FIELDS = LIST_FIELDS | {"params", "result", "error_message", "started_at", "completed_at"}
TIME_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
"""How the spec renders a time: ISO 8601 to the second, UTC, no offset (``2025-03-12T10:00:00``)."""

TASKS = "/api/v1/tasks"
TEST_WORKER = "test-worker"


# -- the envelope ------------------------------------------------------------------------------------


def envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    """The body of ``response`` after checking the contract every answer keeps: the HTTP status is
    ``status``, the body is exactly ``{"code", "message", "data"}`` (never FastAPI's ``{"detail"}``)
    and ``code`` equals the HTTP status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"code", "message", "data"}, body
    assert body["code"] == status, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def error_fields(body: Mapping[str, Any]) -> list[str]:
    """The input fields an error envelope names in ``data.errors``."""
    data = body["data"]
    assert isinstance(data, dict) and isinstance(data.get("errors"), list), body
    return [str(error["field"]) for error in data["errors"]]


def body_of_size(size: int) -> bytes:
    """A valid create request of exactly ``size`` bytes (the padding is inside ``params``)."""
    head, tail = b'{"project_id": 1, "task_type": "search", "params": {"pad": "', b'"}}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


# -- the app in-process ------------------------------------------------------------------------------


class InProcessApi:
    """The HTTP API over its own migrated SQLite file, called in-process; ``close()`` when done."""

    def __init__(
        self,
        db_path: Path,
        *,
        store: SQLiteStore | None = None,
        raise_errors: bool = True,
        app_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.db_path = db_path
        self.store = store if store is not None else SQLiteStore(db_path)
        self.store.migrate()
        self.service = TaskService(self.store)
        self.app = create_app(self.service, **(app_options or {}))
        self._runner = asyncio.Runner()
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=raise_errors)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def create(self, project_id: int = 1, task_type: str = "search", **params: Any) -> int:
        """A new pending task, created over HTTP as a pipeline would; answer its id."""
        body = envelope(
            self.post(TASKS, json={"project_id": project_id, "task_type": task_type, "params": params}), 201
        )
        task_id = body["data"]["id"]
        assert isinstance(task_id, int)
        return task_id

    def detail(self, task_id: int) -> dict[str, Any]:
        data = envelope(self.get(f"{TASKS}/{task_id}"), 200)["data"]
        assert isinstance(data, dict)
        return data

    def rows(self) -> list[tuple[Any, ...]]:
        return table_rows(self.db_path)

    def close(self) -> None:
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()
            self.store.close()


@contextmanager
def in_process_api(db_path: Path, **kwargs: Any) -> Iterator[InProcessApi]:
    api = InProcessApi(db_path, **kwargs)
    try:
        yield api
    finally:
        api.close()


# -- tasks in the worker's states, by the store's worker methods -------------------------------------


def start(store: Store, task_id: int) -> Task:
    """Claim ``task_id`` as a worker would (it must be the oldest pending task of its type)."""
    task = store.task_get(task_id)
    assert task is not None, f"task {task_id} does not exist"
    claim = Claim(
        worker_id=TEST_WORKER, task_types=[task.task_type], limit=1, lease_seconds=300.0, max_attempts={}
    )
    claimed = store.task_claim(claim)
    assert [t.id for t in claimed] == [task_id], f"claimed {claimed} instead of task {task_id}"
    return claimed[0]


def complete(
    store: Store, task_id: int, result: dict[str, Any], *, progress: int = 100, total: int = 100
) -> None:
    running = start(store, task_id)
    done = Completion(id=task_id, attempt=running.attempt, progress=progress, total=total, result=result)
    assert store.task_finish([done]) == [task_id]


def fail(store: Store, task_id: int, error_message: str, *, progress: int = 3, total: int = 10) -> None:
    running = start(store, task_id)
    done = Completion(
        id=task_id, attempt=running.attempt, progress=progress, total=total, error_message=error_message
    )
    assert store.task_finish([done]) == [task_id]


# -- the raw table -----------------------------------------------------------------------------------


def table_rows(db_path: Path) -> list[tuple[Any, ...]]:
    """Every column of every task, read with a connection of its own (what "nothing changed" compares)."""
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute("SELECT * FROM tasks ORDER BY id").fetchall()


def insert_rows(db_path: Path, rows: Sequence[tuple[int, str, str]]) -> list[int]:
    """Insert ``(project_id, task_type, created_at)`` rows as written by the store (times are
    ``YYYY-MM-DDTHH:MM:SS.ffffff`` UTC text), so that tests can choose ``created_at``, ties included."""
    with closing(sqlite3.connect(db_path)) as conn, conn:
        return [
            int(
                conn.execute(
                    "INSERT INTO tasks (project_id, task_type, created_at) VALUES (?, ?, ?) RETURNING id", row
                ).fetchone()[0]
            )
            for row in rows
        ]


# -- a real server process ---------------------------------------------------------------------------


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    db_path: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(overrides: Mapping[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")}
    env.update(overrides)
    return env


def start_server(
    db_path: Path,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
    token: str | None = None,
) -> ServerProcess:
    """``python -m taskapi serve`` on ``db_path``; answer once ``GET /api/v1/tasks`` answers 200
    (sent with ``token`` when the server is given access tokens)."""
    port = free_port()
    command = [sys.executable, "-m", "taskapi", "serve", "--db", f"sqlite:///{db_path}", "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=db_path.parent, env=_server_env(env or {})
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", db_path, log_path)
    try:
        _wait_until_answering(server, startup_timeout, token)
    except BaseException:
        stop_server(server)
        raise
    return server


def _wait_until_answering(server: ServerProcess, timeout: float, token: str | None = None) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    def answering() -> bool:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited with {server.process.returncode} on start:\n{server.log()}")
        try:
            response = httpx.get(f"{server.base_url}{TASKS}?limit=1", headers=headers, timeout=1.0)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    wait_until(answering, timeout=timeout, interval=0.02, what=f"the server to answer:\n{server.log()}")


def stop_server(server: ServerProcess, timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if the process has not exited after ``timeout`` s; answer its exit code."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@contextmanager
def running_server(
    db_path: Path, log_path: Path, *, env: Mapping[str, str] | None = None, token: str | None = None
) -> Iterator[ServerProcess]:
    server = start_server(db_path, log_path, env=env, token=token)
    try:
        yield server
    finally:
        stop_server(server)


# -- an app of the test's own making, served by uvicorn on a thread -----------------------------------


@contextmanager
def serving_in_thread(app: Any, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` (an ASGI app built by the test, e.g. ``create_app`` with special options) with a
    real uvicorn on a thread and a free port, lifespan included; answer its base URL."""
    import threading

    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-in-test", daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        return bool(server.started)

    wait_until(started, timeout=startup_timeout, interval=0.01, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(15)
