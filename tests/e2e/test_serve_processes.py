"""``taskapi serve --processes 2`` on SQLite and PostgreSQL: every process answers, one runs the worker,
``/metrics`` adds up across processes (and its counters never go back, even when a process dies and
is replaced), a stream on either process sees changes made through the other, and SIGTERM stops them
all within the shutdown timeout.

Which process holds a connection is read from Linux's ``/proc`` (the server-side socket of the
connection, and the process that has it open), so a test can talk to a chosen process.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskapi.app import stop_timeout
from taskapi.domain import Task
from taskapi.settings import Settings
from taskapi.store import open_store
from tests.conftest import wait_until
from tests.helpers.server import TASKS, envelope, free_port
from tests.helpers.sse import SseStream, open_stream
from tests.integration.pg import cloned_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/net/tcp").exists() and os.environ.get("CI") != "true",
        reason="reads connections from Linux's /proc (under CI=true it runs, and fails without it)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'x.db'}"
    else:
        with cloned_database() as url:
            yield url


# -- a served instance and its processes --------------------------------------------------------------


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api_pids(self) -> set[int]:
        """The API processes: the supervisor's children started by multiprocessing's spawn."""
        pids = set()
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                with suppress(OSError):
                    if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                        pids.add(int(child))
        return pids

    def connection_owners(self) -> dict[int, int]:
        """Established connections to the server: the client's port -> the API process holding it."""
        inodes = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == self.port:
                    inodes[f"socket:[{inode}]"] = int(remote.rsplit(":", 1)[1], 16)
        owners = {}
        for pid in self.api_pids():
            with suppress(OSError):
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with suppress(OSError):
                        target = os.readlink(fd)
                        if target in inodes:
                            owners[inodes[target]] = pid
        return owners

    def connect_to(self, pid: int) -> http.client.HTTPConnection:
        """A keep-alive connection accepted by API process ``pid`` (connections go to whichever
        process accepts first: open them until one lands there)."""

        def attempt() -> http.client.HTTPConnection | None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.connect()
            local_port = conn.sock.getsockname()[1]
            owner = wait_until(
                lambda: self.connection_owners().get(local_port), timeout=5, what="the connection's owner"
            )
            if owner == pid:
                return conn
            conn.close()
            return None

        conn = wait_until(attempt, timeout=30, interval=0, what=f"a connection to process {pid}")
        assert conn is not None
        return conn

    def request_on(
        self, pid: int, method: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """``method path`` (with a JSON ``body``), answered by API process ``pid``."""
        headers = {} if body is None else {"content-type": "application/json"}
        with closing(self.connect_to(pid)) as conn:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            answer = conn.getresponse()
            return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())

    def stream_on(self, pid: int) -> SseStream:
        """A live stream held by process ``pid``."""

        def attempt() -> SseStream | None:
            before = set(self.connection_owners())
            stream = open_stream(self.base_url)
            assert stream.status == 200, stream.summary()
            new = wait_until(
                lambda: set(self.connection_owners()) - before, timeout=5, what="the stream's connection"
            )
            if self.connection_owners()[next(iter(new))] == pid:
                return stream
            stream.close()
            return None

        stream = wait_until(attempt, timeout=30, interval=0, what=f"a stream on process {pid}")
        assert stream is not None
        return stream


def _env(**extra: str) -> dict[str, str]:
    """The test's environment without its TASKAPI_ settings; keep-alive comments on the streams
    every 0.3 s (a stream the test closes ends at the next one)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")}
    path = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    return {**env, "PYTHONPATH": path, "TASKAPI_EVENTS_KEEPALIVE": "0.3", **extra}


@contextmanager
def serving(
    url: str, tmp_path: Path, *, processes: int = 2, env: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """``taskapi serve --processes N`` on ``url``, once all N processes serve; SIGTERM at the end."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    command = [sys.executable, "-m", "taskapi", "serve", "--db", url, "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, "--processes", str(processes)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=_env(**(env or {})),
        )
    served = Served(process, port, log_path)

    def all_serving() -> bool:
        assert process.poll() is None, served.log()
        return served.log().count("is serving") >= processes and len(served.api_pids()) == processes

    try:
        wait_until(all_serving, timeout=60, interval=0.05, what="every API process to serve")
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(served: Served, pid: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = served.request_on(pid, "GET", "/metrics")
    assert response.status_code == 200, response.text
    return samples(response.text)


def create(served: Served, pid: int, **task: Any) -> int:
    """A task created through API process ``pid``: its id."""
    request = {"project_id": 1, "task_type": "ocr", **task}
    return int(envelope(served.request_on(pid, "POST", TASKS, request), 201)["data"]["id"])


COMPLETED_OCR = ("taskapi_run_seconds_count", (("outcome", "completed"), ("task_type", "ocr")))
CLIENTS = ("taskapi_stream_clients", ())
PASSES = ("taskapi_stream_passes_total", ())


# -- the tests -----------------------------------------------------------------------------------------


def test_every_process_answers_and_exactly_one_runs_the_worker(store_url: str, tmp_path: Path) -> None:
    with serving(store_url, tmp_path) as served:
        pids = served.api_pids()
        for pid in pids:
            assert envelope(served.request_on(pid, "GET", "/healthz"), 200)["data"] == {"status": "ok"}
        # ocr tasks of a project without PDFs: the embedded worker completes them at once
        ids = [create(served, pid) for pid in sorted(pids) for _ in range(2)]
        store = open_store(store_url)
        try:
            wait_until(
                lambda: all(store.task_get(i).status.value == "completed" for i in ids),  # type: ignore[union-attr]
                timeout=30,
                what="the tasks to complete",
            )
            workers = {store.task_get(i).worker_id for i in ids}  # type: ignore[union-attr]
        finally:
            store.close()
        log = served.log()
    assert len(workers) == 1, workers
    worker_pid = int(str(workers.pop()).split(":")[1])
    assert worker_pid in pids
    assert log.count(" started: types") == 1, log  # the worker's start line
    assert "Traceback" not in log, log


def worker_pid(store_url: str, task_id: int) -> int:
    """The process whose worker ran ``task_id``, once it completed (a worker id is host:pid:nonce)."""
    with closing(open_store(store_url)) as store:

        def completed() -> Task | None:
            task = store.task_get(task_id)
            return task if task is not None and task.status.value == "completed" else None

        done = wait_until(completed, timeout=30, what=f"task {task_id} to complete")
    assert done is not None
    return int(str(done.worker_id).split(":")[1])


def test_metrics_add_up_across_processes_and_never_go_back(store_url: str, tmp_path: Path) -> None:
    with serving(store_url, tmp_path) as served:
        pids = served.api_pids()
        task_id = create(served, min(pids))  # an ocr task without PDFs: the worker completes it
        worker = worker_pid(store_url, task_id)
        (other,) = pids - {worker}
        streams = [served.stream_on(worker), served.stream_on(other), served.stream_on(other)]
        try:

            def sums_seen(pid: int, clients: int) -> bool:
                figures = scrape(served, pid)
                return figures[CLIENTS] == clients and figures.get(COMPLETED_OCR) == 1

            for pid in pids:  # each process copies its stream figures every second: wait for it
                wait_until(functools.partial(sums_seen, pid, 3), timeout=15, what=f"the sums on {pid}")
            before = scrape(served, other)
            os.kill(worker, signal.SIGKILL)  # its counters (the completed run) must stay counted
            wait_until(
                lambda: len(served.api_pids() - pids) == 1 and served.log().count("is serving") == 3,
                timeout=60,
                what="a replacement process",
            )
            (replacement,) = served.api_pids() - pids
            for pid in (other, replacement):
                wait_until(functools.partial(sums_seen, pid, 2), timeout=15, what=f"the sums on {pid}")
            after = [scrape(served, pid) for pid in (other, replacement)]
            assert streams[0].ended and not streams[1].ended and not streams[2].ended
        finally:
            for stream in streams:
                stream.close()
        log = served.log()
    assert before[PASSES] > 0
    assert all(figures[PASSES] >= before[PASSES] for figures in after), (before[PASSES], after)
    assert f"(pid {worker}) exited unexpectedly with code -9" in log, log
    assert log.count(" started: types") == 2, log  # the replacement of the worker's process runs one


def test_a_stream_on_either_process_sees_changes_made_through_the_other(
    store_url: str, tmp_path: Path
) -> None:
    with serving(store_url, tmp_path, env={"TASKAPI_RUN_WORKER": "false"}) as served:
        first, second = sorted(served.api_pids())
        streams = [served.stream_on(first), served.stream_on(second)]
        try:
            for stream in streams:
                stream.wait(lambda s: "connected" in s.comments, what="connected")
            task_id = create(served, first)
            envelope(served.request_on(second, "POST", f"{TASKS}/{task_id}/cancel"), 200)
            for stream in streams:
                stream.wait(lambda s: len(s.task_events()) == 2, what="the create and the cancel")
        finally:
            for stream in streams:
                stream.close()
    for stream in streams:
        seen = [(e["id"], e["event"]) for e in stream.task_events()]  # each with the task as it is now
        assert seen == [(task_id, "created"), (task_id, "cancelled")]
        assert stream.task_events()[-1]["status"] == "cancelled"


def test_sigterm_stops_every_process_within_the_shutdown_timeout(store_url: str, tmp_path: Path) -> None:
    gates = tmp_path / "gates"  # never opened: the task runs until the shutdown hands it back
    gates.mkdir()
    env = {
        "TASKAPI_HANDLERS": "tests.handlers.gated",
        "TASKAPI_SHUTDOWN_TIMEOUT": "1",
        "TASKAPI_CANCEL_GRACE": "1",
    }
    with serving(store_url, tmp_path, env=env) as served:
        pids = served.api_pids()
        task_id = create(served, min(pids), params={"steps": 2, "gates": str(gates)})
        with closing(open_store(store_url)) as store:
            wait_until(
                lambda: store.task_get(task_id).status.value == "running",  # type: ignore[union-attr]
                timeout=30,
                what="the task to run",
            )
        streams = [served.stream_on(pid) for pid in sorted(pids)]
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(60)
        took = time.monotonic() - started
        for stream in streams:
            stream.close()
    with closing(open_store(store_url)) as store:
        handed_back = store.task_get(task_id)
    log = served.log()
    assert code == 0, log
    # within the bound serve gives its processes (the worker's shutdown timeout and cancel grace, the
    # streams' grace, 10 s for the interpreters to exit), none of them killed for being late
    bound = stop_timeout(Settings(shutdown_timeout=1, cancel_grace=1))  # type: ignore[call-arg]
    assert took < bound, f"{took:.1f} s\n{log}"
    assert "did not stop in time" not in log, log
    assert all(stream.ended and stream.error is None for stream in streams)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), log
    assert handed_back is not None and handed_back.status.value == "pending", handed_back
    assert log.count("Application shutdown complete") == 2 and "Traceback" not in log, log


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_api_processes_shut_down_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path / 'x.db'}", tmp_path) as served:
        pids = served.api_pids()
        environ = Path(f"/proc/{min(pids)}/environ").read_bytes().split(b"\0")
        metrics_dir = next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")).split(b"=", 1)[1]
        served.process.kill()  # no chance to stop them: they must notice by themselves
        served.process.wait()
        try:
            wait_until(
                lambda: not any(map(running, pids)), timeout=30, what="the orphaned API processes to exit"
            )
        finally:
            shutil.rmtree(metrics_dir.decode(), ignore_errors=True)  # the killed supervisor could not
        log = served.log()
    assert log.count("the supervising process is gone: shutting down") == 2, log
    assert log.count("Application shutdown complete") == 2, log
