"""PgQueuer (PostgreSQL, asyncpg driver) through its public API.

- create: ``Queries.enqueue(entrypoint, payload)`` per task; bulk: ``enqueue`` with lists of 1,000.
- drain: ``PgQueuer.run(mode=drain, batch_size=5, max_concurrent_tasks=10)`` (its cap must be at
  least twice the batch). Entrypoints must be ``async def``: the ``def`` handler is the wrapping it
  recommends, ``await asyncio.to_thread(handler, ...)``.
- cancel: ``Queries.mark_job_as_cancelled([id])``: a NOTIFY cancels the job's ``context.cancellation``
  scope (the handler runs inside it); a ``def`` handler in a thread cannot be cancelled (n/a).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from contextlib import closing
from datetime import timedelta
from typing import Any

from bench.peers._driver import (
    Result,
    Spec,
    async_body,
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

pgqueuer: Any = importlib.import_module("pgqueuer")
asyncpg: Any = importlib.import_module("asyncpg")
modes: Any = importlib.import_module("pgqueuer.domain.types").QueueExecutionMode
BACKEND = "postgres"
ENTRY = "work"


async def _queries(spec: Spec) -> tuple[Any, Any]:
    conn = await asyncpg.connect(spec.pg)
    queries = pgqueuer.Queries.from_asyncpg_connection(conn)
    if not await queries.schema_is_installed():
        await queries.install()
    return conn, queries


def _encode(task: dict[str, Any]) -> bytes:
    return json.dumps(task).encode()


async def _create(spec: Spec) -> list[Result]:
    conn, queries = await _queries(spec)
    began = time.perf_counter()
    for _ in range(spec.n_create):
        await queries.enqueue(ENTRY, b"{}", 0)
    single = rate(spec.n_create, time.perf_counter() - began)
    batches = spec.n_bulk // 1000
    began = time.perf_counter()
    for _ in range(batches):
        await queries.enqueue([ENTRY] * 1000, [b"{}"] * 1000, [0] * 1000)
    bulk = rate(batches * 1000, time.perf_counter() - began)
    await conn.close()
    return [
        row("create", BACKEND, "enqueue()", single, "tasks/s"),
        row("create-bulk", BACKEND, "enqueue(lists of 1000)", bulk, "tasks/s"),
    ]


async def _worker(spec: Spec, kind: str, mode: Any) -> None:
    conn = await asyncpg.connect(spec.pg)
    pgq = pgqueuer.PgQueuer.from_asyncpg_connection(conn)

    async def work(job: Any, context: Any) -> None:
        task = json.loads(job.payload)
        if kind == "async":
            with context.cancellation:
                await async_body(task)
        else:
            await asyncio.to_thread(sync_body, task)

    pgq.entrypoint(ENTRY, accepts_context=True)(work)
    await pgq.run(
        mode=mode, batch_size=5, max_concurrent_tasks=spec.concurrency, dequeue_timeout=timedelta(seconds=5)
    )
    await conn.close()


async def _enqueue_many(spec: Spec, tasks: list[dict[str, Any]]) -> None:
    conn, queries = await _queries(spec)
    for begin in range(0, len(tasks), 1000):
        chunk = tasks[begin : begin + 1000]
        await queries.enqueue([ENTRY] * len(chunk), [_encode(t) for t in chunk], [0] * len(chunk))
    await conn.close()


def create(spec: Spec) -> list[Result]:
    return asyncio.run(_create(spec))


def drain(spec: Spec) -> list[Result]:
    sink = spec.sink(f"pgqueuer_drain_{spec.kind}")
    asyncio.run(_enqueue_many(spec, [payload(spec, sink, "d", "drain")] * spec.n_drain))
    asyncio.run(_worker(spec, spec.kind, modes.drain))
    note = "def = async entrypoint awaiting asyncio.to_thread()" if spec.kind == "def" else ""
    return [drain_result(spec, BACKEND, sink, spec.n_drain, note=note)]


def worker(spec: Spec) -> list[Result]:
    asyncio.run(_worker(spec, spec.kind, modes.continuous))
    return []


class _Client:
    """Enqueues (and cancels) from a loop of its own while the worker runs in another process."""

    def __init__(self, spec: Spec) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn, self.queries = self.loop.run_until_complete(_queries(spec))

    def enqueue(self, task: dict[str, Any]) -> Any:
        return self.loop.run_until_complete(self.queries.enqueue(ENTRY, _encode(task), 0))[0]

    def cancel(self, job_id: Any) -> None:
        self.loop.run_until_complete(self.queries.mark_job_as_cancelled([job_id]))

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


def pickup(spec: Spec) -> list[Result]:
    sink = spec.sink(f"pgqueuer_pickup_{spec.kind}")
    client = _Client(spec)  # installs the schema before the worker looks for it
    with closing(client), worker_running(spec, f"worker:{spec.kind}"):
        result = pickups(
            spec, BACKEND, sink, lambda label: client.enqueue(payload(spec, sink, label, "stamp"))
        )
    return [result]


def cancel(spec: Spec) -> list[Result]:
    if spec.kind == "def":
        return unsupported(spec, BACKEND, "a def handler runs in asyncio.to_thread: nothing can stop it")
    sink = spec.sink("pgqueuer_cancel")
    client = _Client(spec)
    with closing(client), worker_running(spec, "worker:async"):
        result = cancels(
            spec,
            BACKEND,
            sink,
            lambda label: client.enqueue(payload(spec, sink, label, "loop")),
            client.cancel,
            lambda _, start: stop_event(sink, start["tag"]),
            "mark_job_as_cancelled(): NOTIFY cancels the handler's cancel scope",
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
        version=importlib.metadata.version("pgqueuer"),
        backend=BACKEND,
    )
