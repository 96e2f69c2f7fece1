"""List latency at scale, over HTTP: does a page of 50 cost the same at 10,000,000 rows as at 10,000?

Loads N tasks straight into a fresh, migrated store (SQLite: ``executemany`` in one transaction;
PostgreSQL: ``COPY``; the secondary indexes are dropped first and built afterwards, as the schema
defines them), then serves it with a real ``taskapi serve --no-worker --processes 2`` and has 8 concurrent
clients ask ``GET /api/v1/tasks?project_id=1&status=completed&limit=50`` and the next keyset page
(the ``X-Next-Cursor`` of the first); and, when ``wrk`` is installed, page 1 from ``wrk`` with 8
connections for 5 s (a client that takes far less of the machine). Prints p50/p99 per page. Standalone::

    .venv/bin/python -m bench.list_latency --rows 100000 [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from bench.common import DEFAULT_PG, Row, percentile
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
    TaskStatus.COMPLETED: 80,
    TaskStatus.PENDING: 10,
    TaskStatus.FAILED: 5,
    TaskStatus.CANCELLED: 3,
    TaskStatus.RUNNING: 2,
}
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


def _client(base_url: str, rounds: int, first: list[float], second: list[float]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(rounds):
            began = time.perf_counter()
            page = client.get(TASKS, params=QUERY)
            first.append((time.perf_counter() - began) * 1000)
            page.raise_for_status()
            cursor = page.headers["x-next-cursor"]
            began = time.perf_counter()
            client.get(TASKS, params={**QUERY, "cursor": cursor}).raise_for_status()
            second.append((time.perf_counter() - began) * 1000)


def measure_list(setup: Setup, backend: str, rows: int, rounds: int) -> list[Row]:
    with store_url(setup, backend, f"list_{rows}") as url:
        print(f"  list: loading {rows:,} rows into {backend} ...", file=sys.stderr, flush=True)
        seconds = bulk_load(url, rows)
        with serving(setup, url, "--no-worker", "--processes", str(PROCESSES)) as (client, _):
            base = str(client.base_url)
            warm_first: list[float] = []
            _client(base, 5, warm_first, [])  # warm-up: caches, connections
            first: list[float] = []
            second: list[float] = []
            threads = [
                threading.Thread(target=_client, args=(base, rounds, first, second)) for _ in range(CLIENTS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            native = _wrk_page(base, setup.workdir) if shutil.which("wrk") else None
    out = []
    for page, samples in (("page 1", first), ("next page (keyset)", second)):
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        out.append(
            Row(
                "list",
                "taskapi",
                backend,
                f"{rows:,} rows, {page}",
                p99,
                "ms p99",
                note=f"{CLIENTS} concurrent clients, serve --processes {PROCESSES}",
                extra={
                    "rows": rows,
                    "p50": p50,
                    "p99": p99,
                    "samples": len(samples),
                    "load_seconds": seconds,
                },
            )
        )
    if native is not None:
        p50, p99, requests = native
        out.append(
            Row(
                "list",
                "taskapi",
                backend,
                f"{rows:,} rows, page 1 (wrk)",
                p99,
                "ms p99",
                note=f"wrk, {CLIENTS} connections for {WRK_SECONDS} s: {requests:,} requests;"
                f" serve --processes {PROCESSES}",
                extra={"rows": rows, "p50": p50, "p99": p99, "requests": requests, "load_seconds": seconds},
            )
        )
    return out


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
    parser.add_argument("--rounds", type=int, default=50, help="first+next page pairs per client")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg", default=DEFAULT_PG)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskapi-bench-") as folder:
        setup = Setup(pg_admin=args.pg, workdir=Path(folder), quick=True, cancel_grace=1.0)
        for row in measure_list(setup, args.backend, args.rows, args.rounds):
            print(f"{row.variant:<40} p50 {row.extra['p50']:7.2f} ms   p99 {row.extra['p99']:7.2f} ms")


if __name__ == "__main__":
    main()
