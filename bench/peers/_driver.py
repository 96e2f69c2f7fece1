"""The frame every peer driver shares: read the spec, run one job, print the rows as JSON.

A driver runs as ``python -m bench.peers.<name> SPEC_JSON`` with its peer's venv's Python (the bench
orchestrator in our venv starts it), so nothing here may import more than the standard library and
``bench.sinks``. The peer's packages are imported with ``importlib`` in the drivers: they are not in
our venv, and mypy sees them as ``Any``.

Jobs: ``create`` (one call per task, and the peer's bulk path), ``drain:async``, ``drain:def``,
``pickup:async``, ``pickup:def``, ``cancel:async``, ``cancel:def``. A job a peer cannot do answers a
row without a value and says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.sinks import Sink, idle_gap, percentile, sink_write

KINDS = ("async", "def")


@dataclass(frozen=True, slots=True)
class Spec:
    job: str
    workdir: str
    pg: str | None
    redis: str | None
    n_drain: int
    n_create: int
    n_bulk: int
    samples: int
    concurrency: int

    @property
    def kind(self) -> str:
        """``async`` or ``def``: the handler kind of a drain/pickup/cancel job."""
        return self.job.partition(":")[2]

    def sink(self, name: str) -> Sink:
        return Sink(Path(self.workdir) / f"{name}.jsonl")


Result = dict[str, Any]
Job = Callable[[Spec], list[Result]]


def row(
    metric: str, backend: str, variant: str, value: float | None, unit: str, note: str = "", **extra: Any
) -> Result:
    return {
        "metric": metric,
        "backend": backend,
        "variant": variant,
        "value": value,
        "unit": unit,
        "note": note,
        "extra": extra,
    }


def spawn_worker(spec: Spec, job: str) -> subprocess.Popen[bytes]:
    """This driver again, in its own process, running ``job`` (a worker) until SIGTERM."""
    module = sys.modules["__main__"].__spec__
    assert module is not None, "run drivers with python -m bench.peers.<name>"
    argument = json.dumps(asdict(replace(spec, job=job)))
    log = (Path(spec.workdir) / "peer-worker.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", module.name, argument], stdout=log, stderr=subprocess.STDOUT
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def worker_running(spec: Spec, job: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker of this driver (``spawn_worker``) for the block; stopped however the block ends."""
    process = spawn_worker(spec, job)
    try:
        yield process
    finally:
        stop_worker(process)


def unsupported(spec: Spec, backend: str, reason: str) -> list[Result]:
    metric, _, kind = spec.job.partition(":")
    return [row(metric, backend, kind, None, "", reason)]


def tag() -> str:
    return uuid.uuid4().hex


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


# -- the handlers' bodies: the same work for every peer ---------------------------------------------


def payload(spec: Spec, sink: Sink, label: str, mode: str) -> dict[str, Any]:
    """What a task carries: ``mode`` is drain (record start and end), stamp (record the start) or loop."""
    return {"sink": str(sink.path), "tag": label, "mode": mode}


def sync_body(task: dict[str, Any], should_stop: Callable[[], bool] = lambda: False) -> None:
    """The ``def`` handler: drain/stamp/loop in 10 ms sleeps until ``should_stop()`` (or killed)."""
    began = time.time()
    sink, label, mode = task["sink"], task["tag"], task["mode"]
    if mode == "drain":
        sink_write(sink, event="done", tag=label, s=began, e=time.time())
        return
    sink_write(sink, event="start", tag=label, t=began, pid=os.getpid())
    if mode != "loop":
        return
    try:
        while not should_stop():
            time.sleep(0.01)
    finally:
        sink_write(sink, event="stop", tag=label, t=time.time())


async def async_body(task: dict[str, Any]) -> None:
    """The ``async def`` handler: the same, cancelled at its next ``await``."""
    began = time.time()
    sink, label, mode = task["sink"], task["tag"], task["mode"]
    if mode == "drain":
        sink_write(sink, event="done", tag=label, s=began, e=time.time())
        return
    sink_write(sink, event="start", tag=label, t=began, pid=os.getpid())
    if mode != "loop":
        return
    try:
        while True:
            await asyncio.sleep(0.01)
    finally:
        sink_write(sink, event="stop", tag=label, t=time.time())


# -- measurements every driver uses the same way -----------------------------------------------------


def time_calls(n: int, call: Callable[[int], object]) -> float:
    """Calls per second of ``call(i)`` for ``i`` in ``range(n)``."""
    began = time.perf_counter()
    for i in range(n):
        call(i)
    return rate(n, time.perf_counter() - began)


def drain_result(
    spec: Spec, backend: str, sink: Sink, n: int, timeout: float = 900, note: str = ""
) -> Result:
    """Wait for ``n`` ``done`` events; the rate from the first handler start to the last handler end."""
    deadline = time.monotonic() + timeout
    while sink.count("done") < n:
        if time.monotonic() > deadline:
            return row("drain", backend, spec.kind, None, "tasks/s", f"only {sink.count('done')} of {n} ran")
        time.sleep(0.05)
    done = [event for event in sink.events if event["event"] == "done"]
    first, last = min(e["s"] for e in done), max(e["e"] for e in done)
    note = "; ".join(filter(None, ["handler: first start to last end", note]))
    return row(
        "drain",
        backend,
        f"{spec.kind}, 1 worker",
        rate(n, last - first),
        "tasks/s",
        note,
        n=n,
        store_seconds=last - first,
    )


def warm_up(sink: Sink, enqueue: Callable[[str], object]) -> None:
    """Wait until a freshly started worker runs a first task, then let it go idle."""
    enqueue("warm-up")
    sink.wait_event("start", 120, tag="warm-up")
    time.sleep(0.3)


def pickups(spec: Spec, backend: str, sink: Sink, enqueue: Callable[[str], object], note: str = "") -> Result:
    """``enqueue(tag)`` one task at a time on an idle worker; its handler's start minus the call's."""
    warm_up(sink, enqueue)
    samples = []
    for _ in range(spec.samples):
        label = tag()
        began = time.time()
        enqueue(label)
        event = sink.wait_event("start", 30, tag=label)
        samples.append((event["t"] - began) * 1000)
        idle_gap()
    return row(
        "pickup",
        backend,
        spec.kind,
        percentile(samples, 50),
        "ms p50",
        note,
        p50=percentile(samples, 50),
        p95=percentile(samples, 95),
        max=max(samples),
        samples=len(samples),
    )


def cancels(
    spec: Spec,
    backend: str,
    sink: Sink,
    enqueue: Callable[[str], object],
    cancel: Callable[[object], object],
    stopped: Callable[[object, dict[str, Any]], float | None],
    note: str,
) -> Result:
    """Enqueue a looping task, wait until it runs, cancel it; until ``stopped`` answers a time."""
    samples = []
    for _ in range(spec.samples):
        label = tag()
        handle = enqueue(label)
        start = sink.wait_event("start", 120, tag=label)
        time.sleep(0.03)
        began = time.time()
        cancel(handle)
        deadline = time.monotonic() + 60
        while (moment := stopped(handle, start)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {label} did not stop within 60 s of its cancel")
            sink.poll()
            time.sleep(0.0005)
        samples.append((moment - began) * 1000)
    return row(
        "cancel",
        backend,
        spec.kind,
        percentile(samples, 95),
        "ms p95",
        note,
        p50=percentile(samples, 50),
        p95=percentile(samples, 95),
        max=max(samples),
        samples=len(samples),
    )


def stop_event(sink: Sink, label: str) -> float | None:
    """The time of the ``stop`` event the handler of ``label`` wrote, if it did."""
    for event in sink.events:
        if event["tag"] == label and event["event"] == "stop":
            return float(event["t"])
    return None


def main(jobs: dict[str, Job], version: str, backend: str) -> None:
    spec = Spec(**json.loads(sys.argv[1]))
    job = jobs.get(spec.job)
    rows = job(spec) if job else unsupported(spec, backend, "not measured for this peer")
    print(json.dumps({"version": version, "rows": rows}))
