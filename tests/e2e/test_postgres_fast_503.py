"""PostgreSQL down: once the store knows it cannot connect, a call fails at once (503 over HTTP) instead
of waiting the pool's 5 s for a connection, and it recovers by itself when the server is back.

Uses a private PostgreSQL instance (the ``private_postgres`` fixture) so that stopping it touches
nothing shared.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from taskapi.domain import NewTask, StoreUnavailable, TaskType
from taskapi.store.postgres import PostgresStore
from tests.conftest import wait_until
from tests.helpers.private_postgres import PrivatePostgres
from tests.helpers.server import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FAST = 0.1
"""The target: a call while the server is known to be down fails within 100 ms."""
POOL_TIMEOUT = 5.0


def _seconds(call: Callable[[], object]) -> tuple[float, BaseException | None]:
    began = time.perf_counter()
    try:
        call()
    except Exception as exc:  # the caller checks which
        return time.perf_counter() - began, exc
    return time.perf_counter() - began, None


def test_a_store_fails_fast_while_postgres_is_down_and_recovers_by_itself(
    private_postgres: PrivatePostgres,
) -> None:
    store = PostgresStore(private_postgres.url, min_size=2, max_size=4, timeout=POOL_TIMEOUT)
    try:
        store.migrate()
        before = store.task_create(NewTask(1, TaskType.SEARCH))
        private_postgres.ctl("-m", "fast", "stop")
        # The first call learns it (a broken connection, then a refused one): within the pool's wait.
        took, error = _seconds(lambda: store.task_get(before.id))
        assert isinstance(error, StoreUnavailable), error
        assert took < POOL_TIMEOUT + 1
        timings = []
        for _ in range(20):
            took, error = _seconds(lambda: store.task_get(before.id))
            assert isinstance(error, StoreUnavailable), error
            assert "unavailable" in str(error)
            timings.append(took)
        assert max(timings) < FAST, timings
        private_postgres.start()
        wait_until(lambda: _answers(store), timeout=15, interval=0.05, what="the store to recover")
        assert store.task_get(before.id) == before
        assert store.task_create(NewTask(1, TaskType.OCR)).id > before.id
    finally:
        store.close()


def _answers(store: PostgresStore) -> bool:
    try:
        store.ping()
    except StoreUnavailable:
        return False
    return True


def test_the_api_answers_503_in_the_envelope_within_100_ms_while_postgres_is_down(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        *("-m", "taskapi", "serve", "--db", private_postgres.url, "--port", str(port), "--no-worker"),
    ]
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        with httpx.Client(base_url=base, timeout=15) as client:
            wait_until(lambda: _status(client) == 200, timeout=30, interval=0.05, what="the server")
            private_postgres.ctl("-m", "fast", "stop")
            wait_until(lambda: _status(client) == 503, timeout=30, interval=0.05, what="the first 503")
            timings = []
            for _ in range(20):
                began = time.perf_counter()
                answer = client.get("/api/v1/tasks", params={"limit": 1})
                timings.append(time.perf_counter() - began)
                assert answer.status_code == 503
                body = answer.json()
                assert body == {"code": 503, "message": body["message"], "data": None}
                assert "Traceback" not in answer.text
            assert statistics.median(timings) < FAST, timings
            assert max(timings) < 1.0, timings  # never the pool's 5 s wait
            private_postgres.start()
            wait_until(lambda: _status(client) == 200, timeout=15, interval=0.05, what="the recovery")
            created = client.post("/api/v1/tasks", json={"project_id": 1, "task_type": "search"})
            assert created.status_code == 201, created.text
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _status(client: httpx.Client) -> int:
    try:
        return client.get("/api/v1/tasks", params={"limit": 1}).status_code
    except httpx.TransportError:
        return 0
