"""Runs one claimed task and turns what happened into an outcome value (``_outcomes``).

The runner never writes to the store: the outcome writer (``_writer``) does, in batches. A stop
(cancel, lost lease, timeout, shutdown) is a request the handler sees through its context; an async
handler is also cancelled at its next await, and a child process that does not answer within the
grace period is killed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskapi.domain import Task
from taskapi.worker._children import ChildDied, ChildPool
from taskapi.worker._outcomes import Completed, Failed, Outcome, Stopped, StopReason, stopped
from taskapi.worker._slots import LocalSlot, SharedSlot
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import HandlerSpec
from taskapi.worker.results import describe_error, normalise_result

log = logging.getLogger("taskapi.worker")

_SELF_CANCELLED = "TaskCancelled: the handler raised TaskCancelled, but nobody cancelled the task"


@dataclass(eq=False)
class RunningTask:
    """A task this worker holds, with the means to stop it."""

    task: Task
    spec: HandlerSpec
    slot: LocalSlot | SharedSlot = field(default_factory=LocalSlot)
    stop_reason: StopReason | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    handler_task: asyncio.Task[Any] | None = None
    flushed_seq: int = 0
    claimed_at: float = field(default_factory=time.monotonic)  # monotonic clock of this process
    began_at: float | None = None  # when its handler started (None while it waits for a slot)
    ended_at: float | None = None  # when its handler ended (its outcome is being written)
    stop_asked_at: float | None = None  # when the first stop was asked
    interrupt: Callable[[], object] | None = None  # stops a sync handler at once (set while it runs)
    resources: Callable[[], Any] | None = None  # the handlers' resources of this process

    @property
    def key(self) -> tuple[int, int]:
        """``(task id, attempt)``: what the worker holds. One worker may hold two attempts of a task
        at once (attempt 1 rescued while its outcome is still being written, attempt 2 claimed)."""
        return self.task.id, self.task.attempt

    def stop(self, reason: StopReason) -> None:
        """Ask the handler to stop; the first reason wins (a cancel is not turned into a timeout)."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self.stop_asked_at = time.monotonic()
        self.slot.request_stop()
        if self.interrupt is not None:
            self.interrupt()
        self.stopped.set()
        if self.handler_task is not None:
            self.handler_task.cancel()

    def context(self) -> TaskContext:
        task = self.task
        return TaskContext(
            task_id=task.id,
            project_id=task.project_id,
            task_type=task.task_type,
            params=task.params,
            attempt=task.attempt,
            slot=self.slot,
            resources=self.resources,
        )


def _stopped(running: RunningTask, *, killed: bool = False) -> Stopped:
    return stopped(running.stop_reason, running.spec.timeout, killed=killed)


async def run_async(running: RunningTask, grace: float) -> Outcome:
    """Run an ``async def`` handler on this event loop."""
    if running.stop_reason is not None:  # stopped before it started: there is no handler to cancel
        return _stopped(running)
    handler_task = asyncio.ensure_future(running.spec.func(running.context()))
    running.handler_task = handler_task
    done, _ = await asyncio.wait({handler_task}, timeout=running.spec.timeout)
    if not done:
        running.stop(StopReason.TIMEOUT)
        done, _ = await asyncio.wait({handler_task}, timeout=grace)
        if not done:
            log.warning("task %d: async handler ignored cancellation; abandoned", running.task.id)
            return _stopped(running)
    if running.stop_reason is not None:
        return _stopped(running)
    return _interpret_async(running, handler_task)


def _interpret_async(running: RunningTask, handler_task: asyncio.Task[Any]) -> Outcome:
    if handler_task.cancelled():
        return Failed("CancelledError: the handler was cancelled from inside")
    exc = handler_task.exception()
    if isinstance(exc, TaskCancelled):
        return Failed(_SELF_CANCELLED)
    if exc is not None:
        log.error("task %d (%s) failed", running.task.id, running.task.task_type, exc_info=exc)
        return Failed(describe_error(exc))
    try:
        return Completed(normalise_result(handler_task.result()))
    except (TypeError, ValueError) as bad:
        return Failed(f"the handler's result is not JSON: {describe_error(bad)}")


async def run_in_child(running: RunningTask, pool: ChildPool, grace: float) -> Outcome:
    """Run a ``def`` handler in a child process; kill the child if it ignores a stop for ``grace`` s."""
    child = await pool.acquire()
    child.slot.reset()
    running.slot = child.slot
    if running.stop_reason is not None:  # stopped while we waited for a child
        pool.release(child)
        return _stopped(running)
    task = running.task
    answer = asyncio.ensure_future(
        child.run((task.id, task.project_id, task.task_type, task.params, task.attempt))
    )
    stop_wait = asyncio.ensure_future(running.stopped.wait())
    running.interrupt = child.interrupt
    try:
        done, _ = await asyncio.wait(
            {answer, stop_wait}, timeout=running.spec.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if answer not in done:
            running.stop(StopReason.TIMEOUT)  # no-op when a stop was already asked
            done, _ = await asyncio.wait({answer}, timeout=grace)
        if answer not in done:
            answer.cancel()
            pool.discard(child)
            log.warning("task %d: handler ignored the stop for %g s; its process was killed", task.id, grace)
            return _stopped(running, killed=True)
    finally:
        running.interrupt = None  # the child may run another task from now on
        stop_wait.cancel()
    return _interpret_child(running, pool, child, answer)


def _interpret_child(
    running: RunningTask, pool: ChildPool, child: Any, answer: asyncio.Future[Any]
) -> Outcome:
    exc = answer.exception()
    if isinstance(exc, ChildDied):
        pool.discard(child)
        if running.stop_reason is not None:
            return _stopped(running)
        return Failed(f"WorkerProcessDied: {exc}")
    if running.stop_reason is not None:
        pool.discard(child)  # it was interrupted, maybe mid-way through something: start afresh
    else:
        pool.release(child)
    kind, payload = answer.result()
    if running.stop_reason is not None:
        return _stopped(running)
    if kind == "cancelled":
        return Failed(_SELF_CANCELLED)
    if kind == "error":
        message, trace = payload
        log.error("task %d (%s) failed:\n%s", running.task.id, running.task.task_type, trace)
        return Failed(message)
    return Completed(payload)
