"""Scale-out end to end: one API process and three worker processes on one PostgreSQL database.

The handler (``tests.handlers.recording``) inserts one ``completed`` row at the very end of each run,
so a run killed with its worker leaves no row. What is asserted:

- three workers drain 2,000 tasks: every task is ``completed`` and has exactly one execution row;
- one worker killed with SIGKILL mid-run: every task is still ``completed`` (the dead worker's tasks
  are rescued after their 2 s lease). The handler records before the worker persists the outcome, so a
  run the killed worker finished but never reported may leave a row and run again (at least once):
  asserted is that the *completed outcomes* (rows of the attempt the store completed) are exactly
  2,000, one per task id, and that every other row is the killed worker's, of an earlier attempt;
- a cancel sent to the API stops a task running in a worker process within 1 s, status ``cancelled``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from taskapi.service import TaskService
from tests.conftest import wait_until
from tests.helpers.server import TASKS, free_port
from tests.integration.pg import cloned_database

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
N = 2000
TABLE = "executions"


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAPI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    wait_until(condition, timeout=timeout, interval=0.05, what=what)


class Cluster:
    def __init__(self, url: str, logs: Path, stack: ExitStack) -> None:
        self.url, self.logs, self.stack = url, logs, stack
        self.workers: list[subprocess.Popen[bytes]] = []
        self.base_url = ""

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "taskapi", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=_env(env),
            )
        self.stack.callback(_stop, process)
        return process

    def start_api(self) -> None:
        port = free_port()
        api = self._spawn("api", ["serve", "--no-worker", "--db", self.url, "--port", str(port)], {})
        self.base_url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            assert api.poll() is None, (self.logs / "api.log").read_text()
            try:
                return httpx.get(f"{self.base_url}{TASKS}?limit=1", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        _wait_for(answering, 30, "the API to answer")

    def start_workers(self, count: int, env: dict[str, str] | None = None) -> None:
        for i in range(count):
            args = [
                "worker",
                "--db",
                self.url,
                "--handlers",
                "tests.handlers.recording",
                "--concurrency",
                "8",
            ]
            self.workers.append(self._spawn(f"worker{len(self.workers) + i}", args, env or {}))

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query).fetchall()

    def count(self, status: str) -> int:
        return int(self.sql(f"SELECT count(*) FROM tasks WHERE status = '{status}'")[0][0])


@contextmanager
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with cloned_database() as url, ExitStack() as stack:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE {TABLE}"
                " (task_id bigint, attempt int, pid int, outcome text, at double precision)"
            )
        c = Cluster(url, tmp_path, stack)
        c.start_api()
        yield c


def _create(c: Cluster, n: int) -> None:
    with TaskService.open(c.url, migrate=False) as service:
        for start in range(0, n, 500):
            specs = [(1, "index", {"db": c.url, "table": TABLE})] * min(500, n - start)
            service.create_many(specs)


def _assert_each_completed_once(c: Cluster) -> None:
    assert c.count("completed") == N
    rows = c.sql(f"SELECT count(*), count(DISTINCT task_id) FROM {TABLE} WHERE outcome = 'completed'")
    assert rows[0] == (N, N)


def test_three_workers_drain_each_task_exactly_once(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        _create(c, N)
        c.start_workers(3)
        _wait_for(lambda: c.count("completed") == N, 40, "all tasks completed")
        _assert_each_completed_once(c)
        assert c.sql(f"SELECT count(*) FROM {TABLE}")[0][0] == N  # one execution per task, no retries
        pids = c.sql(f"SELECT count(DISTINCT pid) FROM {TABLE}")[0][0]
        assert pids == 3, "every worker process took part"


def test_a_killed_worker_loses_nothing_and_nothing_completes_twice(tmp_path: Path) -> None:
    env = {"TASKAPI_LEASE_SECONDS": "2", "TASKAPI_RESCUE_INTERVAL": "0.3"}
    with cluster(tmp_path) as c:
        _create(c, N)
        c.start_workers(3, env)
        _wait_for(lambda: c.count("completed") >= N // 4, 30, "a quarter of the tasks completed")
        c.workers[0].kill()
        c.workers[0].wait()
        _wait_for(lambda: c.count("completed") == N, 40, "all tasks completed after the kill")
        assert c.count("running") == 0
        assert c.count("completed") == N
        final = c.sql(
            f"SELECT count(*), count(DISTINCT e.task_id) FROM {TABLE} e JOIN tasks t"
            " ON t.id = e.task_id AND t.attempt = e.attempt WHERE e.outcome = 'completed'"
        )
        assert final[0] == (N, N)
        stale = c.sql(
            f"SELECT e.pid, e.attempt < t.attempt FROM {TABLE} e JOIN tasks t ON t.id = e.task_id"
            " WHERE e.attempt <> t.attempt"
        )
        assert all(pid == c.workers[0].pid and earlier for pid, earlier in stale), stale


def test_a_cancel_sent_to_the_api_stops_the_task_in_a_worker_process(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.start_workers(1)
        body = {
            "project_id": 1,
            "task_type": "index",
            "params": {"db": c.url, "table": TABLE, "mode": "loop"},
        }
        task_id = httpx.post(f"{c.base_url}{TASKS}", json=body, timeout=5).json()["data"]["id"]
        _wait_for(lambda: c.count("running") == 1, 20, "the task running")
        sent = time.monotonic()
        response = httpx.post(f"{c.base_url}{TASKS}/{task_id}/cancel", timeout=5)
        assert response.status_code == 200, response.text
        _wait_for(lambda: bool(c.sql(f"SELECT 1 FROM {TABLE} WHERE outcome = 'stopped'")), 5, "the stop")
        stopped = float(c.sql(f"SELECT at FROM {TABLE} WHERE task_id = {task_id}")[0][0])
        assert stopped - sent < 1.0
        status = httpx.get(f"{c.base_url}{TASKS}/{task_id}", timeout=5).json()["data"]["status"]
        assert status == "cancelled"
