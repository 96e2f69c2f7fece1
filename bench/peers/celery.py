"""Celery with a Redis broker and the prefork pool (10 processes), through its public API.

- create: ``task.delay(...)`` per task. No bulk path (``group()`` still sends one message per task).
- drain: a worker (``app.worker_main``, prefork, concurrency 10, no gossip/mingle/heartbeat) in its
  own process; tasks are ``def`` only (no ``async def`` tasks).
- cancel: ``app.control.revoke(id, terminate=True)``: SIGTERM to the pool process running the task;
  stopped when that process is gone (the pool replaces it).
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

celery: Any = importlib.import_module("celery")
BACKEND = "redis"
NO_ASYNC = "Celery runs def tasks only"


def _app(spec: Spec) -> tuple[Any, Any]:
    app = celery.Celery("bench", broker=spec.redis)
    app.conf.update(
        task_ignore_result=True, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True
    )

    def work(**task: Any) -> None:
        sync_body(task)

    return app, app.task(name="work")(work)


def create(spec: Spec) -> list[Result]:
    _, task = _app(spec)
    empty = {"sink": "", "tag": "", "mode": "drain"}
    single = time_calls(spec.n_create, lambda _: task.delay(**empty))
    return [
        row("create", BACKEND, "task.delay()", single, "tasks/s"),
        row(
            "create-bulk",
            BACKEND,
            "",
            None,
            "tasks/s",
            "no bulk enqueue (group() sends one message per task)",
        ),
    ]


def worker(spec: Spec) -> list[Result]:
    app, _ = _app(spec)
    app.worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={spec.concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
    return []


def drain(spec: Spec) -> list[Result]:
    if spec.kind == "async":
        return unsupported(spec, BACKEND, NO_ASYNC)
    sink = spec.sink("celery_drain")
    _, task = _app(spec)
    body = payload(spec, sink, "d", "drain")
    for _ in range(spec.n_drain):
        task.delay(**body)
    with worker_running(spec, "worker:def"):
        return [drain_result(spec, BACKEND, sink, spec.n_drain, note="prefork pool")]


def pickup(spec: Spec) -> list[Result]:
    if spec.kind == "async":
        return unsupported(spec, BACKEND, NO_ASYNC)
    sink = spec.sink("celery_pickup")
    _, task = _app(spec)
    with worker_running(spec, "worker:def"):
        return [pickups(spec, BACKEND, sink, lambda label: task.delay(**payload(spec, sink, label, "stamp")))]


def cancel(spec: Spec) -> list[Result]:
    if spec.kind == "async":
        return unsupported(spec, BACKEND, NO_ASYNC)
    sink = spec.sink("celery_cancel")
    app, task = _app(spec)
    with worker_running(spec, "worker:def"):
        return [
            cancels(
                spec,
                BACKEND,
                sink,
                lambda label: task.delay(**payload(spec, sink, label, "loop")).id,
                lambda task_id: app.control.revoke(task_id, terminate=True),
                lambda _, start: None if pid_alive(start["pid"]) else time.time(),
                "revoke(terminate=True): SIGTERM to the pool process",
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
        version=importlib.metadata.version("celery"),
        backend=BACKEND,
    )
