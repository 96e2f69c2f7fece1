"""Our service measured through its real doors: ``TaskService``, ``taskapi serve``, ``taskapi worker``.

Every measurement gets a fresh database (a new PostgreSQL database, or a new SQLite file) and real
processes started from this venv with ``--handlers bench.handlers`` (see ``bench/handlers.py``).
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import http_create
from bench.common import (
    CONCURRENCY,
    Row,
    Sink,
    descendants,
    free_port,
    fresh_database,
    percentile,
    process_cpu,
    rss_mib,
    start,
    stop,
    taskapi_command,
    taskapi_env,
    wait_for,
)
from bench.sinks import idle_gap, wait_gone
from taskapi.service import TaskService

SYSTEM = "taskapi"
ASYNC_TYPE, SYNC_TYPE, STUBBORN_TYPE = "index", "ocr", "crawl"
HANDLERS = {"async": ASYNC_TYPE, "def": SYNC_TYPE}
TASKS = "/api/v1/tasks"
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Setup:
    """Where a run puts its databases and logs, and how big it is."""

    pg_admin: str | None  # None: PostgreSQL unreachable, its figures are skipped
    workdir: Path
    quick: bool
    cancel_grace: float

    @property
    def n_drain(self) -> int:
        return 1000 if self.quick else 10_000

    @property
    def n_create(self) -> int:
        return 300 if self.quick else 2000

    @property
    def n_bulk(self) -> int:
        return 5000 if self.quick else 50_000

    @property
    def samples(self) -> int:
        return 10 if self.quick else 50


# -- stores ----------------------------------------------------------------------------------------


@contextmanager
def store_url(setup: Setup, backend: str, label: str) -> Iterator[str]:
    """A fresh, empty database of ``backend`` ("sqlite" or "postgres") for one measurement, removed
    afterwards."""
    if backend == "postgres":
        assert setup.pg_admin is not None
        with fresh_database(setup.pg_admin, label) as url:
            yield url
    else:
        path = setup.workdir / f"{label}.db"
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
        for file in files:
            file.unlink(missing_ok=True)
        try:
            yield f"sqlite:///{path}"
        finally:  # a 10,000,000-row file takes gigabytes: gone before the next measurement
            for file in files:
                file.unlink(missing_ok=True)


def _epoch(value: Any) -> float:
    """A store timestamp (datetime from PostgreSQL, UTC text from SQLite) as ``time.time()`` seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


def store_stats(url: str) -> tuple[int, float, float]:
    """Completed count, first start and last completion (epoch seconds) as the store recorded them."""
    query = "SELECT count(*), min(started_at), max(completed_at) FROM tasks WHERE status = 'completed'"
    if url.startswith("postgresql"):
        with psycopg.connect(url) as conn:
            row = conn.execute(query).fetchone()
    else:
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            row = conn.execute(query).fetchone()
    assert row is not None
    if not row[0]:
        return 0, 0.0, 0.0
    return int(row[0]), _epoch(row[1]), _epoch(row[2])


def status_of(url: str, task_id: int) -> str:
    with TaskService.open(url, migrate=False) as service:
        return service.get(task_id).status.value


def bulk_create(url: str, n: int, task_type: str) -> None:
    with TaskService.open(url) as service:
        for begin in range(0, n, BATCH):
            service.create_many([(1, task_type, None)] * min(BATCH, n - begin))


# -- processes -----------------------------------------------------------------------------------


def worker_command(url: str, *extra: str) -> list[str]:
    return taskapi_command(
        "worker", "--db", url, "--handlers", "bench.handlers", "--concurrency", str(CONCURRENCY), *extra
    )


@contextmanager
def serving(
    setup: Setup, url: str, *extra: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    """A real ``taskapi serve`` on a free port; an HTTP client on it once it answers. ``env``: settings
    (``TASKAPI_*``) and variables the server gets beside the bench's own."""
    port = free_port()
    command = taskapi_command(
        "serve",
        "--db",
        url,
        "--port",
        str(port),
        "--handlers",
        "bench.handlers",
        "--concurrency",
        str(CONCURRENCY),
        "--cancel-grace",
        str(setup.cancel_grace),
        *extra,
    )
    environment = {**taskapi_env(TASKAPI_LOG_LEVEL="warning"), **(env or {})}
    process = start(command, environment, setup.workdir / "serve.log")
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(
                f"taskapi serve exited with {process.returncode}: see serve.log in the run's logs"
            )
        try:
            return client.get(TASKS, params={"limit": 1}).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, 60, "taskapi serve to answer", interval=0.05)
        yield client, process
    finally:
        client.close()
        stop(process)


# -- 1. create rate ------------------------------------------------------------------------------


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


@dataclass(slots=True)
class CpuClock:
    """Wall time, this process's CPU time and the database server's (its backend process, when it
    runs on this host) over a measurement: the CPU figures per task hold up on a shared machine."""

    backend_pid: int | None
    began: float = 0.0
    client: float = 0.0
    server: float | None = None

    def start(self) -> None:
        self.server = None if self.backend_pid is None else process_cpu(self.backend_pid)
        self.client, self.began = time.process_time(), time.perf_counter()

    def row(self, metric: str, backend: str, variant: str, n: int) -> Row:
        wall = time.perf_counter() - self.began
        extra: dict[str, Any] = {"n": n, "client_cpu_us": (time.process_time() - self.client) / n * 1e6}
        note = f"CPU per task: client {extra['client_cpu_us']:.1f} us"
        after = None if self.backend_pid is None else process_cpu(self.backend_pid)
        if self.server is not None and after is not None:
            extra["server_cpu_us"] = (after - self.server) / n * 1e6
            note += f", PostgreSQL backend {extra['server_cpu_us']:.1f} us"
        return Row(metric, SYSTEM, backend, variant, _rate(n, wall), "tasks/s", note=note, extra=extra)


def _backend_pid(service: TaskService) -> int | None:
    """The PostgreSQL backend of the service's one pooled connection (a single caller reuses it)."""
    if service.store.dialect != "postgres":
        return None
    with service.store.reading() as tx:
        row = tx.fetch_one("SELECT pg_backend_pid() AS pid")
    return None if row is None else int(row["pid"])


def measure_create(setup: Setup, backend: str) -> list[Row]:
    rows: list[Row] = []
    n, bulk = setup.n_create, setup.n_bulk
    with store_url(setup, backend, "create_py") as url, TaskService.open(url) as service:
        for i in range(50):  # warm: the pool's connection, psycopg's prepared statements
            service.create(1, ASYNC_TYPE, {"i": i})
        clock = CpuClock(_backend_pid(service))
        clock.start()
        for i in range(n):
            service.create(1, ASYNC_TYPE, {"i": i})
        rows.append(clock.row("create", backend, "Python create()", n))
        specs: list[tuple[int, str, dict[str, Any] | None]] = [
            (1, ASYNC_TYPE, {"i": i}) for i in range(BATCH)
        ]
        clock.start()
        for _ in range(bulk // BATCH):
            service.create_many(specs)
        rows.append(clock.row("create-bulk", backend, f"Python create_many({BATCH})", bulk // BATCH * BATCH))
    with (
        store_url(setup, backend, "create_http") as url,
        serving(setup, url, "--no-worker", "--processes", str(http_create.PROCESSES)) as (client, process),
    ):
        seconds = 3.0 if setup.quick else 10.0
        rows.append(
            http_create.measure(url, str(client.base_url), process.pid, backend, seconds, setup.workdir)
        )
        rows.append(_http_batch(client, bulk, backend))
    return rows


def _http_batch(client: httpx.Client, bulk: int, backend: str) -> Row:
    variant = f"HTTP POST /tasks/batch ({BATCH})"
    tasks = [{"project_id": 1, "task_type": ASYNC_TYPE, "params": {"i": i}} for i in range(BATCH)]
    probe = client.post(f"{TASKS}/batch", json={"tasks": tasks[:1]})
    if probe.status_code != 201:
        return Row(
            "create-bulk",
            SYSTEM,
            backend,
            variant,
            None,
            "tasks/s",
            note=f"route not there yet (HTTP {probe.status_code})",
        )
    began = time.perf_counter()
    for _ in range(bulk // BATCH):
        client.post(f"{TASKS}/batch", json={"tasks": tasks}).raise_for_status()
    return Row(
        "create-bulk",
        SYSTEM,
        backend,
        variant,
        _rate(bulk // BATCH * BATCH, time.perf_counter() - began),
        "tasks/s",
        extra={"n": bulk},
    )


# -- 2. drain rate -------------------------------------------------------------------------------


def measure_drain(setup: Setup, backend: str, kind: str, workers: int) -> list[Row]:
    """N pending tasks, then ``workers`` x ``taskapi worker --burst``; rate from the store's timestamps."""
    n = setup.n_drain
    variant = f"{kind}, {workers} worker{'s' if workers > 1 else ''}"
    with store_url(setup, backend, f"drain_{kind}_{workers}") as url:
        bulk_create(url, n, HANDLERS[kind])
        env = taskapi_env(TASKAPI_LOG_LEVEL="warning")
        spawned = time.time()
        processes = [
            start(worker_command(url, "--burst"), env, setup.workdir / "worker.log") for _ in range(workers)
        ]
        for process in processes:
            if process.wait(900) != 0:
                raise RuntimeError(
                    f"a worker exited with {process.returncode}: see worker.log in the run's logs"
                )
        completed, first_start, last_done = store_stats(url)
    if completed != n:
        return [
            Row("drain", SYSTEM, backend, variant, None, "tasks/s", note=f"only {completed} of {n} completed")
        ]
    return [
        Row(
            "drain",
            SYSTEM,
            backend,
            variant,
            _rate(n, last_done - first_start),
            "tasks/s",
            note=f"store: first start to last completion ({_rate(n, last_done - spawned):,.0f}/s from spawn)",
            extra={
                "n": n,
                "store_seconds": last_done - first_start,
                "wall_seconds": last_done - spawned,
                "wall_rate": _rate(n, last_done - spawned),
            },
        )
    ]


# -- 3. pickup latency ---------------------------------------------------------------------------


def _pickups(sink: Sink, samples: int, create: Callable[[], int]) -> tuple[list[float], list[float]]:
    """Create one task at a time on an idle worker; the handler's start time minus the create call's
    (the figure), and minus the moment the call returned (issue 12's "create returns -> handler
    starts"; negative when the handler started before the caller had the answer).

    A first task proves the worker is up (and warm); then it is left idle for a moment.
    """
    sink.wait_event("start", 120, task=create())
    time.sleep(0.3)
    from_call, from_return = [], []
    for _ in range(samples):
        began = time.time()
        task_id = create()
        returned = time.time()
        event = sink.wait_event("start", 30, task=task_id)
        from_call.append((event["t"] - began) * 1000)
        from_return.append((event["t"] - returned) * 1000)
        idle_gap()
    return from_call, from_return


def _create_id(service: TaskService, task_type: str, params: dict[str, Any]) -> int:
    return service.create(1, task_type, params).id


def _pickup_row(backend: str, variant: str, samples: tuple[list[float], list[float]]) -> Row:
    from_call, from_return = samples
    after = percentile(from_return, 50)
    row = _latency_row("pickup", backend, variant, from_call, f"from the create's return: p50 {after:.2f} ms")
    row.extra["p50_from_return"] = after
    return row


def _latency_row(metric: str, backend: str, variant: str, samples: list[float], note: str = "") -> Row:
    return Row(
        metric,
        SYSTEM,
        backend,
        variant,
        percentile(samples, 50),
        "ms p50",
        note=note,
        extra={
            "p50": percentile(samples, 50),
            "p95": percentile(samples, 95),
            "max": max(samples),
            "samples": len(samples),
        },
    )


def measure_pickup(setup: Setup, backend: str, kind: str) -> list[Row]:
    rows = []
    sink = Sink(setup.workdir / f"pickup_http_{backend}_{kind}.jsonl")
    params = {"sink": str(sink.path)}
    task_type = HANDLERS[kind]
    with store_url(setup, backend, f"pickup_http_{kind}") as url, serving(setup, url) as (client, _):

        def http_create() -> int:
            answer = client.post(TASKS, json={"project_id": 1, "task_type": task_type, "params": params})
            answer.raise_for_status()
            task_id: int = answer.json()["data"]["id"]
            return task_id

        samples = _pickups(sink, setup.samples, http_create)
        rows.append(_pickup_row(backend, f"{kind}, HTTP POST -> serve's worker", samples))
    sink = Sink(setup.workdir / f"pickup_py_{backend}_{kind}.jsonl")  # ids start at 1 again
    params = {"sink": str(sink.path)}
    with store_url(setup, backend, f"pickup_py_{kind}") as url, TaskService.open(url) as service:
        worker = start(
            worker_command(url), taskapi_env(TASKAPI_LOG_LEVEL="warning"), setup.workdir / "worker.log"
        )
        try:
            samples = _pickups(sink, setup.samples, partial(_create_id, service, task_type, params))
        finally:
            stop(worker)
        rows.append(_pickup_row(backend, f"{kind}, create() -> worker process", samples))
    return rows


# -- 4. cancel-to-stop ---------------------------------------------------------------------------


def measure_cancel(setup: Setup, backend: str) -> list[Row]:
    """Cancel a running task over HTTP; time until its handler stopped and the store says cancelled."""
    rows = []
    kinds = [
        ("def, cooperative", SYNC_TYPE),
        ("async", ASYNC_TYPE),
        ("def, stubborn (hard kill)", STUBBORN_TYPE),
    ]
    with store_url(setup, backend, "cancel") as url, serving(setup, url) as (client, _):
        for label, task_type in kinds:
            stubborn = task_type == STUBBORN_TYPE
            sink = Sink(setup.workdir / f"cancel_{backend}_{task_type}.jsonl")
            params = {"sink": str(sink.path), "loop": True}
            count = (3 if setup.quick else 10) if stubborn else setup.samples
            samples = []
            for _ in range(count):
                answer = client.post(TASKS, json={"project_id": 1, "task_type": task_type, "params": params})
                task_id = answer.json()["data"]["id"]
                started = sink.wait_event("start", 30, task=task_id)
                time.sleep(0.03)  # a few loop turns: the task is well under way
                began = time.time()
                client.post(f"{TASKS}/{task_id}/cancel").raise_for_status()
                if stubborn:  # it writes nothing when killed: watch its process disappear
                    stopped = wait_gone(started["pid"], setup.cancel_grace + 30)
                else:
                    stopped = sink.wait_event("stop", 30, task=task_id)["t"]
                status = client.get(f"{TASKS}/{task_id}").json()["data"]["status"]
                if status != "cancelled":
                    raise RuntimeError(f"task {task_id} ended {status}, not cancelled")
                samples.append((stopped - began) * 1000)
            note = f"--cancel-grace {setup.cancel_grace:g} s" if stubborn else "HTTP cancel included"
            row = _latency_row("cancel", backend, label, samples, note)
            row.value, row.unit = row.extra["p95"], "ms p95"
            rows.append(row)
    return rows


# -- 6. memory -----------------------------------------------------------------------------------


def _tree_rss(pid: int) -> tuple[float, float]:
    own = rss_mib(pid)
    return own, own + sum(rss_mib(child) for child in descendants(pid))


def measure_memory(setup: Setup, backend: str) -> list[Row]:
    rows = []
    with store_url(setup, backend, "memory_worker") as url:
        with TaskService.open(url):
            pass  # migrated before the worker starts
        worker = start(
            worker_command(url), taskapi_env(TASKAPI_LOG_LEVEL="warning"), setup.workdir / "worker.log"
        )
        try:
            time.sleep(3)
            own, tree = _tree_rss(worker.pid)
        finally:
            stop(worker)
        rows.append(
            Row(
                "memory",
                SYSTEM,
                backend,
                "idle taskapi worker",
                own,
                "MiB RSS",
                note=f"with its child processes {tree:.0f} MiB (RSS summed: shared pages counted in each)",
            )
        )
    with store_url(setup, backend, "memory_serve") as url:
        n = setup.n_drain
        bulk_create(url, n // 2, ASYNC_TYPE)
        bulk_create(url, n // 2, SYNC_TYPE)
        with serving(setup, url) as (_, process):
            wait_for(lambda: store_stats(url)[0] == n // 2 * 2, 600, "serve to drain", interval=0.2)
            own, tree = _tree_rss(process.pid)
        rows.append(
            Row(
                "memory",
                SYSTEM,
                backend,
                f"taskapi serve after draining {n:,} tasks",
                own,
                "MiB RSS",
                note=f"with its child processes {tree:.0f} MiB (RSS summed: shared pages counted in each)",
            )
        )
    return rows
