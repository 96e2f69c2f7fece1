"""A worker started while its PostgreSQL is not up yet (they start together, or the database is
restarting) waits for it and then works, rather than exiting with a traceback; past
``TASKAPI_STARTUP_WAIT`` it exits 3 with one line (found by the chaos run: a worker restarted during an
outage died of a pool timeout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from tests.conftest import wait_until
from tests.helpers.private_postgres import PrivatePostgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _worker(url: str, log: Path, wait: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TASKAPI_STARTUP_WAIT": wait, "TASKAPI_POLL_INTERVAL": "0.1"}
    command = [sys.executable, "-m", "taskapi", "worker", "--db", url, "--handlers", "tests.handlers.basic"]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_a_worker_started_before_its_database_waits_for_it_then_runs_tasks(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    with TaskService.open(private_postgres.url):
        pass  # migrated while it is up
    private_postgres.ctl("-m", "fast", "stop")
    log = tmp_path / "worker.log"
    worker = _worker(private_postgres.url, log, "60")
    try:
        wait_until(lambda: "trying again" in log.read_text(), timeout=30, what="the worker to wait")
        assert worker.poll() is None, log.read_text()
        private_postgres.start()
        with TaskService.open(private_postgres.url) as service:
            task = service.create(1, "search", {})
            wait_until(lambda: service.get(task.id).status.is_final, timeout=60, what="the task to end")
            assert service.get(task.id).status is TaskStatus.COMPLETED
        assert "Traceback" not in log.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def test_past_the_startup_wait_a_worker_exits_3_with_one_line(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    private_postgres.ctl("-m", "fast", "stop")
    log = tmp_path / "worker.log"
    worker = _worker(private_postgres.url, log, "1")
    assert worker.wait(timeout=60) == 3
    text = log.read_text()
    assert "task store unavailable" in text and "Traceback" not in text, text
