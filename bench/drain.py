"""Drain rate of N no-op tasks: PostgreSQL with 1 and 3 ``taskapi worker --burst`` processes, SQLite with 1.

Usage: ``python bench/drain.py [--n 10000] [--pg postgresql://postgres@127.0.0.1:5432/test]``.
Each run gets a fresh database, bulk-creates the tasks with ``TaskService.create_many`` in batches,
starts the workers (async no-op handler of this module, concurrency 10) and waits for them to exit.
The rate is read from the store: ``count(completed) == N`` is checked, and the elapsed time is
``max(completed_at) - min(started_at)``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from taskapi import TaskContext, handler
from taskapi.service import TaskService

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000


@handler("index")
async def noop(ctx: TaskContext) -> Any:
    return None


def _create(url: str, n: int) -> None:
    with TaskService.open(url) as service:
        for start in range(0, n, BATCH):
            service.create_many([(1, "index", None)] * min(BATCH, n - start))


def _run_workers(url: str, workers: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAPI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "taskapi", "worker", "--burst", "--db", url]
    command += ["--handlers", "bench.drain", "--concurrency", "10"]
    began = time.monotonic()
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    for process in processes:
        if process.wait(600) != 0:
            raise SystemExit(f"a worker exited with {process.returncode}")
    return time.monotonic() - began


def _pg_stats(url: str) -> tuple[int, float]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'completed'),"
            " extract(epoch FROM max(completed_at) - min(started_at)) FROM tasks"
        ).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def _sqlite_stats(path: Path) -> tuple[int, float]:
    with closing(sqlite3.connect(path)) as conn:
        row = conn.execute(
            "SELECT sum(status = 'completed'),"
            " (julianday(max(completed_at)) - julianday(min(started_at))) * 86400 FROM tasks"
        ).fetchone()
    return int(row[0]), float(row[1])


def _report(label: str, n: int, completed: int, elapsed: float, wall: float) -> None:
    if completed != n:
        raise SystemExit(f"{label}: {completed} of {n} tasks completed")
    print(
        f"{label}: {n} tasks in {elapsed:.2f} s = {n / elapsed:,.0f} tasks/s"
        f" (wall incl. start-up {wall:.2f} s)"
    )


def bench_postgres(admin: str, n: int, workers: int) -> None:
    name = f"taskapi_bench_{os.getpid()}_{workers}"
    url = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        _create(url, n)
        wall = _run_workers(url, workers)
        _report(f"PostgreSQL, {workers} worker(s)", n, *_pg_stats(url), wall)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def bench_sqlite(n: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.db"
        url = f"sqlite:///{path}"
        _create(url, n)
        wall = _run_workers(url, 1)
        _report("SQLite, 1 worker", n, *_sqlite_stats(path), wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument(
        "--pg",
        default=os.environ.get("TASKAPI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    for workers in (1, 3):
        bench_postgres(args.pg, args.n, workers)
    bench_sqlite(args.n)


if __name__ == "__main__":
    main()
