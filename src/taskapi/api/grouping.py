"""Group commit of the single creates that arrive together over HTTP.

A create's cost on the store is mostly its transaction (on SQLite ``BEGIN IMMEDIATE``, the id read and
``COMMIT`` are most of it; on PostgreSQL the commit's WAL flush, which commits that send a
notification take one at a time). ``CreateGroups`` writes the creates that wait while a write is under
way as one ``TaskService.create_each`` call: one transaction per group instead of one per request,
and one hop to a worker thread. Nothing waits to make a group: a create that finds fewer than
``writers`` groups in flight is written at once, alone if it is alone, so a lone client sees the
latency of a plain create, and groups form only under load, as large as the load makes them.

Each create keeps its own answer: its own checks and their error, its own id, the same ``Task`` a
plain create answers; a store error of the group's write (unavailable, full) is every member's, as
each would have met it alone. A request whose client leaves is still written (as a plain create
already running on its thread would be): only its answer is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from taskapi.domain import Task
from taskapi.service import MAX_BATCH, CreateCall, TaskService

__all__ = ["CreateGroups"]


@dataclass(slots=True)
class _Waiting:
    call: CreateCall
    answer: asyncio.Future[Task] = field(repr=False)


class CreateGroups:
    """Creates of one event loop, written in groups on ``threads``: at most ``writers`` groups at a
    time and ``MAX_BATCH`` creates a group. The app uses one writer on both stores: SQLite has one
    writer anyway, and on PostgreSQL one group at a time makes the groups larger and the rate higher
    (8 clients, two processes: 2,598-2,637/s with one, 2,033-2,221/s with two)."""

    def __init__(self, service: TaskService, threads: Executor, writers: int = 1) -> None:
        if writers < 1:
            raise ValueError("writers must be at least 1")
        self.service = service
        self.threads = threads
        self.writers = writers
        self._waiting: list[_Waiting] = []
        self._in_flight = 0

    async def create(
        self, project_id: int, task_type: str, params: Mapping[str, Any] | None, actor: str
    ) -> Task:
        """The task created, as ``TaskService.create`` answers it (or raises its error)."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(CreateCall(project_id, task_type, params, actor), loop.create_future())
        self._waiting.append(waiting)
        if self._in_flight < self.writers:
            self._write_next(loop)
        return await waiting.answer

    def _write_next(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        try:
            written = loop.run_in_executor(self.threads, self.service.create_each, [w.call for w in group])
        except RuntimeError as exc:  # the threads are shut down (the app is stopping): no write comes
            for waiting in group:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            return
        self._in_flight += 1
        written.add_done_callback(lambda done: self._answer(loop, group, done))

    def _answer(
        self,
        loop: asyncio.AbstractEventLoop,
        group: list[_Waiting],
        done: asyncio.Future[list[Task | Exception]],
    ) -> None:
        """Hand each member its outcome, then write the creates that arrived meanwhile."""
        self._in_flight -= 1
        if done.cancelled():  # the threads were shut down with the app
            for waiting in group:
                waiting.answer.cancel()
            return
        outcomes: list[Task | BaseException]
        try:
            outcomes = list(done.result())
        except Exception as exc:  # unexpected: every member raises it, as a plain create would (a 500)
            outcomes = [exc] * len(group)
        for waiting, outcome in zip(group, outcomes, strict=True):
            if waiting.answer.done():  # the client left and its request was cancelled
                continue
            if isinstance(outcome, BaseException):
                waiting.answer.set_exception(outcome)
            else:
                waiting.answer.set_result(outcome)
        if self._waiting and self._in_flight < self.writers:
            self._write_next(loop)
