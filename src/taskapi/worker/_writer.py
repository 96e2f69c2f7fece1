"""The one place outcomes are written: each outcome type decides its write, fenced by the attempt.

``Completed``, ``Failed`` and ``TimedOut`` become one conditional ``task_finish`` row, batched: while
one write is in flight the next ones gather, so many short tasks cost few transactions. ``HandedBack``
is one ``task_release``. ``Cancelled`` and ``Lost`` write nothing: the store already says so. What only
the worker saw (a timeout, a killed handler) goes on the timeline first, so it reads timed out, killed,
failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, assert_never

from taskapi import metrics
from taskapi.domain import EventKind, NewEvent, StoreConflict, StoreUnavailable
from taskapi.store.base import Completion, Store
from taskapi.worker._options import WorkerStats
from taskapi.worker._outcomes import (
    Cancelled,
    Completed,
    Failed,
    HandedBack,
    Lost,
    Outcome,
    TimedOut,
    was_killed,
)
from taskapi.worker._runner import RunningTask

log = logging.getLogger("taskapi.worker")
T = TypeVar("T")


def observe_run(running: RunningTask, outcome: Outcome, seconds: float, ended: float) -> None:
    """Record one run in the process's metrics."""
    task_type = running.task.task_type
    metrics.RUN_SECONDS.labels(task_type, outcome.label).observe(seconds)
    if isinstance(outcome, Completed | Failed):
        return
    if isinstance(outcome, Cancelled) and running.stop_asked_at is not None:
        metrics.CANCEL_TO_STOP_SECONDS.labels(task_type).observe(max(ended - running.stop_asked_at, 0.0))
    if outcome.killed:
        metrics.HARD_KILLS.labels(task_type).inc()


class OutcomeWriter:
    """Writes each attempt's outcome and counts it in ``stats``.

    ``claims_idle`` waits until no claim is in flight: a task handed back while a claim runs could be
    taken again by that very claim the moment it is pending.
    """

    def __init__(
        self,
        store: Store,
        stats: WorkerStats,
        *,
        actor: str,
        cancel_grace: float,
        claims_idle: Callable[[], Awaitable[None]],
    ) -> None:
        self.store = store
        self.stats = stats
        self.actor = actor  # signs the timeline's timed-out and killed events
        self.cancel_grace = cancel_grace
        self.claims_idle = claims_idle
        self._pending: list[tuple[Completion, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, running: RunningTask, outcome: Outcome) -> None:
        """Persist ``outcome`` of ``running``'s attempt."""
        self._count(outcome)
        task = running.task
        match outcome:
            case Completed(result=result):
                progress, total, _ = running.slot.snapshot()
                progress = total = max(progress, total) or 1
                await self._finish(
                    running, outcome, Completion(task.id, task.attempt, progress, total, result)
                )
            case Failed(error_message=message):
                await self._finish_failed(running, outcome, message)
            case TimedOut():
                await self._note(running, outcome)
                await self._finish_failed(running, outcome, outcome.error_message)
            case HandedBack(why=why):
                await self._note(running, outcome)
                await self.claims_idle()
                released = await self._retrying(self.store.task_release, task.id, task.attempt, why)
                self.stats.released += int(released)
            case Cancelled() | Lost():
                await self._note(running, outcome)  # the store already holds the final state
            case _:
                assert_never(outcome)  # a new outcome type must say what it writes

    async def flushed(self) -> None:
        """Wait until every queued write has landed (or failed)."""
        if self._flusher is not None:
            await self._flusher

    def _count(self, outcome: Outcome) -> None:
        stats = self.stats
        match outcome:
            case Completed():
                stats.completed += 1
            case Failed():
                stats.failed += 1
            case _:
                stats.stopped += 1
                stats.by_reason[outcome.label] = stats.by_reason.get(outcome.label, 0) + 1
                stats.killed += int(outcome.killed)

    async def _finish_failed(self, running: RunningTask, outcome: Outcome, message: str) -> None:
        task = running.task
        progress, total, _ = running.slot.snapshot()
        await self._finish(
            running, outcome, Completion(task.id, task.attempt, progress, total, None, message)
        )

    async def _finish(self, running: RunningTask, outcome: Outcome, completion: Completion) -> None:
        if not await self._queue(completion):
            self.stats.dropped_writes += 1
            log.info(
                "task %d: outcome %s dropped, the task was cancelled or rescued meanwhile",
                running.task.id,
                outcome.label,
            )

    async def _note(self, running: RunningTask, outcome: Outcome) -> None:
        """Put what only the worker saw on the timeline: a timeout, a handler killed. A failure to
        note them never prevents the outcome."""
        task = running.task
        events = []
        if isinstance(outcome, TimedOut):
            detail = f"ran longer than its timeout of {outcome.timeout:g} s"
            events.append(NewEvent(task.id, EventKind.TIMED_OUT, task.attempt, self.actor, detail))
        if was_killed(outcome):
            why = "its timeout" if isinstance(outcome, TimedOut) else "a stop"
            detail = f"the handler ignored {why} for {self.cancel_grace:g} s; its process was killed"
            events.append(NewEvent(task.id, EventKind.KILLED, task.attempt, self.actor, detail))
        if events:
            try:
                await asyncio.to_thread(self.store.task_events_add, events)
            except Exception as exc:  # the timeline misses a note; the outcome has landed
                log.warning("task %d: could not record %s: %s", task.id, events, exc)

    async def _queue(self, completion: Completion) -> bool:
        """Queue one outcome; a single flusher writes everything queued in one transaction. Answers
        whether the write won (its attempt still held the task)."""
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((completion, written))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await written

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                won = set(await self._retrying(self.store.task_finish, [c for c, _ in batch]))
            except Exception as exc:
                for _, written in batch:
                    written.set_exception(exc)
                continue
            for completion, written in batch:
                written.set_result(completion.id in won)

    async def _retrying(self, call: Callable[..., T], *args: Any) -> T:
        """A store write that must not be lost: retried while the store is briefly unavailable (or
        aborted it as a deadlock's victim: ``StoreConflict``, a kind of ``StoreUnavailable``)."""
        delay = 0.05
        for _ in range(40):
            try:
                return await asyncio.to_thread(call, *args)
            except StoreUnavailable as exc:
                what = getattr(call, "__name__", "store write")
                why = "conflict" if isinstance(exc, StoreConflict) else "failed"
                log.warning("%s %s, retrying in %.2f s: %s", what, why, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        return await asyncio.to_thread(call, *args)
