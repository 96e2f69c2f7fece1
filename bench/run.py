"""Benchmarks of issues 5 and 12 in one run: the raw database limits, our service, the peers, one table.

    .venv/bin/python -m bench.run            # full: 10,000-task drains, list at 10k and 10M rows
    .venv/bin/python -m bench.run --quick    # small sizes, a few minutes
    .venv/bin/python -m bench.run --only ours,raw --peers pgqueuer,huey

``make bench`` / ``make bench-quick`` run the two first. Results go to ``bench/results/<stamp>.json``
and ``.md`` (the processes' logs to ``<stamp>-logs/``); a full run of every section and peer (or
``--docs``) also rewrites ``docs/benchmarks.md``. Nothing is cached between runs except the peers'
venvs (``bench/.venvs``), and nothing here gates CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg

from bench import docs, http_rps, list_latency, ours, raw
from bench.common import CONCURRENCY, DEFAULT_PG, ROOT, Row, postgres_reachable
from bench.peers_runner import PEERS, PeerRun, redis_server, redis_version, run_peer
from bench.report import print_table, write_results

SECTIONS = ("raw", "ours", "http", "peers", "list", "memory")


def _guard(rows: list[Row], what: str, call: Callable[[], list[Row]], metric: str, backend: str) -> None:
    """Run one measurement; a failure becomes a row saying so, and the run goes on. Each row gets the
    machine's 1-minute load average when it began (``extra.load``, and in the note): on a shared
    machine it says how far to trust a wall-clock figure."""
    load = os.getloadavg()[0]
    print(f"- {what} (load {load:.2f})", file=sys.stderr, flush=True)
    began = time.monotonic()
    try:
        got = call()
    except Exception as exc:  # a broken measurement must not hide the others
        traceback.print_exc()
        got = [Row(metric, "taskapi", backend, what, None, "", note=f"failed: {type(exc).__name__}: {exc}")]
    for row in got:
        row.extra["load"] = round(load, 2)
        row.note = f"{row.note}; load {load:.1f}" if row.note else f"load {load:.1f}"
    rows += got
    print(f"  ({time.monotonic() - began:.1f} s)", file=sys.stderr, flush=True)


def run_ours(setup: ours.Setup, backends: list[str], rows: list[Row]) -> None:
    for backend in backends:
        _guard(rows, f"create, {backend}", partial(ours.measure_create, setup, backend), "create", backend)
    for backend in backends:
        for kind in ("async", "def"):
            for workers in (1, 3) if backend == "postgres" else (1,):
                what = f"drain {kind}, {workers} worker(s), {backend}"
                _guard(
                    rows, what, partial(ours.measure_drain, setup, backend, kind, workers), "drain", backend
                )
    for backend in backends:
        for kind in ("async", "def"):
            what = f"pickup {kind}, {backend}"
            _guard(rows, what, partial(ours.measure_pickup, setup, backend, kind), "pickup", backend)
    for backend in backends:
        _guard(rows, f"cancel, {backend}", partial(ours.measure_cancel, setup, backend), "cancel", backend)


def run_http(setup: ours.Setup, rows: list[Row]) -> None:
    """Issue 12's hot routes: one ``serve`` process on SQLite, 8 connections, req/s and CPU/request."""
    seconds = 3.0 if setup.quick else 5.0
    measure = partial(
        http_rps.measure, setup.workdir / "http", seconds=seconds, repeat=1 if setup.quick else 3
    )
    (setup.workdir / "http").mkdir(exist_ok=True)
    _guard(rows, "http: hot routes, one process, sqlite", measure, "http", "sqlite")


def run_list(
    setup: ours.Setup, backends: list[str], sizes: list[int], rounds: int, keep: Path | None, rows: list[Row]
) -> None:
    for backend in backends:
        for size in sizes:
            what = f"list at {size:,} rows, {backend}"
            measure = partial(list_latency.measure_list, setup, backend, size, rounds, keep=keep)
            _guard(rows, what, measure, "list", backend)


def run_memory(setup: ours.Setup, backends: list[str], rows: list[Row]) -> None:
    for backend in backends:
        _guard(rows, f"memory, {backend}", partial(ours.measure_memory, setup, backend), "memory", backend)


def run_raw(setup: ours.Setup, rows: list[Row]) -> None:
    seconds = 1.5 if setup.quick else 5.0
    if setup.pg_admin:
        _guard(rows, "raw PostgreSQL", partial(raw.postgres, setup.pg_admin, seconds), "raw", "postgres")
    _guard(rows, "raw SQLite", partial(raw.sqlite, setup.workdir, seconds), "raw", "sqlite")


def run_peers(
    setup: ours.Setup, names: list[str], redis: tuple[int | None, str], refresh: bool
) -> tuple[dict[str, str], list[Row]]:
    sizes = {
        "n_drain": setup.n_drain,
        "n_create": setup.n_create,
        "n_bulk": setup.n_bulk,
        "samples": setup.samples,
    }
    run = PeerRun(setup.pg_admin, redis[0], redis[1], setup.workdir, sizes, CONCURRENCY, refresh)
    found: dict[str, str] = {}
    rows: list[Row] = []
    for peer in PEERS:
        if peer.name in names:
            load = os.getloadavg()[0]
            print(f"- peer {peer.name} (load {load:.2f})", file=sys.stderr, flush=True)
            began = time.monotonic()
            found[peer.name], got = run_peer(peer, run)
            for row in got:
                row.extra["load"] = round(load, 2)
                row.note = f"{row.note}; load {load:.1f}" if row.note else f"load {load:.1f}"
            rows += got
            print(f"  ({time.monotonic() - began:.1f} s)", file=sys.stderr, flush=True)
    return found, rows


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
        info["ram_gib"] = round(int(mem.split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    return info


def versions(pg_admin: str | None, redis_port: int | None, peers: dict[str, str]) -> dict[str, str]:
    found = {
        "taskapi": version("taskapi"),
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
    }
    for package in ("fastapi", "uvicorn", "psycopg", "pydantic"):
        found[package] = version(package)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        found["taskapi commit"] = commit.stdout.strip()
    except OSError:
        pass
    if pg_admin:
        with psycopg.connect(pg_admin) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            found["postgresql"] = str(row[0]) if row else "?"
    if redis_port:
        found["redis"] = redis_version(redis_port)
    return found | peers


def _keep_logs(workdir: Path, to: Path) -> None:
    """The processes' logs outlive the run's temporary directory (a failed row points at them)."""
    for log in workdir.rglob("*.log"):
        target = to / log.relative_to(workdir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--peers", default=",".join(p.name for p in PEERS), help="peers to run, comma-separated"
    )
    parser.add_argument("--backends", default="sqlite,postgres", help="our stores to measure")
    parser.add_argument("--pg", default=os.environ.get("TASKAPI_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--list-sizes", help="rows for the list latency, comma-separated (default 10k,10M)")
    parser.add_argument(
        "--list-keep",
        type=Path,
        help="keep the list's loaded stores in this folder (SQLite) and in kept databases (PostgreSQL), "
        "and reuse them in later runs (a 10,000,000-row load takes minutes)",
    )
    parser.add_argument("--cancel-grace", type=float, default=1.0, help="--cancel-grace of our server (s)")
    parser.add_argument("--refresh-peers", action="store_true", help="reinstall the peers' venvs")
    parser.add_argument(
        "--docs", action="store_true", help="rewrite docs/benchmarks.md (a complete full run always does)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--docs-from", type=Path, metavar="JSON", help="only rewrite docs/benchmarks.md from a run's results"
    )
    return parser.parse_args()


def docs_from(path: Path) -> None:
    """Render ``docs/benchmarks.md`` again from a run's JSON (after the page's text changed)."""
    data = json.loads(path.read_text())
    docs.write(ROOT / "docs" / "benchmarks.md", data["meta"], [Row(**row) for row in data["rows"]])
    print(f"docs/benchmarks.md rewritten from {path}")


def main() -> None:
    args = parse()
    if args.docs_from:
        docs_from(args.docs_from)
        return
    began, stamp = time.monotonic(), datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    sections = set(args.only.split(","))
    unreachable = postgres_reachable(args.pg)
    if unreachable:
        print(f"PostgreSQL unreachable at {args.pg}: {unreachable}; its figures are skipped", file=sys.stderr)
    pg_admin = None if unreachable else args.pg
    backends = [b for b in args.backends.split(",") if b == "sqlite" or pg_admin]
    default_sizes = [10_000, 100_000] if args.quick else [10_000, 10_000_000]
    sizes = [int(s) for s in args.list_sizes.split(",")] if args.list_sizes else default_sizes
    rows: list[Row] = []
    peer_versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="taskapi-bench-") as folder:
        setup = ours.Setup(pg_admin, Path(folder), args.quick, args.cancel_grace)
        with redis_server(setup.workdir / "redis.log") as redis:
            if "raw" in sections:
                run_raw(setup, rows)
            if "ours" in sections:
                run_ours(setup, backends, rows)
            if "http" in sections:
                run_http(setup, rows)
            if "peers" in sections:
                peer_versions, got = run_peers(setup, args.peers.split(","), redis, args.refresh_peers)
                rows += got
            if "list" in sections:
                run_list(setup, backends, sizes, 100 if args.quick else 300, args.list_keep, rows)
            if "memory" in sections:
                run_memory(setup, backends, rows)
            _keep_logs(setup.workdir, args.out / f"{stamp}-logs")
            meta = {
                "stamp": stamp,
                "mode": "quick" if args.quick else "full",
                "command": shlex.join([".venv/bin/python", "-m", "bench.run", *sys.argv[1:]]),
                "seconds": round(time.monotonic() - began),
                "machine": machine(),
                "versions": versions(pg_admin, redis[0], peer_versions),
                "redis": redis[1],
                "concurrency": CONCURRENCY,
                "cancel_grace": args.cancel_grace,
            }
    json_path, md_path = write_results(args.out, stamp, meta, rows)  # first: a long run's figures are kept
    print_table(rows)
    print(f"\nresults: {json_path} and {md_path}; took {meta['seconds']} s")
    complete = sections == set(SECTIONS) and set(args.peers.split(",")) >= {p.name for p in PEERS}
    if args.docs or (complete and not args.quick):
        docs.write(ROOT / "docs" / "benchmarks.md", meta, rows)
        print("docs/benchmarks.md rewritten")


if __name__ == "__main__":
    main()
