"""PostgreSQL restarted under a running ``taskapi serve``: 503 in the envelope while it is down, then
recovery by itself; tasks created before and after all complete, none lost, none stuck running.

Uses a private PostgreSQL instance (the ``private_postgres`` fixture) so that stopping it touches
nothing shared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tests.helpers.private_postgres import PrivatePostgres
from tests.helpers.server import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TASKS = "/api/v1/tasks"


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    wait_until(predicate, timeout=timeout, interval=0.05, what=what)


def _status(base: str) -> int:
    """The list's status code (0: no answer). While PostgreSQL is down a request waits up to the
    pool's 5 s for a connection before it answers 503, so the client waits longer than that."""
    try:
        return httpx.get(f"{base}{TASKS}?limit=1", timeout=15).status_code
    except httpx.TransportError:
        return 0


def _create(base: str, count: int) -> list[int]:
    body = {"project_id": 1, "task_type": "keyword_expand", "params": {"keywords": ["graph neural network"]}}
    return [httpx.post(f"{base}{TASKS}", json=body, timeout=10).json()["data"]["id"] for _ in range(count)]


def _counts(base: str) -> dict[str, int]:
    rows = httpx.get(f"{base}{TASKS}?limit=1000", timeout=10).json()["data"]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def test_the_api_answers_503_while_postgres_is_down_and_recovers_by_itself(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TASKAPI_LEASE_SECONDS": "3", "TASKAPI_RESCUE_INTERVAL": "0.5"}
    command = [sys.executable, "-m", "taskapi", "serve", "--db", private_postgres.url, "--port", str(port)]
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait(lambda: _status(base) == 200, "the server to answer")
        before = _create(base, 30)
        private_postgres.ctl("-m", "fast", "stop")
        _wait(lambda: _status(base) == 503, "503 while PostgreSQL is down")
        # A request waits up to the pool's 5 s for a connection before answering 503: allow more.
        down = httpx.get(f"{base}{TASKS}", timeout=15)
        assert down.json() == {"code": 503, "message": down.json()["message"], "data": None}
        assert "detail" not in down.json() and "Traceback" not in down.text
        private_postgres.start()
        _wait(lambda: _status(base) == 200, "recovery after PostgreSQL is back")
        after = _create(base, 30)
        _wait(
            lambda: _counts(base).get("completed", 0) == len(before) + len(after),
            "every task completed after the restart",
            timeout=60,
        )
        assert _counts(base) == {"completed": 60}  # none lost, none stuck pending or running
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
