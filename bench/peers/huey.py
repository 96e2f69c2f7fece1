"""Huey with SQLite storage (``SqliteHuey``, WAL) through its public API.

- create: calling the task function enqueues it. No bulk enqueue.
- drain: a consumer with 10 worker threads in its own process; ``def`` tasks only. Its workers poll
  the storage: ``initial_delay=0.1`` and ``backoff=1.0`` (no growth of the delay while idle, so an
  idle worker looks every 0.1 s, as the default does at first; the default would back off to 10 s).
- cancel: ``revoke()`` only keeps a task from starting; a running task cannot be stopped (n/a).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path
from typing import Any

from bench.peers._driver import (
    Result,
    Spec,
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

huey_api: Any = importlib.import_module("huey")
BACKEND = "sqlite"
NO_ASYNC = "Huey runs def tasks only"


def _huey(spec: Spec) -> tuple[Any, Any]:
    huey = huey_api.SqliteHuey("bench", filename=str(Path(spec.workdir) / "huey.db"))

    def work(task: dict[str, Any]) -> None:
        sync_body(task)

    return huey, huey.task(name="work")(work)


def create(spec: Spec) -> list[Result]:
    _, task = _huey(spec)
    empty = {"sink": "", "tag": "", "mode": "drain"}
    single = time_calls(spec.n_create, lambda _: task(empty))
    return [
        row("create", BACKEND, "task()", single, "tasks/s"),
        row("create-bulk", BACKEND, "", None, "tasks/s", "no bulk enqueue"),
    ]


def worker(spec: Spec) -> list[Result]:
    huey, _ = _huey(spec)
    consumer = huey.create_consumer(
        workers=spec.concurrency,
        worker_type="thread",
        initial_delay=0.1,
        backoff=1.0,
        max_delay=0.1,
        periodic=False,
    )
    consumer.run()
    return []


def drain(spec: Spec) -> list[Result]:
    if spec.kind == "async":
        return unsupported(spec, BACKEND, NO_ASYNC)
    sink = spec.sink("huey_drain")
    _, task = _huey(spec)
    body = payload(spec, sink, "d", "drain")
    for _ in range(spec.n_drain):
        task(body)
    with worker_running(spec, "worker:def"):
        return [drain_result(spec, BACKEND, sink, spec.n_drain, note="10 worker threads")]


def pickup(spec: Spec) -> list[Result]:
    if spec.kind == "async":
        return unsupported(spec, BACKEND, NO_ASYNC)
    sink = spec.sink("huey_pickup")
    _, task = _huey(spec)
    with worker_running(spec, "worker:def"):
        note = "workers poll every 0.1 s"
        return [pickups(spec, BACKEND, sink, lambda label: task(payload(spec, sink, label, "stamp")), note)]


def cancel(spec: Spec) -> list[Result]:
    return unsupported(spec, BACKEND, "revoke() only keeps a task from starting; a running one runs on")


if __name__ == "__main__":
    main(
        {
            "create": create,
            **{f"drain:{k}": drain for k in ("async", "def")},
            "worker:def": worker,
            **{f"pickup:{k}": pickup for k in ("async", "def")},
            **{f"cancel:{k}": cancel for k in ("async", "def")},
        },
        version=importlib.metadata.version("huey"),
        backend=BACKEND,
    )
