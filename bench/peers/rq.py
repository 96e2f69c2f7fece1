"""RQ (Redis) through its public API.

- create: ``queue.enqueue(func, ...)`` per task; bulk: ``queue.enqueue_many()`` of 1,000 prepared jobs
  (one Redis pipeline).
- drain: ``WorkerPool(num_workers=10)`` (an RQ worker runs one job at a time, each in a forked work
  horse: ten workers are its concurrency 10); ``def`` functions only.
- cancel: ``send_stop_job_command(redis, id)``: the worker kills the job's work horse; stopped when
  that process is gone.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import time
from typing import Any

from bench.peers._driver import (
    Result,
    Spec,
    cancels,
    drain_result,
    main,
    payload,
    pickups,
    row,
    sync_body,
    time_calls,
    unsupported,
    worker_running,
)
from bench.sinks import pid_alive

rq: Any = importlib.import_module("rq")
redis: Any = importlib.import_module("redis")
rq_command: Any = importlib.import_module("rq.command")
rq_pool: Any = importlib.import_module("rq.worker_pool")
BACKEND = "redis"
NO_ASYNC = "RQ's workers run def functions (a coroutine would get an event loop per job)"
FUNC = "bench.peers.rq.work"


def work(task: dict[str, Any]) -> None:
    sync_body(task)


def _queue(spec: Spec) -> Any:
    return rq.Queue("bench", connection=redis.Redis.from_url(spec.redis))


def create(spec: Spec) -> list[Result]:
    queue = _queue(spec)
    empty = {"sink": "", "tag": "", "mode": "drain"}
    single = time_calls(spec.n_create, lambda _: queue.enqueue(FUNC, empty))
    prepared = [rq.Queue.prepare_data(FUNC, args=(empty,)) for _ in range(1000)]
    bulk = time_calls(spec.n_bulk // 1000, lambda _: queue.enqueue_many(prepared)) * 1000
    return [
        row("create", BACKEND, "queue.enqueue()", single, "tasks/s"),
        row("create-bulk", BACKEND, "queue.enqueue_many(1000)", bulk, "tasks/s"),
    ]


def worker(spec: Spec) -> list[Result]:
    pool = rq_pool.WorkerPool(
        ["bench"], connection=redis.Redis.from_url(spec.redis), num_workers=spec.concurrency
    )
    pool.start(burst=False, logging_level="WARNING")
    return []


def drain(spec: Spec) -> list[Result]:
    if spec.kind == "async":
        return unsupported(spec, BACKEND, NO_ASYNC)
    sink = spec.sink("rq_drain")
    queue = _queue(spec)
    body = payload(spec, sink, "d", "drain")
    for begin in range(0, spec.n_drain, 1000):
        count = min(1000, spec.n_drain - begin)
        queue.enqueue_many([rq.Queue.prepare_data(FUNC, args=(body,)) for _ in range(count)])
    with worker_running(spec, "worker:def"):
        return [drain_result(spec, BACKEND, sink, spec.n_drain, note="10 workers, a forked horse per job")]


def pickup(spec: Spec) -> list[Result]:
    if spec.kind == "async":
        return unsupported(spec, BACKEND, NO_ASYNC)
    sink = spec.sink("rq_pickup")
    queue = _queue(spec)
    with worker_running(spec, "worker:def"):
        return [
            pickups(
                spec, BACKEND, sink, lambda label: queue.enqueue(FUNC, payload(spec, sink, label, "stamp"))
            )
        ]


def cancel(spec: Spec) -> list[Result]:
    if spec.kind == "async":
        return unsupported(spec, BACKEND, NO_ASYNC)
    sink = spec.sink("rq_cancel")
    queue = _queue(spec)
    with worker_running(spec, "worker:def"):
        return [
            cancels(
                spec,
                BACKEND,
                sink,
                lambda label: queue.enqueue(FUNC, payload(spec, sink, label, "loop")).id,
                lambda job_id: rq_command.send_stop_job_command(queue.connection, job_id),
                lambda _, start: None if pid_alive(start["pid"]) else time.time(),
                "send_stop_job_command(): the work horse is killed",
            )
        ]


if __name__ == "__main__":
    main(
        {
            "create": create,
            **{f"drain:{k}": drain for k in ("async", "def")},
            "worker:def": worker,
            **{f"pickup:{k}": pickup for k in ("async", "def")},
            **{f"cancel:{k}": cancel for k in ("async", "def")},
        },
        version=importlib.metadata.version("rq"),
        backend=BACKEND,
    )
