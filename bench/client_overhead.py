"""The client's overhead per call against raw httpx, on a real ``taskapi serve``.

Seeds a fresh SQLite store with tasks, serves it with ``taskapi serve --no-worker``, and times the
same requests made three ways, in interleaved rounds (so every variant shares each time window of a
busy machine): raw httpx returning the body's bytes, raw httpx with ``response.json()``, and
``TaskClient`` (request building, envelope check, decoding into ``Task`` / ``ListedTask``). Two
calls: ``get`` (one task in full) and ``list`` (a page of 50). Prints, per call, the median over
rounds of this process's CPU time per call (what the client costs its caller; the server's work is
in another process) and of wall time, in µs, and the client's overhead over raw httpx + json::

    .venv/bin/python -m bench.client_overhead [--rounds 15] [--calls 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port, start, stop, taskapi_command, taskapi_env, wait_for
from taskapi.client import TaskClient
from taskapi.service import TaskService

Variant = tuple[str, Callable[[], Any]]


def measure(variants: list[Variant], rounds: int, calls: int) -> dict[str, tuple[float, float]]:
    """Median CPU and wall µs per call of each variant, over ``rounds`` interleaved rounds."""
    cpu: dict[str, list[float]] = {name: [] for name, _ in variants}
    wall: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _name, call in variants:  # warm up connections and caches
        for _ in range(20):
            call()
    for _ in range(rounds):
        for name, call in variants:
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for _ in range(calls):
                call()
            cpu[name].append((time.process_time() - cpu_start) / calls * 1e6)
            wall[name].append((time.perf_counter() - wall_start) / calls * 1e6)
    return {name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name, _ in variants}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200, help="calls per variant per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with TaskService.open(url) as service:
            ids = [
                task.id
                for task in service.create_many([(1, "search", {"query": "q", "n": i}) for i in range(200)])
            ]
        port = free_port()
        command = taskapi_command("serve", "--no-worker", "--db", url, "--port", str(port))
        process = start(command, taskapi_env(TASKAPI_LOG_LEVEL="warning"), Path(tmp) / "serve.log")
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _answers(base), timeout=60, what="taskapi serve to answer")
            rows = _run(base, ids[-1], args.rounds, args.calls)
        finally:
            stop(process)
    print(f"{'call':<6} {'variant':<16} {'cpu µs/call':>12} {'wall µs/call':>13}")
    for call, results in rows.items():
        for variant, (cpu, wall) in results.items():
            print(f"{call:<6} {variant:<16} {cpu:>12.0f} {wall:>13.0f}")
        base_cpu, base_wall = results["httpx + json"]
        cpu, wall = results["TaskClient"]
        print(f"{call:<6} {'overhead':<16} {cpu - base_cpu:>+12.0f} {wall - base_wall:>+13.0f}")


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _run(base: str, task_id: int, rounds: int, calls: int) -> dict[str, dict[str, tuple[float, float]]]:
    with httpx.Client(base_url=base) as raw, TaskClient(base) as client:
        get_path, list_path = f"/api/v1/tasks/{task_id}", "/api/v1/tasks"
        gets: list[Variant] = [
            ("httpx bytes", lambda: raw.get(get_path).content),
            ("httpx + json", lambda: raw.get(get_path).json()),
            ("TaskClient", lambda: client.get(task_id)),
        ]
        lists: list[Variant] = [
            ("httpx bytes", lambda: raw.get(list_path, params={"limit": 50}).content),
            ("httpx + json", lambda: raw.get(list_path, params={"limit": 50}).json()),
            ("TaskClient", lambda: client.page(limit=50)),
        ]
        return {"get": measure(gets, rounds, calls), "list": measure(lists, rounds, calls)}


if __name__ == "__main__":
    main()
