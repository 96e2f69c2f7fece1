"""Requests per second and CPU per request of the hot task routes, through one real server process.

One ``taskapi serve --no-worker`` process on a fresh SQLite file holding ``--rows`` pending tasks of
one project, and a load generator keeping ``--connections`` keep-alive connections busy for
``--seconds`` per route: the 50-row list (``GET /api/v1/tasks?limit=50``), a detail, a create, a
cancel (each of a pending task of its own). The load is ``wrk`` when it is installed (Debian: ``apt
install wrk``), else a small asyncio client of this file (which takes more of the machine's CPU).

CPU per request is the server process's own (user + system, every thread, from ``/proc``) over the
requests it answered: it does not move with what else the machine runs, where requests per second
does. ``--ab`` runs the same server with the fast path of the hot routes off too (FastAPI answering
them), alternating the two in the same window, ``--repeat`` times; the figures are medians::

    .venv/bin/python -m bench.http_rps                 # fast path, 5 s per route
    .venv/bin/python -m bench.http_rps --ab --repeat 3 # and FastAPI's routes, alternated

``measure()`` answers the figures as ``bench.common.Row``s for ``bench.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

from bench.common import Row, free_port, start, stop, taskapi_env, wait_for

TASKS = "/api/v1/tasks"
CREATE_BODY = b'{"project_id": 1, "task_type": "index", "params": {"query": "graphene"}}'
ROUTES = ("list", "detail", "create", "cancel")
TARGETS = {"list": 2000.0, "create": 2500.0}  # req/s, one process, SQLite (issue 12)
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Load:
    """What one route's run sends: method, path, body, and for a cancel the first id it cancels."""

    method: str
    path: str
    body: bytes = b""
    first_id: int = 0


@dataclass(frozen=True, slots=True)
class Result:
    requests: int
    errors: int
    seconds: float
    cpu_seconds: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / max(self.requests, 1) * 1e6


# -- the server ----------------------------------------------------------------------------------------


def serve_main(db_url: str, port: int, fast_path: bool) -> None:
    """The server process: ``taskapi serve`` itself, with the fast path off when asked (the bench's
    only switch: ``create_app``'s ``fast_path``, which ``serve`` leaves at its default)."""
    import taskapi.app
    from taskapi.api import create_app
    from taskapi.settings import Settings

    if not fast_path:
        taskapi.app.create_app = partial(create_app, fast_path=False)  # type: ignore[attr-defined]
    settings = Settings(database_url=db_url, port=port, run_worker=False, log_level="warning")  # type: ignore[call-arg]
    taskapi.app.serve(settings)


def cpu_seconds(pid: int) -> float:
    """User + system time of a process, all its threads (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    next_id: int  # the next pending task a cancel run takes

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


@contextmanager
def server(workdir: Path, label: str, rows: int, fast_path: bool) -> Iterator[Server]:
    from taskapi.service import TaskService

    db = workdir / f"{label}.db"
    url = f"sqlite:///{db}"
    with TaskService.open(url) as service:
        for begin in range(0, rows, 1000):
            service.create_many([(1, "index", {"i": i}) for i in range(begin, min(rows, begin + 1000))])
    port = free_port()
    command = [sys.executable, "-m", "bench.http_rps", "serve", url, str(port), "1" if fast_path else "0"]
    process = start(command, taskapi_env(), workdir / f"{label}.log")
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: see {label}.log")
        try:
            return httpx.get(f"{base}{TASKS}?limit=1", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, 60, "the server to answer", interval=0.05)
        yield Server(process, base, next_id=1)
    finally:
        stop(process)


def load_of(route: str, srv: Server) -> Load:
    if route == "list":
        return Load("GET", f"{TASKS}?limit=50")
    if route == "detail":
        return Load("GET", f"{TASKS}/42")
    if route == "create":
        return Load("POST", TASKS, CREATE_BODY)
    return Load("POST", "", first_id=srv.next_id)


# -- the load ----------------------------------------------------------------------------------------


_WRK_SCRIPT = """
wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
local next_id = {first_id}
if next_id > 0 then
  request = function()
    local path = "/api/v1/tasks/" .. next_id .. "/cancel"
    next_id = next_id + 1
    return wrk.format("POST", path)
  end
end
"""


def run_wrk(base: str, load: Load, seconds: float, connections: int, workdir: Path) -> tuple[int, int, float]:
    script = workdir / "load.lua"
    body = "nil" if not load.body else '"' + load.body.decode().replace('"', '\\"') + '"'
    script.write_text(_WRK_SCRIPT.format(method=load.method, body=body, first_id=load.first_id))
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "-s",
        str(script),
        base + load.path,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if found is None:
        raise RuntimeError(f"wrk said:\n{out}")
    elapsed = float(found[2]) / (1000 if found[3] == "ms" else 1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return int(found[1]), int(errors[1]) if errors else 0, elapsed


def run_python(base: str, load: Load, seconds: float, connections: int) -> tuple[int, int, float]:
    """The load without wrk: ``connections`` asyncio keep-alive connections, one request at a time each."""
    host, port = base.removeprefix("http://").split(":")
    counter = iter(range(load.first_id, 1 << 62))

    def request() -> bytes:
        path = f"{TASKS}/{next(counter)}/cancel" if load.first_id else load.path
        head = f"{load.method} {path} HTTP/1.1\r\nHost: {host}\r\ncontent-length: {len(load.body)}\r\n"
        return (head + "content-type: application/json\r\n\r\n").encode() + load.body

    async def one(deadline: float, tally: list[int]) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < deadline:
            writer.write(request())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
            await reader.readexactly(length)
            tally[0] += 1
            tally[1] += not head.startswith((b"HTTP/1.1 2", b"HTTP/1.1 3"))
        writer.close()

    async def main() -> tuple[int, int, float]:
        tally = [0, 0]
        began = time.perf_counter()
        await asyncio.gather(*(one(began + seconds, tally) for _ in range(connections)))
        return tally[0], tally[1], time.perf_counter() - began

    return asyncio.run(main())


def drive(base: str, load: Load, seconds: float, connections: int, workdir: Path) -> tuple[int, int, float]:
    """``connections`` keep-alive connections sending ``load`` for ``seconds``: wrk when installed, else
    the asyncio client; answers (requests answered, non-2xx/3xx among them, seconds elapsed)."""
    if shutil.which("wrk"):
        return run_wrk(base, load, seconds, connections, workdir)
    return run_python(base, load, seconds, connections)


def run_route(srv: Server, route: str, seconds: float, connections: int, workdir: Path) -> Result:
    load = load_of(route, srv)
    cpu = srv.cpu()
    requests, errors, elapsed = drive(srv.base, load, seconds, connections, workdir)
    used = srv.cpu() - cpu
    if route == "cancel":
        srv.next_id += requests + connections * 2  # those in flight at the end may have been sent too
    return Result(requests, errors, elapsed, used)


# -- the measurement ---------------------------------------------------------------------------------


def measure(
    workdir: Path,
    *,
    seconds: float = 5.0,
    connections: int = 8,
    repeat: int = 1,
    ab: bool = False,
    rows: int = 60_000,
) -> list[Row]:
    """The figures of every route (and, with ``ab``, of FastAPI's routes too, alternated with them in
    the same window), medians over ``repeat`` runs; one ``Row`` per route and variant."""
    variants = [True, False] if ab else [True]
    runs: dict[tuple[str, bool], list[Result]] = {}
    with server(workdir, "fast", rows, True) as fast, _maybe_server(workdir, rows, ab) as framework:
        servers = {True: fast, False: framework}
        for _ in range(repeat):
            for route in ROUTES:
                for variant in variants:
                    srv = servers[variant]
                    assert srv is not None
                    runs.setdefault((route, variant), []).append(
                        run_route(srv, route, seconds, connections, workdir)
                    )
    return [_row(route, variant, runs[route, variant], connections) for route, variant in runs]


@contextmanager
def _maybe_server(workdir: Path, rows: int, wanted: bool) -> Iterator[Server | None]:
    if not wanted:
        yield None
        return
    with server(workdir, "framework", rows, False) as srv:
        yield srv


def _row(route: str, fast_path: bool, results: list[Result], connections: int) -> Row:
    rps = statistics.median(r.rps for r in results)
    cpu = statistics.median(r.cpu_us for r in results)
    errors = sum(r.errors for r in results)
    variant = f"HTTP {route}, {'fast path' if fast_path else 'FastAPI routes'}"
    target = TARGETS.get(route) if fast_path else None
    note = f"{cpu:,.0f} µs CPU/request (server process); {connections} connections"
    if errors:
        note += f"; {errors} non-2xx answers"
    return Row(
        "http",
        "taskapi",
        "sqlite",
        variant,
        rps,
        "req/s",
        note=note,
        extra={"cpu_us_per_request": cpu, "runs": len(results), "target": target, "errors": errors},
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve_main(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per route and run (default 5)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="runs per route; medians are printed")
    parser.add_argument("--rows", type=int, default=60_000, help="pending tasks in the store at start")
    parser.add_argument("--ab", action="store_true", help="FastAPI's routes too, alternated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskapi-http-rps-") as workdir:
        rows = measure(
            Path(workdir),
            seconds=args.seconds,
            connections=args.connections,
            repeat=args.repeat,
            ab=args.ab,
            rows=args.rows,
        )
    print(f"{'route':<36} {'req/s':>9} {'CPU µs/req':>11}  target")
    for row in rows:
        target = row.extra["target"]
        met = (
            "" if target is None else f">= {target:,.0f} req/s: {'met' if row.value >= target else 'NOT met'}"
        )
        print(f"{row.variant:<36} {row.value:>9,.0f} {row.extra['cpu_us_per_request']:>11,.0f}  {met}")


if __name__ == "__main__":
    main()
