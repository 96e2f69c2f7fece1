"""List latency at scale, over HTTP: does a page of 50 cost the same at 10,000,000 rows as at 10,000?

Loads N tasks straight into a fresh, migrated store (SQLite: ``executemany`` in one transaction;
PostgreSQL: ``COPY``; the secondary indexes are dropped first and built afterwards, as the schema
defines them), or reuses the one a run with ``--keep`` left; serves it with a real
``taskapi serve --no-worker --processes 2`` (retention off: see ``_serving``) and, after a warm-up,
has 8 concurrent clients ask ``GET /api/v1/tasks?project_id=1&status=completed&limit=50`` and the
next keyset page (the ``X-Next-Cursor`` of the first); and, when ``wrk`` is installed, page 1 from
``wrk`` with 8 connections for 5 s. Prints p50/p99 per page.

The clients are processes by default (``--clients-as threads``: threads of this process, as until
issue 12). Either way they are Python: they take about as much CPU per request as the server does,
on the same cores, and their share shows up in the latency; ``wrk`` takes 2-3 % of that, and its
figures are the server's. To tell what a tail is made of, the run also prints the server processes'
CPU and their wait for a CPU per request (``/proc/PID/task/*/schedstat``), how it was split between
them (one process holding most connections shows here), the clients' CPU, and the slowest requests
with their time (``--gc-log``: and the served processes' gen-2 collections around them). Standalone::

    .venv/bin/python -m bench.list_latency --rows 100000 [--backend sqlite|postgres] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from multiprocessing import get_context
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from bench.common import (
    DEFAULT_PG,
    Row,
    descendants,
    percentile,
    taskapi_env,
    with_database,
)
from bench.ours import TASKS, Setup, serving, store_url
from taskapi.domain import TaskStatus, TaskType
from taskapi.service import TaskService
from taskapi.store.sqlite import format_time

COLUMNS = (
    "project_id, task_type, status, progress, total, params, result, error_message,"
    " created_at, started_at, completed_at, attempt"
)
PROJECTS = 200
STATUS_WEIGHTS = {
    TaskStatus.COMPLETED: 82,
    TaskStatus.PENDING: 10,
    TaskStatus.FAILED: 5,
    TaskStatus.CANCELLED: 3,
}
"""No running tasks: the store has them only while a worker holds their lease (a few dozen), and 2 %
of 10,000,000 (200,000, as this bench had until issue 12) made the rescue pass of the serving process,
every 5 s, walk them all: 830 ms on SQLite, 1 GB read on PostgreSQL, a stall of its own in the tail."""
DATA_VERSION = 2
"""Of the generated data: a kept store of another version is loaded again."""
TYPE_WEIGHTS = {
    TaskType.SEARCH: 30,
    TaskType.CRAWL: 25,
    TaskType.OCR: 20,
    TaskType.DEDUP: 10,
    TaskType.INDEX: 10,
    TaskType.KEYWORD_EXPAND: 5,
}
CLIENTS = 8
WRK_SECONDS = 5
PROCESSES = 2  # issue 12: ``serve --processes 2`` on this 2-core machine
QUERY: dict[str, str | int] = {"project_id": 1, "status": "completed", "limit": 50}
Record = tuple[int, str, str, int, int, str, str | None, str, str, str | None, str | None, int]


def generate(count: int, seed: int = 7) -> Iterator[Record]:
    """Tasks over 90 days in time order (ids follow time), created in bursts that share a timestamp.

    Projects follow a 1/k law (a few big projects, a long tail); statuses and types are skewed as in
    a pipeline that mostly succeeds.
    """
    rng = random.Random(seed)
    projects = list(range(1, PROJECTS + 1))
    project_cum = list(accumulate(1 / k for k in projects))
    statuses, status_cum = list(STATUS_WEIGHTS), list(accumulate(STATUS_WEIGHTS.values()))
    types, type_cum = [t.value for t in TYPE_WEIGHTS], list(accumulate(TYPE_WEIGHTS.values()))
    moment = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / count
    left = 0
    created = started = finished = ""
    for _ in range(count):
        if left == 0:  # a new burst: a pipeline step creating 1-5 tasks in one transaction
            left = rng.randint(1, 5)
            moment += step * left
            created = format_time(moment)
            started = format_time(moment + timedelta(seconds=1))
            finished = format_time(moment + timedelta(seconds=90))
        left -= 1
        status = rng.choices(statuses, cum_weights=status_cum)[0]
        pending = status is TaskStatus.PENDING
        yield (
            rng.choices(projects, cum_weights=project_cum)[0],
            rng.choices(types, cum_weights=type_cum)[0],
            status.value,
            0 if pending else 100,
            100,
            f'{{"query":"q{rng.randint(1, 10_000)}"}}',
            '{"papers_found":15}' if status is TaskStatus.COMPLETED else None,
            "ValueError: source unavailable" if status is TaskStatus.FAILED else "",
            created,
            None if pending else started,
            finished if status.is_final else None,
            0 if pending else 1,
        )


def _progress(done: int, count: int, began: float) -> None:
    if done % 1_000_000 == 0 or done == count:
        rate = done / max(time.perf_counter() - began, 1e-9)
        print(f"    loaded {done:,} of {count:,} rows ({rate:,.0f} rows/s)", file=sys.stderr, flush=True)


def _counted(count: int) -> Iterator[Record]:
    began = time.perf_counter()
    for done, record in enumerate(generate(count), start=1):
        yield record
        _progress(done, count, began)


def bulk_load(url: str, count: int) -> float:
    """Migrate, then insert ``count`` rows by the bulk path of the store's database; the seconds taken."""
    with TaskService.open(url):
        pass
    began = time.perf_counter()
    if url.startswith("postgresql"):
        _copy_postgres(url, count)
    else:
        _insert_sqlite(url.removeprefix("sqlite:///"), count)
    return time.perf_counter() - began


def _copy_postgres(url: str, count: int) -> None:
    """COPY into the table without its secondary indexes, then build them (a sort each, not N inserts)."""
    with psycopg.connect(url) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE tablename = 'tasks' AND indexname <> 'tasks_pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        conn.execute("SET timezone = 'UTC'")  # the generated times are UTC without an offset
        with conn.cursor().copy(f"COPY tasks ({COLUMNS}) FROM STDIN") as copy:
            for record in _counted(count):
                copy.write_row(record)
        conn.execute("SET maintenance_work_mem = '256MB'")
        for name, definition in indexes:
            print(f"    building index {name} ...", file=sys.stderr, flush=True)
            conn.execute(definition)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tasks")


def _insert_sqlite(path: str, count: int) -> None:
    """Insert without the secondary indexes in one transaction, then build them."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB for the index builds' sorts
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = 'tasks' AND sql IS NOT NULL"
        ).fetchall()
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.executemany(f"INSERT INTO tasks ({COLUMNS}) VALUES ({', '.join('?' * 12)})", _counted(count))
        for name, definition in indexes:
            print(f"    building index {name} ...", file=sys.stderr, flush=True)
            conn.execute(definition)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


Sample = tuple[float, float]
"""A request: when it began (``time.time()``, one clock for every process here) and its latency, ms."""


def _client(base_url: str, rounds: int, first: list[Sample], second: list[Sample]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(rounds):
            at, began = time.time(), time.perf_counter()
            page = client.get(TASKS, params=QUERY)
            first.append((at, (time.perf_counter() - began) * 1000))
            page.raise_for_status()
            cursor = page.headers["x-next-cursor"]
            at, began = time.time(), time.perf_counter()
            client.get(TASKS, params={**QUERY, "cursor": cursor}).raise_for_status()
            second.append((at, (time.perf_counter() - began) * 1000))


def _client_process(
    base_url: str, rounds: int, go: Barrier, out: Queue[tuple[list[Sample], list[Sample]]]
) -> None:
    first: list[Sample] = []
    second: list[Sample] = []
    go.wait()
    _client(base_url, rounds, first, second)
    out.put((first, second))


def _run_clients(base: str, rounds: int, clients_as: str) -> tuple[list[Sample], list[Sample]]:
    """``CLIENTS`` clients, each ``rounds`` first+next page pairs: threads of this process (they share
    its interpreter lock, so their own queueing for it counts as latency) or processes of their own."""
    first: list[Sample] = []
    second: list[Sample] = []
    if clients_as == "threads":
        threads = [
            threading.Thread(target=_client, args=(base, rounds, first, second)) for _ in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return first, second
    context = get_context("fork")
    go = context.Barrier(CLIENTS)
    out: Queue[tuple[list[Sample], list[Sample]]] = context.Queue()
    processes = [
        context.Process(target=_client_process, args=(base, rounds, go, out)) for _ in range(CLIENTS)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        got_first, got_second = out.get(timeout=600)
        first += got_first
        second += got_second
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a client process exited with code {process.exitcode}")
    return first, second


# -- keeping a loaded store -------------------------------------------------------------------------


@contextmanager
def loaded_store(
    setup: Setup, backend: str, rows: int, keep: Path | None
) -> Iterator[tuple[str, float | None]]:
    """A store holding ``rows`` generated tasks, and the seconds its load took (``None``: reused).

    Without ``keep``, a fresh one removed afterwards. With it, the store is kept (SQLite: a file in
    ``keep``; PostgreSQL: a database named after ``rows``) and reused by the next run of the same
    size: nothing writes to it while it is measured (the server's retention is off, see ``_serving``).
    A load that did not finish leaves no mark and is redone."""
    if keep is None:
        with store_url(setup, backend, f"list_{rows}") as url:
            print(f"  list: loading {rows:,} rows into {backend} ...", file=sys.stderr, flush=True)
            yield url, bulk_load(url, rows)
        return
    if backend == "postgres":
        assert setup.pg_admin is not None
        yield _kept_postgres(setup.pg_admin, rows)
    else:
        yield _kept_sqlite(keep, rows)


def _kept_sqlite(keep: Path, rows: int) -> tuple[str, float | None]:
    keep.mkdir(parents=True, exist_ok=True)
    path = keep / f"list_{rows}.db"
    mark = keep / f"list_{rows}.db.loaded-v{DATA_VERSION}"
    url = f"sqlite:///{path}"
    if mark.exists():
        return url, None
    for stale in [path, *keep.glob(f"{path.name}-*"), *keep.glob(f"{path.name}.loaded*")]:
        stale.unlink(missing_ok=True)
    print(f"  list: loading {rows:,} rows into {path} (kept) ...", file=sys.stderr, flush=True)
    seconds = bulk_load(url, rows)
    mark.write_text(f"{rows}\n")
    return url, seconds


def _kept_postgres(admin: str, rows: int) -> tuple[str, float | None]:
    name = f"taskapi_list_kept_{rows}"
    mark = f"loaded {rows} rows, data version {DATA_VERSION}"
    url = with_database(admin, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if found is not None and found[0] == mark:
            return url, None
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    print(f"  list: loading {rows:,} rows into database {name} (kept) ...", file=sys.stderr, flush=True)
    seconds = bulk_load(url, rows)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(mark)))
    return url, seconds


# -- the server ------------------------------------------------------------------------------------

GC_PROBE = """\
import gc, os, time
_path = os.environ.get("BENCH_GC_LOG")
if _path:
    _began = [0.0, 0.0]
    def _probe(phase, info):
        if phase == "start":
            _began[:] = time.perf_counter(), time.thread_time()
            return
        took = (time.perf_counter() - _began[0]) * 1000
        cpu = (time.thread_time() - _began[1]) * 1000
        if info["generation"] == 2 or took >= 1.0:
            with open(f"{_path}.{os.getpid()}", "a") as out:
                out.write(f"{time.time():.6f} {info['generation']} {took:.3f} {cpu:.3f}\\n")
    gc.callbacks.append(_probe)
"""
"""A ``sitecustomize`` for the served processes. ``BENCH_GC_LOG``: every generation-2 collection, and
any other of 1 ms or more, as ``time gen ms cpu_ms`` lines (wall time and the thread's CPU time) in a
file per process."""


@contextmanager
def _serving(
    setup: Setup, url: str, *, retention: bool, gc_log: Path | None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``taskapi serve --no-worker --processes 2`` on ``url`` (``bench.ours.serving``); its base URL
    once it answers.

    Retention is off unless asked for: the generated tasks span 90 days and the shipped retention is
    30, so a server's first pass would delete about 60 % of them in batches of 1,000 while the clients
    measure (a one-off that a store in steady state does not have, and that leaves far fewer rows)."""
    env = {} if retention else {"TASKAPI_RETENTION_DAYS": "0"}
    if gc_log is not None:
        probe = setup.workdir / "gcprobe"
        probe.mkdir(exist_ok=True)
        (probe / "sitecustomize.py").write_text(GC_PROBE)
        env["PYTHONPATH"] = f"{probe}{os.pathsep}{taskapi_env()['PYTHONPATH']}"
        env["BENCH_GC_LOG"] = str(gc_log)
    with serving(setup, url, "--no-worker", "--processes", str(PROCESSES), env=env) as (client, process):
        yield str(client.base_url).rstrip("/"), process


def _sched(pids: list[int]) -> dict[int, tuple[float, float]]:
    """Per process, seconds on a CPU and seconds runnable but waiting for one (all its threads, from
    ``/proc/PID/task/*/schedstat``): the wait is what other processes of a busy machine cost it."""
    out = {}
    for pid in pids:
        ran = waited = 0
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                fields = (task / "schedstat").read_text().split()
            except OSError:
                continue
            ran, waited = ran + int(fields[0]), waited + int(fields[1])
        out[pid] = (ran / 1e9, waited / 1e9)
    return out


def _own_cpu() -> float:
    """CPU seconds of this process and of its reaped children (client processes, wrk)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _phase(
    before: dict[int, tuple[float, float]], after: dict[int, tuple[float, float]], requests: int
) -> str:
    ran = {pid: after[pid][0] - before[pid][0] for pid in before}
    waited = sum(after[pid][1] - before[pid][1] for pid in before)
    total = max(sum(ran.values()), 1e-9)
    split = " / ".join(f"{spent / total:.0%}" for spent in ran.values() if spent > 0.001)
    return (
        f"server CPU {total / requests * 1e6:.0f} us/request (split over its processes: {split}),"
        f" waited for a CPU {waited * 1000:.0f} ms ({waited / requests * 1e6:.0f} us/request)"
    )


def measure_list(
    setup: Setup,
    backend: str,
    rows: int,
    rounds: int,
    *,
    keep: Path | None = None,
    clients_as: str = "processes",
    retention: bool = False,
    gc_log: bool = False,
) -> list[Row]:
    load = os.getloadavg()[0]
    with loaded_store(setup, backend, rows, keep) as (url, seconds):
        log = setup.workdir / "gc.log" if gc_log else None
        with _serving(setup, url, retention=retention, gc_log=log) as (
            base,
            process,
        ):
            first_warm: list[Sample] = []
            _client(base, 20, first_warm, [])  # warm-up: caches, connections, both pages' plans
            children = descendants(process.pid)
            sched, own = _sched(children), _own_cpu()
            began = time.time()
            first, second = _run_clients(base, rounds, clients_as)
            ended = time.time()
            sched_clients, own_clients = _sched(children), _own_cpu()
            native = _wrk_page(base, setup.workdir) if shutil.which("wrk") else None
            wrk_ended = time.time()
            sched_wrk, own_wrk = _sched(children), _own_cpu()
    requests = len(first) + len(second)
    server_us = sum(sched_clients[pid][0] - sched[pid][0] for pid in sched) / requests * 1e6
    print(
        f"  {backend} {rows:,} rows, load {load:.2f}; clients as {clients_as}: {requests:,} requests in"
        f" {ended - began:.1f} s, {_phase(sched, sched_clients, requests)};"
        f" the clients' CPU {(own_clients - own) / requests * 1e6:.0f} us/request",
        file=sys.stderr,
    )
    if native is not None:
        print(
            f"  wrk: {_phase(sched_clients, sched_wrk, native[2])};"
            f" wrk's CPU {(own_wrk - own_clients) / native[2] * 1e6:.0f} us/request",
            file=sys.stderr,
        )
    _print_slowest(first + second, (began, ended, wrk_ended), log)
    out = []
    for page, samples in (("page 1", first), ("next page (keyset)", second)):
        latencies = [ms for _, ms in samples]
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        out.append(
            Row(
                "list",
                "taskapi",
                backend,
                f"{rows:,} rows, {page}",
                p99,
                "ms p99",
                note=f"{CLIENTS} concurrent client {clients_as}, serve --processes {PROCESSES}",
                extra={
                    "rows": rows,
                    "p50": p50,
                    "p99": p99,
                    "samples": len(samples),
                    "load_seconds": seconds,
                    "load": load,
                    "server_cpu_us": server_us,
                },
            )
        )
    if native is not None:
        p50, p99, count = native
        out.append(
            Row(
                "list",
                "taskapi",
                backend,
                f"{rows:,} rows, page 1 (wrk)",
                p99,
                "ms p99",
                note=f"wrk, {CLIENTS} connections for {WRK_SECONDS} s: {count:,} requests;"
                f" serve --processes {PROCESSES}",
                extra={"rows": rows, "p50": p50, "p99": p99, "requests": count, "load_seconds": seconds},
            )
        )
    return out


def _print_slowest(
    samples: list[Sample], window: tuple[float, float, float], gc_log: Path | None, count: int = 10
) -> None:
    """The slowest requests, when they began (seconds into the run), and the served processes' gen-2
    (or >= 1 ms) collections that overlapped them; ``window``: when the clients began, ended, and
    when wrk ended."""
    began, ended, wrk_ended = window
    collections: list[tuple[float, int, float, float]] = []
    if gc_log is not None:
        for path in gc_log.parent.glob(f"{gc_log.name}.*"):
            for line in path.read_text().splitlines():
                when, gen, took, cpu = line.split()
                collections.append((float(when), int(gen), float(took), float(cpu)))
        for what, start_at, end_at in (("the clients", began, ended), ("wrk", ended, wrk_ended)):
            seen = [c for c in collections if start_at <= c[0] <= end_at]
            worst = max((c[2] for c in seen), default=0.0)
            gen2 = sum(1 for c in seen if c[1] == 2)
            print(
                f"  gc in the served processes while {what} ran: {len(seen)} logged collections,"
                f" gen 2: {gen2}, the longest {worst:.1f} ms",
                file=sys.stderr,
            )
        during = [c for c in collections if began <= c[0] <= wrk_ended]
        for finished, generation, spent, spent_cpu in sorted(during, key=lambda c: c[2], reverse=True)[
            :count
        ]:
            print(
                f"    gc: ended +{finished - began:7.3f} s  gen{generation} {spent:6.1f} ms"
                f" ({spent_cpu:.1f} ms CPU)",
                file=sys.stderr,
            )
    for at, ms in sorted(samples, key=lambda s: s[1], reverse=True)[:count]:
        hits = [
            f"gen{g} {took:.1f} ms"
            for end, g, took, _ in collections
            if at - 0.001 <= end <= at + ms / 1000 + 0.001
        ]
        clock = datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S.%f")[:-3]
        print(
            f"    slow: +{at - began:7.3f} s ({clock} UTC)  {ms:6.1f} ms  {', '.join(hits)}", file=sys.stderr
        )


def _wrk_page(base: str, workdir: Path) -> tuple[float, float, int]:
    """Page 1 from ``wrk`` (a C client: the bench's Python threads take a share of the two cores and
    of the latency): p50 and p99 in ms, and the requests answered; a non-2xx answer fails it."""
    query = "&".join(f"{k}={v}" for k, v in QUERY.items())
    command = ["wrk", "-t1", f"-c{CLIENTS}", f"-d{WRK_SECONDS}s", "--latency", f"{base}{TASKS}?{query}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=workdir).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk had non-2xx answers:\n{out}")
    found = {pct: _ms(value, unit) for pct, value, unit in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", out)}
    total = re.search(r"(\d+) requests in", out)
    if set(found) != {"50", "99"} or total is None:
        raise RuntimeError(f"wrk said:\n{out}")
    return found["50"], found["99"], int(total[1])


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=300, help="first+next page pairs per client")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the loaded store (SQLite: a file in DIR; PostgreSQL: a database named after --rows)"
        " and reuse it in the next run of the same size",
    )
    parser.add_argument(
        "--clients-as",
        choices=["processes", "threads"],
        default="processes",
        help="the 8 clients as processes (default) or as threads of the bench's own process",
    )
    parser.add_argument(
        "--retention",
        action="store_true",
        help="serve with the shipped 30-day retention (prunes the old rows)",
    )
    parser.add_argument("--gc-log", action="store_true", help="log the served processes' gen-2 collections")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskapi-bench-") as folder:
        setup = Setup(pg_admin=args.pg, workdir=Path(folder), quick=True, cancel_grace=1.0)
        for row in measure_list(
            setup,
            args.backend,
            args.rows,
            args.rounds,
            keep=args.keep,
            clients_as=args.clients_as,
            retention=args.retention,
            gc_log=args.gc_log,
        ):
            print(f"{row.variant:<40} p50 {row.extra['p50']:7.2f} ms   p99 {row.extra['p99']:7.2f} ms")


if __name__ == "__main__":
    main()
