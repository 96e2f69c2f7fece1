"""Real processes: ``taskapi worker`` killed with -9 mid-task (then rescued), stopped with SIGTERM, and
``taskapi serve`` running, cancelling over HTTP and restarting after kill -9."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from taskapi.domain import TaskQuery, TaskStatus
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from tests.worker.helpers import (
    BASIC,
    REPO,
    get,
    marker,
    p95,
    pid_alive,
    report,
    subprocess_env,
    wait_final,
    wait_marker,
    wait_task,
    wait_until,
)

pytestmark = pytest.mark.slow

KINDS = ("crawl", "search")

FAST_ENV = {
    "TASKAPI_HANDLERS": BASIC,
    "TASKAPI_LEASE_SECONDS": "1",
    "TASKAPI_RESCUE_INTERVAL": "0.2",
    "TASKAPI_POLL_INTERVAL": "0.05",
    "TASKAPI_CANCEL_GRACE": "0.3",
    "TASKAPI_CONCURRENCY": "4",
}


@dataclass
class Process:
    """A running ``python -m taskapi ...`` and the file its output goes to."""

    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: signal.Signals) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)


@contextmanager
def taskapi(tmp_path: Path, *args: str, **env: str) -> Iterator[Process]:
    """``python -m taskapi ARGS`` with the test handlers importable; killed if still alive at the end."""
    log = tmp_path / f"{args[0]}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "taskapi", *args],
            cwd=REPO,
            env=subprocess_env(**{**FAST_ENV, **env}),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Process(popen, log)
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(timeout=10)


def _kill9(process: Process) -> None:
    process.signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


# -- taskapi worker -----------------------------------------------------------------------------------


def test_a_worker_killed_with_sigkill_mid_task_has_its_task_rescued_and_completed_once(
    tmp_path: Path, store: SQLiteStore, service: TaskService, db_path: Path, marks: Path
) -> None:
    url = f"sqlite:///{db_path}"
    task = service.create(1, "crawl", {"mode": "first_attempt_hangs", "dir": str(marks)})
    with taskapi(tmp_path, "worker", "--db", url) as first:
        handler_pid = int(wait_marker(marks, task.id, "started", timeout=30))
        assert get(store, task.id).status is TaskStatus.RUNNING
        _kill9(first)
    # the handler's process died with its worker: no orphan burns CPU
    wait_until(lambda: not pid_alive(handler_pid), what="the orphaned handler to die")
    assert get(store, task.id).status is TaskStatus.RUNNING  # until its lease expires

    with taskapi(tmp_path, "worker", "--db", url) as second:
        done = wait_final(store, task.id, timeout=30)
        second.signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0, second.output()
    assert done.status is TaskStatus.COMPLETED
    assert done.result == {"attempt": 2}
    assert done.attempt == 2
    assert not marker(marks, task.id, "done", attempt=1).exists()
    assert sorted(path.name for path in marks.iterdir()) == [
        f"{task.id}.1.started",
        f"{task.id}.2.done",
        f"{task.id}.2.started",
    ]


def test_sigterm_lets_a_task_finish_within_the_timeout_and_hands_back_the_rest_without_an_attempt(
    tmp_path: Path, store: SQLiteStore, service: TaskService, db_path: Path, marks: Path
) -> None:
    gate = tmp_path / "gate"
    finishing = service.create(1, "crawl", {"mode": "gate", "gate": str(gate), "dir": str(marks)})
    endless = [
        service.create(1, "search", {"mode": "loop", "dir": str(marks)}),  # stops at its next await
        service.create(1, "crawl", {"mode": "loop", "dir": str(marks)}),  # stops at its next progress()
        service.create(1, "crawl", {"mode": "stubborn", "dir": str(marks)}),  # killed after the grace
    ]
    url = f"sqlite:///{db_path}"
    with taskapi(tmp_path, "worker", "--db", url, TASKAPI_SHUTDOWN_TIMEOUT="1") as worker:
        for task in [finishing, *endless]:
            wait_marker(marks, task.id, "started", timeout=30)
        worker.signal(signal.SIGTERM)
        wait_until(lambda: "waiting up to 1 s" in worker.output(), what="the graceful stop to begin")
        late = service.create(1, "search", {"mode": "return"})  # it stopped claiming
        gate.touch()
        assert worker.wait(timeout=20) == 0, worker.output()
    assert get(store, finishing.id).status is TaskStatus.COMPLETED
    assert get(store, finishing.id).result == {"gated": True}
    for task in endless:
        handed_back = get(store, task.id)
        assert handed_back.status is TaskStatus.PENDING, task
        assert handed_back.attempt == 0  # no attempt used up
        assert (handed_back.worker_id, handed_back.started_at, handed_back.progress) == (None, None, 0)
    assert get(store, late.id).status is TaskStatus.PENDING
    assert get(store, late.id).attempt == 0


# -- taskapi serve ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(tmp_path: Path, db_path: Path) -> Iterator[tuple[Process, httpx.Client]]:
    port = _free_port()
    with (
        taskapi(tmp_path, "serve", "--db", f"sqlite:///{db_path}", "--port", str(port)) as process,
        httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=10) as client,
    ):

        def ready() -> bool:
            assert process.popen.poll() is None, process.output()
            try:
                return client.get("/tasks").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=30, what="the server to answer")
        yield process, client


def _create(client: httpx.Client, task_type: str, params: dict[str, object]) -> int:
    response = client.post("/tasks", json={"project_id": 1, "task_type": task_type, "params": params})
    assert response.status_code == 201, response.text
    return int(response.json()["data"]["id"])


def _status(client: httpx.Client, task_id: int) -> str:
    return str(client.get(f"/tasks/{task_id}").json()["data"]["status"])


def _cancel_over_http(client: httpx.Client, marks: Path, task_type: str) -> float:
    task_id = _create(client, task_type, {"mode": "loop", "dir": str(marks)})
    wait_marker(marks, task_id, "started")
    cancelled_at = time.monotonic()
    response = client.post(f"/tasks/{task_id}/cancel")
    assert response.status_code == 200, response.text
    assert _status(client, task_id) == "cancelled"  # at once: the write is final
    stopped = float(wait_marker(marks, task_id, "stopped"))
    return (stopped - cancelled_at) * 1000


def test_the_server_runs_tasks_stops_cancelled_ones_at_once_and_rescues_after_kill_9(
    tmp_path: Path, store: SQLiteStore, db_path: Path, marks: Path
) -> None:
    with server(tmp_path, db_path) as (process, client):
        ran = _create(client, "search", {"mode": "return", "value": {"ok": True}})
        wait_until(lambda: _status(client, ran) == "completed", what="the task to complete")
        assert client.get(f"/tasks/{ran}").json()["data"]["result"] == {"ok": True}

        samples = {kind: [_cancel_over_http(client, marks, kind) for _ in range(5)] for kind in KINDS}
        hanging = _create(client, "crawl", {"mode": "first_attempt_hangs", "dir": str(marks)})
        handler_pid = int(wait_marker(marks, hanging, "started"))
        _kill9(process)
    wait_until(lambda: not pid_alive(handler_pid), what="the orphaned handler to die")
    report("HTTP cancel to handler stopped (serve, sync cooperative)", samples["crawl"])
    report("HTTP cancel to handler stopped (serve, async)", samples["search"])
    before = sorted(task.id for task in store.task_list(TaskQuery(limit=100)))

    with server(tmp_path, db_path) as (process, client):
        listed = client.get("/tasks", params={"limit": 100}).json()["data"]
        assert sorted(task["id"] for task in listed) == before  # every task kept
        rescued = wait_task(store, hanging, lambda t: t.status.is_final, timeout=30)
        process.signal(signal.SIGTERM)
        # a graceful stop; uvicorn then re-raises the signal, so the exit status may say SIGTERM
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), process.output()
        assert "Application shutdown complete" in process.output()
    assert (rescued.status, rescued.attempt, rescued.result) == (TaskStatus.COMPLETED, 2, {"attempt": 2})
    assert p95(samples["crawl"] + samples["search"]) < 100


# -- SQLite host signals ------------------------------------------------------------------------------


@pytest.mark.parametrize("task_type", KINDS)
def test_a_sqlite_worker_in_another_process_hears_creates_and_cancels_without_polling(
    task_type: str, tmp_path: Path, store: SQLiteStore, service: TaskService, db_path: Path, marks: Path
) -> None:
    """Its poll is 60 s: only the host signals can bring it the task and the cancel in time."""
    url = f"sqlite:///{db_path}"
    with taskapi(tmp_path, "worker", "--db", url, TASKAPI_POLL_INTERVAL="60") as worker:
        warm = service.create(1, task_type, {"mode": "return", "dir": str(marks)})
        wait_final(store, warm.id, timeout=30)  # the worker is up and listening (its first poll ran)
        pickups, stops = [], []
        for _ in range(5):
            created_at = time.monotonic()
            task = service.create(1, task_type, {"mode": "loop", "dir": str(marks)})
            wait_marker(marks, task.id, "started", timeout=10)
            pickups.append((time.monotonic() - created_at) * 1000)
            cancelled_at = time.monotonic()
            service.cancel(task.id)
            stopped = float(wait_marker(marks, task.id, "stopped", timeout=10))
            stops.append((stopped - cancelled_at) * 1000)
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0, worker.output()
    report(f"SQLite, other process, {task_type}: create to handler start", pickups)
    report(f"SQLite, other process, {task_type}: cancel to handler stop", stops)
    assert max(pickups) < 10_000 and max(stops) < 10_000  # both far below the 60 s poll
