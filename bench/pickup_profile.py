"""Where a PostgreSQL pickup's time goes: a py-spy profile of the worker over many pickups.

A fresh PostgreSQL database, a real ``taskapi worker`` (``bench.handlers``), and this process creating
one ``async def`` task at a time through ``TaskService.create()`` with an idle gap between, while
``py-spy record --idle --threads`` samples the worker. Each pickup is timed three ways: the create
call (the INSERT and its NOTIFY committed), the handler's start minus the call's start (the bench's
pickup figure), and minus the call's return. The worker's samples are then split by what each thread
was doing (idle in the event loop or LISTEN, waiting for PostgreSQL, running Python) and counted per
pickup, so the figures say how much of a pickup is the two commits and how much is ours::

    .venv/bin/python -m bench.pickup_profile --samples 300 [--out DIR]

It writes the py-spy output (``collapsed`` stacks, and a flame graph SVG) to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import DEFAULT_PG, Sink, fresh_database, percentile, start, stop, taskapi_env, wait_for
from bench.ours import ASYNC_TYPE, worker_command
from bench.sinks import idle_gap
from taskapi.service import TaskService

PY_SPY = Path(sys.executable).with_name("py-spy")
RATE = 1000  # samples per second per thread

IDLE_LEAVES = (
    "Condition.wait",
    "Event.wait",
    "EpollSelector.select",
    "_worker (concurrent/futures/thread.py:81)",
)


def classify(stack: list[str]) -> str:
    """What one sampled stack (outermost frame first) was doing: ``idle`` (waiting for work or a
    notification), ``postgres: <our caller>`` (a connection waiting for the server's answer) or
    ``python`` (running: ours, psycopg's, asyncio's)."""
    leaf = stack[-1]
    if leaf.startswith(IDLE_LEAVES) or (leaf.startswith("Connection.wait") and "notifies" in stack[-2]):
        return "idle"
    if leaf.startswith("Connection.wait"):
        ours = [f for f in stack if "taskapi/" in f]
        return f"postgres: {ours[0].split(' (')[0] if ours else '?'}"  # the store method waiting
    return "python"


def thread_kind(name: str) -> str:
    """py-spy's thread label as a kind: event loop, executor, LISTEN, pool."""
    name = name.split("): ", 1)[-1]
    if name.startswith("asyncio_"):
        return "executor threads"
    if name == "MainThread":
        return "event loop"
    return "LISTEN thread" if name == "taskapi-listen" else "pool threads"


def record(url: str, samples: int, out: Path) -> dict[str, float]:
    sink = Sink(out / "pickup.jsonl")
    params = {"sink": str(sink.path)}
    calls, from_call, from_return = [], [], []
    with TaskService.open(url) as service:
        worker = start(worker_command(url), taskapi_env(TASKAPI_LOG_LEVEL="warning"), out / "worker.log")
        try:
            sink.wait_event("start", 120, task=service.create(1, ASYNC_TYPE, params).id)
            for _ in range(20):  # warm: prepared statements, the pool, the claim path
                sink.wait_event("start", 30, task=service.create(1, ASYNC_TYPE, params).id)
                idle_gap()
            collapsed = out / "worker.collapsed"
            options = ["--rate", str(RATE), "--idle", "--threads", "--nonblocking", "--format", "raw"]
            spy = subprocess.Popen(
                [str(PY_SPY), "record", "--pid", str(worker.pid), *options, "--output", str(collapsed)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # py-spy attaches
            began_all = time.perf_counter()
            for _ in range(samples):
                began = time.time()
                task_id = service.create(1, ASYNC_TYPE, params).id
                returned = time.time()
                event = sink.wait_event("start", 30, task=task_id)
                calls.append((returned - began) * 1000)
                from_call.append((event["t"] - began) * 1000)
                from_return.append((event["t"] - returned) * 1000)
                idle_gap()
            window = time.perf_counter() - began_all
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
            wait_for(collapsed.exists, 30, "py-spy's output")
        finally:
            stop(worker)
    return {
        "samples": samples,
        "window_s": window,
        "create_call_p50": percentile(calls, 50),
        "pickup_from_call_p50": percentile(from_call, 50),
        "pickup_from_call_p95": percentile(from_call, 95),
        "pickup_from_return_p50": percentile(from_return, 50),
    }


def summarize(collapsed: Path, samples: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per pickup, ms of each kind of thread in each non-idle state; and, on the stacks running
    Python, ms per pickup of each frame (inclusive)."""
    states: defaultdict[str, float] = defaultdict(float)
    frames: defaultdict[str, float] = defaultdict(float)
    scale = 1000 / RATE / samples  # samples -> ms per pickup
    for line in collapsed.read_text().splitlines():
        text, _, count = line.rpartition(" ")
        thread, *stack = text.split(";")
        state = classify(stack) if stack else "idle"
        if state == "idle":
            continue
        states[f"{thread_kind(thread)}, {state}"] += int(count) * scale
        if state == "python":
            for frame in set(stack):
                if frame.split(" (", 1)[-1].startswith(("taskapi/", "psycopg", "asyncio/", "bench/")):
                    frames[frame] += int(count) * scale
    return states, frames


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--pg", default=os.environ.get("TASKAPI_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--out", type=Path, help="keep py-spy's output here (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskapi-pickup-profile-") as folder:
        out = args.out or Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        load = os.getloadavg()[0]
        with fresh_database(args.pg, "pickup_profile") as url:
            figures = record(url, args.samples, out)
        states, frames = summarize(out / "worker.collapsed", args.samples)
    print(f"load {load:.2f}; " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    print("\nthe worker's threads, ms per pickup when not idle:")
    for key, ms in sorted(states.items()):
        print(f"  {ms:8.2f}  {key}")
    print("\nframes running Python in the worker, ms per pickup (inclusive), top 40:")
    for frame, ms in sorted(frames.items(), key=lambda item: -item[1])[:40]:
        print(f"  {ms:8.3f}  {frame}")


if __name__ == "__main__":
    main()
