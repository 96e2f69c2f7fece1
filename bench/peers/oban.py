"""oban (the Python port of Oban; PostgreSQL, psycopg 3 pool; needs Python 3.12) through its public API.

- create: ``oban.enqueue(Worker.new(args))`` per task; bulk: ``oban.enqueue_many(1000 jobs)``.
- drain: ``Oban(queues={"bench": 10})`` started in this process until every job ran. Its workers'
  ``process`` is awaited on the event loop: the ``def`` handler is a plain function called from it
  (as its ``@job`` decorator does), so it blocks the loop while it runs.
- cancel: ``oban.cancel_job(id)`` marks the job cancelled and signals the node; the running handler
  must poll ``job.cancelled()`` (ours does between 10 ms sleeps). A ``def`` handler blocks the loop
  that would receive the signal (n/a).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import os
import time
from contextlib import closing
from typing import Any

from bench.peers._driver import (
    Result,
    Spec,
    cancels,
    drain_result,
    main,
    payload,
    pickups,
    rate,
    row,
    stop_event,
    sync_body,
    unsupported,
    worker_running,
)
from bench.sinks import sink_write

oban: Any = importlib.import_module("oban")
oban_schema: Any = importlib.import_module("oban.schema")
BACKEND = "postgres"
QUEUE = "bench"


class AsyncWork:
    async def process(self, job: Any) -> None:
        task = job.args
        began = time.time()
        if task["mode"] == "drain":
            sink_write(task["sink"], event="done", tag=task["tag"], s=began, e=time.time())
            return
        sink_write(task["sink"], event="start", tag=task["tag"], t=began, pid=os.getpid())
        if task["mode"] != "loop":
            return
        while not job.cancelled():
            await asyncio.sleep(0.01)
        sink_write(task["sink"], event="stop", tag=task["tag"], t=time.time())


class DefWork:
    async def process(self, job: Any) -> None:
        sync_body(job.args)  # what oban's @job does with a plain function: call it on the loop


WORKERS = {
    "async": oban.worker(queue=QUEUE)(AsyncWork),
    "def": oban.worker(queue=QUEUE)(DefWork),
}


async def _open(spec: Spec, queues: dict[str, int] | None = None) -> tuple[Any, Any]:
    pool = await oban.Oban.create_pool(spec.pg)
    async with pool.connection() as conn:
        installed = await (await conn.execute("SELECT to_regclass('oban_jobs')")).fetchone()
    if installed[0] is None:
        await oban_schema.install(pool)
    instance = oban.Oban(pool=pool, queues=queues or {})
    await instance.start()
    return pool, instance


async def _close(pool: Any, instance: Any) -> None:
    await instance.stop()
    await pool.close()


async def _create(spec: Spec) -> list[Result]:
    pool, instance = await _open(spec)
    worker = WORKERS["async"]
    empty = {"sink": "", "tag": "", "mode": "drain"}
    began = time.perf_counter()
    for _ in range(spec.n_create):
        await instance.enqueue(worker.new(empty))
    single = rate(spec.n_create, time.perf_counter() - began)
    began = time.perf_counter()
    for _ in range(spec.n_bulk // 1000):
        await instance.enqueue_many([worker.new(empty) for _ in range(1000)])
    bulk = rate(spec.n_bulk // 1000 * 1000, time.perf_counter() - began)
    await _close(pool, instance)
    return [
        row("create", BACKEND, "oban.enqueue()", single, "tasks/s"),
        row("create-bulk", BACKEND, "oban.enqueue_many(1000)", bulk, "tasks/s"),
    ]


async def _drain(spec: Spec) -> list[Result]:
    sink = spec.sink(f"oban_drain_{spec.kind}")
    pool, instance = await _open(spec)
    worker = WORKERS[spec.kind]
    body = payload(spec, sink, "d", "drain")
    for begin in range(0, spec.n_drain, 1000):
        await instance.enqueue_many([worker.new(body) for _ in range(min(1000, spec.n_drain - begin))])
    await _close(pool, instance)
    pool, instance = await _open(spec, {QUEUE: spec.concurrency})
    result = await asyncio.to_thread(drain_result, spec, BACKEND, sink, spec.n_drain)
    await _close(pool, instance)
    return [result]


async def _serve(spec: Spec) -> None:
    await _open(spec, {QUEUE: spec.concurrency})
    await asyncio.Event().wait()  # until SIGTERM


class _Client:
    """Enqueues (and cancels) from a loop of its own while the worker runs in another process."""

    def __init__(self, spec: Spec) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool, self.oban = self.loop.run_until_complete(_open(spec))
        self.worker = WORKERS[spec.kind]

    def enqueue(self, task: dict[str, Any]) -> Any:
        return self.loop.run_until_complete(self.oban.enqueue(self.worker.new(task))).id

    def cancel(self, job_id: Any) -> None:
        self.loop.run_until_complete(self.oban.cancel_job(job_id))

    def close(self) -> None:
        self.loop.run_until_complete(_close(self.pool, self.oban))
        self.loop.close()


def create(spec: Spec) -> list[Result]:
    return asyncio.run(_create(spec))


def drain(spec: Spec) -> list[Result]:
    return asyncio.run(_drain(spec))


def worker(spec: Spec) -> list[Result]:
    asyncio.run(_serve(spec))
    return []


def pickup(spec: Spec) -> list[Result]:
    sink = spec.sink(f"oban_pickup_{spec.kind}")
    client = _Client(spec)
    with closing(client), worker_running(spec, f"worker:{spec.kind}"):
        result = pickups(
            spec, BACKEND, sink, lambda label: client.enqueue(payload(spec, sink, label, "stamp"))
        )
    return [result]


def cancel(spec: Spec) -> list[Result]:
    if spec.kind == "def":
        return unsupported(spec, BACKEND, "a def handler blocks the loop that would hear the cancel")
    sink = spec.sink("oban_cancel")
    client = _Client(spec)
    with closing(client), worker_running(spec, "worker:async"):
        result = cancels(
            spec,
            BACKEND,
            sink,
            lambda label: client.enqueue(payload(spec, sink, label, "loop")),
            client.cancel,
            lambda _, start: stop_event(sink, start["tag"]),
            "cancel_job(): the handler polls job.cancelled()",
        )
    return [result]


if __name__ == "__main__":
    main(
        {
            "create": create,
            **{f"drain:{k}": drain for k in ("async", "def")},
            **{f"worker:{k}": worker for k in ("async", "def")},
            **{f"pickup:{k}": pickup for k in ("async", "def")},
            **{f"cancel:{k}": cancel for k in ("async", "def")},
        },
        version=importlib.metadata.version("oban"),
        backend=BACKEND,
    )
