"""Procrastinate (PostgreSQL, psycopg 3 connector) through its public API.

- create: ``task.defer(...)`` per task; bulk: ``task.batch_defer(*1000 kwargs)``.
- drain: ``app.run_worker(wait=False, concurrency=10)`` (returns once the queue is empty); ``async def``
  tasks run on its loop, ``def`` tasks in threads.
- cancel: ``job_manager.cancel_job_by_id(id, abort=True)``: an async job's asyncio task is cancelled;
  a ``def`` job must poll ``context.should_abort()`` (ours does, between 10 ms sleeps).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from contextlib import closing
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
    row,
    stop_event,
    sync_body,
    time_calls,
    worker_running,
)

procrastinate: Any = importlib.import_module("procrastinate")
BACKEND = "postgres"


def _app(spec: Spec) -> tuple[Any, dict[str, Any]]:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=spec.pg))

    async def work_async(context: Any, **task: Any) -> None:
        await async_body(task)

    def work_def(context: Any, **task: Any) -> None:
        sync_body(task, should_stop=context.should_abort)

    tasks = {
        "async": app.task(name="work_async", pass_context=True)(work_async),
        "def": app.task(name="work_def", pass_context=True)(work_def),
    }
    return app, tasks


def _opened(spec: Spec) -> tuple[Any, dict[str, Any]]:
    app, tasks = _app(spec)
    app.open()
    try:
        app.schema_manager.apply_schema()
    except Exception as exc:  # applied already (a second call in one database)
        if "already exists" not in f"{exc} {exc.__cause__}":
            raise
    return app, tasks


def create(spec: Spec) -> list[Result]:
    app, tasks = _opened(spec)
    task = tasks["async"]
    empty = {"sink": "", "tag": "", "mode": "drain"}
    single = time_calls(spec.n_create, lambda _: task.defer(**empty))
    batches = spec.n_bulk // 1000
    bulk = time_calls(batches, lambda _: task.batch_defer(*[empty] * 1000)) * 1000
    app.close()
    return [
        row("create", BACKEND, "task.defer()", single, "tasks/s"),
        row("create-bulk", BACKEND, "task.batch_defer(1000)", bulk, "tasks/s"),
    ]


def _run_worker(spec: Spec, wait: bool) -> None:
    app, _ = _app(spec)
    app.run_worker(
        wait=wait,
        concurrency=spec.concurrency,
        install_signal_handlers=wait,
        delete_jobs="never",
        fetch_job_polling_interval=5.0,
        abort_job_polling_interval=5.0,
    )


def drain(spec: Spec) -> list[Result]:
    sink = spec.sink(f"procrastinate_drain_{spec.kind}")
    app, tasks = _opened(spec)
    task = payload(spec, sink, "d", "drain")
    for begin in range(0, spec.n_drain, 1000):
        tasks[spec.kind].batch_defer(*[task] * min(1000, spec.n_drain - begin))
    app.close()
    _run_worker(spec, wait=False)
    return [drain_result(spec, BACKEND, sink, spec.n_drain)]


def worker(spec: Spec) -> list[Result]:
    _run_worker(spec, wait=True)
    return []


def pickup(spec: Spec) -> list[Result]:
    sink = spec.sink(f"procrastinate_pickup_{spec.kind}")
    app, tasks = _opened(spec)
    with closing(app), worker_running(spec, f"worker:{spec.kind}"):
        task = tasks[spec.kind]
        result = pickups(spec, BACKEND, sink, lambda label: task.defer(**payload(spec, sink, label, "stamp")))
    return [result]


def cancel(spec: Spec) -> list[Result]:
    sink = spec.sink(f"procrastinate_cancel_{spec.kind}")
    app, tasks = _opened(spec)
    note = "cancel_job_by_id(abort=True): " + (
        "the job's asyncio task is cancelled" if spec.kind == "async" else "the handler polls should_abort()"
    )
    with closing(app), worker_running(spec, f"worker:{spec.kind}"):
        task = tasks[spec.kind]
        result = cancels(
            spec,
            BACKEND,
            sink,
            lambda label: task.defer(**payload(spec, sink, label, "loop")),
            lambda job_id: app.job_manager.cancel_job_by_id(job_id, abort=True),
            lambda _, start: stop_event(sink, start["tag"]),
            note,
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
        version=importlib.metadata.version("procrastinate"),
        backend=BACKEND,
    )
