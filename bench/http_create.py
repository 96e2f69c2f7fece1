"""Creating over HTTP with concurrent clients (issue 12): ``POST /api/v1/tasks`` from 8 keep-alive
connections against ``taskapi serve --no-worker --processes 2``, for ``bench.ours``'s create figures.

The load is ``wrk`` with a POST script (else ``bench.http_rps``'s asyncio client); the rate is the
answers over the time, checked against the rows the store gained; the serving processes' CPU per
request (supervisor and API processes, from ``/proc``) goes beside it.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg

from bench import http_rps
from bench.common import Row, descendants, process_cpu

TASKS = "/api/v1/tasks"
CLIENTS = 8
PROCESSES = 2  # issue 12: the HTTP figures are of ``serve --processes 2`` on this 2-core machine
ASYNC_TYPE = "index"
SYSTEM = "taskapi"


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and every process below it (``serve --processes N``'s children)."""
    return sum(process_cpu(p) or 0.0 for p in [pid, *descendants(pid)])


def measure(url: str, base: str, pid: int, backend: str, seconds: float, workdir: Path) -> Row:
    """``CLIENTS`` keep-alive connections posting creates for a fixed time (wrk, else the asyncio
    client of ``bench.http_rps``); checked against the store's count; CPU per request of the serving
    processes beside the rate."""
    load = http_rps.Load("POST", TASKS, json.dumps({"project_id": 1, "task_type": ASYNC_TYPE}).encode())
    http_rps.drive(base, load, 1.0, CLIENTS, workdir)  # warm: every process, its pool
    before, cpu = count(url), tree_cpu(pid)
    answered, errors, elapsed = http_rps.drive(base, load, seconds, CLIENTS, workdir)
    cpu_us = (tree_cpu(pid) - cpu) / max(answered, 1) * 1e6
    stored = count(url) - before
    variant = f"HTTP POST /tasks, {CLIENTS} clients, serve --processes {PROCESSES}"
    if errors or stored < answered - errors:
        note = f"{errors} non-2xx answers; {stored} of {answered} in the store"
        return Row("create", SYSTEM, backend, variant, None, "tasks/s", note=note)
    return Row(
        "create",
        SYSTEM,
        backend,
        variant,
        answered / elapsed,
        "tasks/s",
        note=f"{cpu_us:,.0f} µs CPU/request (serving processes); {stored:,} created",
        extra={"n": answered, "stored": stored, "seconds": elapsed, "server_cpu_us": cpu_us},
    )


def count(url: str) -> int:
    query = "SELECT count(*) FROM tasks"
    if url.startswith("postgresql"):
        with psycopg.connect(url) as conn:
            row = conn.execute(query).fetchone()
    else:
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])
