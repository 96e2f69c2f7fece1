"""The worker: claims tasks, runs them, stops them when asked, hands them back when it stops.

One event loop per worker. Store calls run in threads (``asyncio.to_thread``) so a slow database never
blocks a handler's await. The parts, each in its own module: claiming and the claim-ahead buffer
(``_claiming``), running one task into an outcome value (``_runner``, ``_outcomes``), writing outcomes
(``_writer``), the periodic duties (``_duties``) and hearing announcements (``_hearing``). This module
keeps the slots: which held task starts when, and the life cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from taskapi.signals import TaskSignal
from taskapi.store.base import Store
from taskapi.worker._children import ChildPool
from taskapi.worker._claiming import HOLD_LIMIT, Claimer
from taskapi.worker._duties import Holder, build_duties, run_duties
from taskapi.worker._hearing import hearing
from taskapi.worker._options import WorkerOptions, WorkerStats
from taskapi.worker._outcomes import Failed, Outcome, StopReason, stopped
from taskapi.worker._runner import RunningTask, run_async, run_in_child
from taskapi.worker._writer import OutcomeWriter, observe_run
from taskapi.worker.registry import HandlerSpec
from taskapi.worker.resources import ProcessResources, ResourceSpec

log = logging.getLogger("taskapi.worker")


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Runs the tasks whose types it has handlers for; ``run()`` until ``request_stop()``."""

    def __init__(
        self,
        store: Store,
        handlers: dict[str, HandlerSpec],
        *,
        modules: list[str],
        options: WorkerOptions | None = None,
        worker_id: str | None = None,
        resources: ResourceSpec | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("a worker needs at least one handler")
        self.store = store
        self.handlers = handlers
        self.options = options = options or WorkerOptions()
        self.worker_id = worker_id or new_worker_id()
        self.stats = WorkerStats()
        self._pool = ChildPool(modules, options.concurrency, resources)
        # Async handlers' resources, opened in this process (with this worker's store) on first use.
        self.resources = ProcessResources(resources, store)
        self._claimer = Claimer(store, self.worker_id, handlers, options, self.stats, self.resources.get)
        self._writer = OutcomeWriter(
            store,
            self.stats,
            actor=f"worker {self.worker_id}",
            cancel_grace=options.cancel_grace,
            claims_idle=self._claimer.idle,
        )
        # Every attempt we hold, started or waiting to start, by (task id, attempt): attempt 1 of a
        # task may still be writing its outcome when the rescuer has let us claim attempt 2.
        self._running: dict[tuple[int, int], RunningTask] = {}
        self._busy = 0  # slots whose handler runs
        self._runners: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._force = False

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self, *, burst: bool = False) -> None:
        """Claim and run tasks until stopped; with ``burst``, return once no task is left to run."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._claimer.bind()
        holder = Holder(self.worker_id, self._running, self._poke)
        try:
            async with hearing(self.store, listen=self.options.listen, on_signal=self._handle_signal):
                duties = asyncio.create_task(
                    run_duties(build_duties(self.store, self.options, holder=holder))
                )
                log.info(
                    "worker %s started: types %s, concurrency %d",
                    self.worker_id,
                    sorted(self.handlers),
                    self.options.concurrency,
                )
                try:
                    await self._claim_loop(burst)
                    await self._drain()
                finally:
                    duties.cancel()
                    await asyncio.gather(duties, return_exceptions=True)
        finally:
            self._pool.unwatch()
            await asyncio.to_thread(self._pool.close)
            await asyncio.to_thread(self.resources.close)
            log.info("worker %s stopped: %s", self.worker_id, self.stats)

    def request_stop(self, *, force: bool = False) -> None:
        """Stop claiming and finish (thread-safe). ``force`` hands running tasks back at once."""
        if self._loop is None:
            self._stopping = True
            return
        self._loop.call_soon_threadsafe(self._begin_stop, force)

    def _begin_stop(self, force: bool) -> None:
        self._stopping = True
        self._force = self._force or force
        if self._force:
            for running in list(self._running.values()):
                running.stop(StopReason.SHUTDOWN)
        self._poke()

    async def _drain(self) -> None:
        """Let running tasks finish within the shutdown timeout, then stop the rest and hand them back."""
        await self._release_held("worker shutdown")
        if self._runners and not self._force:
            log.info(
                "worker %s: waiting up to %g s for %d running task(s)",
                self.worker_id,
                self.options.shutdown_timeout,
                len(self._runners),
            )
            await asyncio.wait(set(self._runners), timeout=self.options.shutdown_timeout)
        for running in list(self._running.values()):
            running.stop(StopReason.SHUTDOWN)
        while self._runners:
            await asyncio.wait(set(self._runners))
        await self._writer.flushed()

    # -- slots --------------------------------------------------------------------------------

    async def _claim_loop(self, burst: bool) -> None:
        wake = self._wake
        assert wake is not None
        claimer = self._claimer
        while not self._stopping:
            wake.clear()
            self._start_ready()
            if claimer.overdue():
                await self._release_held(f"waited over {HOLD_LIMIT:g} s behind long tasks")
            wanted = claimer.wanted(self._busy, self._running.values())
            if wanted > 0:
                claimed = await claimer.claim(wanted)
                for running in claimed:
                    self._running[running.key] = running
                self._start_ready()
                if claimed:
                    continue
                if burst and not self._running:
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.options.poll_interval)

    def _start_ready(self) -> None:
        """Start held tasks while slots are free (none once stopping: they are handed back)."""
        ready, concurrency = self._claimer.ready, self.options.concurrency
        while ready and self._busy < concurrency and not self._stopping:
            running = ready.popleft()
            self._busy += 1
            runner = asyncio.create_task(self._execute(running), name=f"task-{running.task.id}")
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)

    async def _execute(self, running: RunningTask) -> None:
        grace = self.options.cancel_grace
        began = running.began_at = time.monotonic()
        outcome: Outcome
        try:
            try:
                if running.spec.is_async:
                    outcome = await run_async(running, grace)
                else:
                    outcome = await run_in_child(running, self._pool, grace)
            except Exception as exc:  # a bug of ours must fail the task, not wedge the worker
                log.exception("task %d: the worker could not run it", running.task.id)
                outcome = Failed(f"WorkerError: {exc}")
        finally:
            # The slot is free once the handler is done: the next task starts while this one's outcome
            # is being written.
            ended = running.ended_at = time.monotonic()
            self._busy -= 1
            self._claimer.ahead.observe(ended - began)
            self._start_ready()
            self._poke()
        observe_run(running, outcome, ended - began, ended)
        try:
            await self._writer.write(running, outcome)
        finally:
            self._forget(running)

    async def _release_held(self, why: str) -> None:
        """Hand back the tasks claimed ahead that never started (cancelled ones are already final)."""
        for running in self._claimer.take_held():
            running.stop(StopReason.SHUTDOWN)  # a cancel that came first keeps its reason
            await self._writer.write(running, stopped(running.stop_reason, running.spec.timeout, why=why))
            self._forget(running)

    def _forget(self, running: RunningTask) -> None:
        """No longer hold ``running``'s attempt (and no other attempt of its task)."""
        if self._running.get(running.key) is running:
            del self._running[running.key]

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- announcements (see ``_hearing``), on our loop -------------------------------------------

    def _handle_signal(self, signal: TaskSignal) -> None:
        self.stats.heard += 1
        if signal.kind == "created" and signal.task_type in self.handlers:
            self._poke()
        elif signal.kind == "cancelled":
            held = [running for running in self._running.values() if running.task.id == signal.task_id]
            for running in held:
                running.stop(StopReason.CANCELLED)
            if signal.worker_id == self.worker_id and all(r.ended_at is not None for r in held):
                # ours, and no attempt of it here still to run: our claim of it is not back yet
                self._claimer.remember_cancel(signal.task_id)

    @property
    def running_ids(self) -> list[int]:
        """The ids of the tasks held (an id once, even while two attempts of it are held)."""
        return sorted({task_id for task_id, _ in self._running})
