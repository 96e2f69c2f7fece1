"""The code that runs inside a child process: import the handler modules, then run sync handlers.

Messages from the worker: ``(task_id, project_id, task_type, params, attempt)`` to run one task,
``None`` to exit. Answers: ``("ok", result)``, ``("cancelled", None)`` or ``("error", (message, traceback))``.

A stop reaches the handler two ways: the flag in the shared slot (``ctx.cancelled``, ``progress()``),
and ``INTERRUPT`` (SIGUSR1), whose handler raises ``TaskCancelled`` wherever the handler is, as Ctrl-C
raises KeyboardInterrupt: a handler asleep or blocked in I/O stops at once instead of at its next
check. Only the handler's own code is interrupted, never this loop, and never a handler that has
already seen its stop (it is cleaning up); the worker replaces a child it stopped, since code stopped
mid-way may have left state behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing.forkserver
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from taskapi.worker._slots import SharedSlot
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import load_handlers
from taskapi.worker.resources import ProcessResources, ResourceSpec
from taskapi.worker.results import describe_error, normalise_result

_PR_SET_PDEATHSIG = 1
INTERRUPT = signal.SIGUSR1


class _Interrupts:
    """Whether a stop may interrupt the code running now: only while a handler runs."""

    armed = False
    slot: SharedSlot | None = None


def _disarm() -> None:
    _Interrupts.armed = False


def _on_interrupt(signum: int, frame: object) -> None:
    slot = _Interrupts.slot
    if _Interrupts.armed and slot is not None and slot.stop_requested:
        _Interrupts.armed = False  # once: a handler that catches it and goes on meets the grace kill
        raise TaskCancelled("the task was stopped")


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill this process when the worker dies (no orphaned CPU burn)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _let_the_forkserver_go() -> None:
    """Close this child's copy of the forkserver's "worker alive" pipe.

    multiprocessing hands every forkserver child the write end of that pipe; the forkserver exits only
    when every copy is closed. Held here, a worker killed with -9 left its forkserver alive, so the
    death signal above never fired and the handler ran on as an orphan (burning CPU for ever).
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def child_main(
    conn: Connection, shared: Any, modules: list[str], resource_spec: ResourceSpec | None = None
) -> None:
    """Serve tasks until told to exit or until the worker's end of the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's to handle
    _die_with_parent()
    _let_the_forkserver_go()
    handlers = load_handlers(modules, builtin=False)
    slot = SharedSlot(shared)
    _Interrupts.slot = slot
    signal.signal(INTERRUPT, _on_interrupt)
    resources = ProcessResources(resource_spec)  # opened after the fork, on first use
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            conn.send(_run_one(handlers, slot, message, resources.get))
    finally:
        resources.close()


def _run_one(
    handlers: dict[str, Any], slot: SharedSlot, message: tuple[Any, ...], resources: Callable[[], Any]
) -> tuple[str, Any]:
    task_id, project_id, task_type, params, attempt = message
    ctx = TaskContext(
        task_id=task_id,
        project_id=project_id,
        task_type=task_type,
        params=params,
        attempt=attempt,
        slot=slot,
        on_noticed=_disarm,
        resources=resources,
    )
    try:
        _Interrupts.armed = True
        result = handlers[task_type].func(ctx)
        _Interrupts.armed = False
        return "ok", json.loads(json.dumps(normalise_result(result)))
    except TaskCancelled:
        _Interrupts.armed = False
        return "cancelled", None
    except BaseException as exc:  # the handler's failure is the task's outcome, whatever it is
        _Interrupts.armed = False
        return "error", (describe_error(exc), traceback.format_exc())
