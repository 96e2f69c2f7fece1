"""The worker: claims tasks, runs them, reports progress, stops them when cancelled, hands them back.

One event loop per worker. Store calls run in threads (``asyncio.to_thread``) so a slow database never
blocks a handler's await. Outcomes are persisted in one place (``_persist``) and batched: while one
write is in flight the next ones gather, so many short tasks cost few transactions.

Short tasks are claimed ahead (``_ClaimAhead``): a small buffer of claimed tasks waits for a free slot, so
a slot that frees starts its next task at once instead of after a claim round trip. The buffer is sized
from the observed run time so that a task waits in it for about ``CLAIM_AHEAD_WAIT`` at most; long tasks
are never claimed ahead (another worker may be idle), and held tasks that still wait after
``HOLD_LIMIT`` (the tasks ahead of them turned out long) are handed back as pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from taskapi import metrics
from taskapi.domain import EventKind, NewEvent, StoreUnavailable, Task, TaskStatus
from taskapi.signals import Signals, TaskSignal
from taskapi.store.base import Claim, Completion, ProgressWrite, Store
from taskapi.worker._children import ChildPool
from taskapi.worker._duties import LeaseRenewer, Pruner, Rescuer, every
from taskapi.worker._runner import Outcome, RunningTask, StopReason, run_async, run_in_child
from taskapi.worker.registry import HandlerSpec
from taskapi.worker.resources import ProcessResources, ResourceSpec

log = logging.getLogger("taskapi.worker")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker behaves; the defaults are the service's."""

    concurrency: int = 8
    lease_seconds: float = 30.0
    cancel_grace: float = 5.0
    shutdown_timeout: float = 30.0
    poll_interval: float = 0.25
    rescue_interval: float = 5.0
    progress_interval: float = 0.25
    listen: bool = True  # hear other processes' creates and cancels (PostgreSQL NOTIFY); else poll only
    retention_seconds: float = 0.0  # prune finished tasks older than this; 0 keeps them all
    prune_interval: float = 300.0


@dataclass(slots=True)
class WorkerStats:
    """Counts since start, for logs, tests and benchmarks."""

    claimed: int = 0
    completed: int = 0
    failed: int = 0
    stopped: int = 0
    killed: int = 0
    released: int = 0
    dropped_writes: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


CLAIM_AHEAD_WAIT = 0.05  # seconds a claimed-ahead task is expected to wait for a slot, at most
CLAIM_AHEAD_MAX = 200  # tasks held beyond the running ones, at most
HOLD_LIMIT = 1.0  # seconds a held task may wait for a slot before it is handed back
RECENT_CANCEL_SECONDS = 10.0  # how long a cancel of a task we do not hold is remembered


class _ClaimAhead:
    """How many tasks to hold beyond the running ones, from a moving average of run times."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.mean_run: float | None = None

    def observe(self, seconds: float) -> None:
        self.mean_run = seconds if self.mean_run is None else 0.9 * self.mean_run + 0.1 * seconds

    def size(self, longest_running: float = 0.0) -> int:
        """Tasks that ``concurrency`` slots finish within ``CLAIM_AHEAD_WAIT`` (0 for long tasks).

        ``longest_running`` is how long the oldest running handler has run so far: a task that is
        taking long counts at once, before the average has heard of it.
        """
        if self.mean_run is None:
            return 0
        rate = self.concurrency / max(self.mean_run, longest_running, 1e-6)
        return min(CLAIM_AHEAD_MAX, int(rate * CLAIM_AHEAD_WAIT))


def _observe(running: RunningTask, outcome: Outcome, seconds: float, ended: float) -> None:
    """Record one run in the process's metrics."""
    task_type = running.task.task_type
    label = outcome.reason.value if outcome.reason is not None else outcome.kind
    metrics.RUN_SECONDS.labels(task_type, label).observe(seconds)
    if outcome.reason is StopReason.CANCELLED and running.stop_asked_at is not None:
        metrics.CANCEL_TO_STOP_SECONDS.labels(task_type).observe(max(ended - running.stop_asked_at, 0.0))
    if outcome.killed:
        metrics.HARD_KILLS.labels(task_type).inc()


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
        signals: Signals | None = None,
        worker_id: str | None = None,
        resources: ResourceSpec | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("a worker needs at least one handler")
        self.store = store
        self.handlers = handlers
        self.options = options or WorkerOptions()
        self.signals = signals
        self.worker_id = worker_id or new_worker_id()
        self.stats = WorkerStats()
        self.rescuer = Rescuer(store, actor=f"rescuer {self.worker_id}")
        self.pruner = Pruner(store, self.options.retention_seconds)
        self.lease_renewer = LeaseRenewer(store, self.worker_id, self.options.lease_seconds)
        self._pool = ChildPool(modules, self.options.concurrency, resources)
        # Async handlers' resources, opened in this process (with this worker's store) on first use.
        self.resources = ProcessResources(resources, store)
        self._running: dict[int, RunningTask] = {}  # every task we hold: started or waiting in _ready
        self._ready: deque[RunningTask] = deque()  # claimed, waiting for a free slot
        self._busy = 0  # slots whose handler runs
        self._claim_ahead = _ClaimAhead(self.options.concurrency)
        self._runners: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._force = False
        self._pending_writes: list[tuple[Completion, asyncio.Future[bool]]] = []
        # Set while no claim is in flight: a task handed back at shutdown waits for it, or that
        # claim could take the task again the moment it is pending.
        self._claim_done = asyncio.Event()
        self._claim_done.set()
        self._writer: asyncio.Task[None] | None = None
        self._max_attempts = {name: spec.max_attempts for name, spec in handlers.items()}
        # Cancels heard for tasks we do not hold (yet): a claim on its way back may bring one.
        self._recent_cancels: dict[int, float] = {}

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self, *, burst: bool = False) -> None:
        """Claim and run tasks until stopped; with ``burst``, return once no task is left to run."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._claim_done = asyncio.Event()  # of this loop
        self._claim_done.set()
        unsubscribe = self.signals.subscribe(self._on_signal) if self.signals else None
        unlisten = await asyncio.to_thread(self._listen)
        duties = self._start_duties()
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
            for duty in duties:
                duty.cancel()
            await asyncio.gather(*duties, return_exceptions=True)
            if unsubscribe:
                unsubscribe()
            await asyncio.to_thread(unlisten)
            self._pool.unwatch()
            await asyncio.to_thread(self._pool.close)
            await asyncio.to_thread(self.resources.close)
            log.info("worker %s stopped: %s", self.worker_id, self.stats)

    def _listen(self) -> Callable[[], None]:
        if self.options.listen:
            return self.store.listen(self._on_signal)
        return lambda: None

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

    def _start_duties(self) -> list[asyncio.Task[None]]:
        options = self.options
        duties = [
            asyncio.create_task(every(options.lease_seconds / 3, self._renew_leases, "lease renewal")),
            asyncio.create_task(every(options.rescue_interval, self._rescue, "rescue")),
            asyncio.create_task(every(options.progress_interval, self.flush_progress, "progress")),
            asyncio.create_task(every(options.poll_interval, self.check_cancels, "cancel check")),
        ]
        if options.retention_seconds > 0:
            prune = asyncio.create_task(every(options.prune_interval, self._prune, "retention"))
            duties.append(prune)
        return duties

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
        if self._writer is not None:
            await self._writer

    # -- claiming -----------------------------------------------------------------------------

    async def _claim_loop(self, burst: bool) -> None:
        wake = self._wake
        assert wake is not None
        while not self._stopping:
            wake.clear()
            self._start_ready()
            if self._ready and time.monotonic() - self._ready[0].claimed_at > HOLD_LIMIT:
                await self._release_held(f"waited over {HOLD_LIMIT:g} s behind long tasks")
            wanted = self._wanted()
            if wanted > 0:
                claimed = await self._claim(wanted)
                for task in claimed:
                    self._hold(task)
                self._start_ready()
                if claimed:
                    continue
                if burst and not self._running:
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.options.poll_interval)

    def _wanted(self) -> int:
        """How many tasks to claim now: free slots plus the claim-ahead buffer, in batches.

        With a buffer, claim again only once it is half empty, so claims stay batches rather than one
        round trip per finished task.
        """
        concurrency = self.options.concurrency
        now = time.monotonic()
        started = [r.began_at for r in self._running.values() if r.began_at is not None]
        extra = self._claim_ahead.size(now - min(started) if started else 0.0)
        wanted = concurrency + extra - self._busy - len(self._ready)
        if extra and len(self._ready) > extra // 2:
            return 0
        return max(wanted, 0)

    async def _claim(self, limit: int) -> list[Task]:
        claim = Claim(
            worker_id=self.worker_id,
            task_types=sorted(self.handlers),
            limit=limit,
            lease_seconds=self.options.lease_seconds,
            max_attempts=self._max_attempts,
        )
        self._claim_done.clear()
        try:
            claimed = await asyncio.to_thread(self.store.task_claim, claim)
        except StoreUnavailable as exc:
            log.warning("claim failed, store unavailable: %s", exc)
            return []
        finally:
            self._claim_done.set()
        self.stats.claimed += len(claimed)
        for task in claimed:
            if task.attempt == 1 and task.started_at is not None:
                waited = (task.started_at - task.created_at).total_seconds()
                metrics.PICKUP_SECONDS.labels(task.task_type).observe(max(waited, 0.0))
        return claimed

    def _hold(self, task: Task) -> None:
        running = RunningTask(task=task, spec=self.handlers[task.task_type], resources=self.resources.get)
        self._running[task.id] = running
        self._ready.append(running)
        if self._recent_cancels.pop(task.id, None) is not None:
            running.stop(StopReason.CANCELLED)  # cancelled while our claim of it was on its way back

    def _start_ready(self) -> None:
        """Start held tasks while slots are free (none once stopping: they are handed back)."""
        while self._ready and self._busy < self.options.concurrency and not self._stopping:
            running = self._ready.popleft()
            self._busy += 1
            runner = asyncio.create_task(self._execute(running), name=f"task-{running.task.id}")
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)

    async def _execute(self, running: RunningTask) -> None:
        grace = self.options.cancel_grace
        began = running.began_at = time.monotonic()
        try:
            try:
                if running.spec.is_async:
                    outcome = await run_async(running, grace)
                else:
                    outcome = await run_in_child(running, self._pool, grace)
            except Exception as exc:  # a bug of ours must fail the task, not wedge the worker
                log.exception("task %d: the worker could not run it", running.task.id)
                outcome = Outcome("failed", error_message=f"WorkerError: {exc}")
        finally:
            # The slot is free once the handler is done: the next task starts while this one's outcome
            # is being written.
            ended = time.monotonic()
            self._busy -= 1
            self._claim_ahead.observe(ended - began)
            self._start_ready()
            self._poke()
        _observe(running, outcome, ended - began, ended)
        try:
            await self._persist(running, outcome)
        finally:
            self._running.pop(running.task.id, None)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the one place outcomes are written ------------------------------------------------------

    async def _persist(self, running: RunningTask, outcome: Outcome, release_reason: str = "") -> None:
        self._count(outcome)
        # Noted before the outcome so the timeline reads timed out, killed, failed; only a timeout or
        # a kill costs this round trip, and a failure to note them never prevents the outcome.
        await self._record_observations(running, outcome)
        await self._persist_outcome(running, outcome, release_reason)

    async def _persist_outcome(self, running: RunningTask, outcome: Outcome, release_reason: str) -> None:
        task = running.task
        if outcome.kind == "stopped" and outcome.reason is StopReason.SHUTDOWN:
            await self._claim_done.wait()
            reason = release_reason or "worker shutdown"
            released = await self._store_retrying(self.store.task_release, task.id, task.attempt, reason)
            self.stats.released += int(released)
            return
        if outcome.kind == "stopped" and outcome.reason is not StopReason.TIMEOUT:
            return  # cancelled or no longer ours: the store already says so
        progress, total, _ = running.slot.snapshot()
        if outcome.kind == "completed":
            progress = total = max(progress, total) or 1
        completion = Completion(
            id=task.id,
            attempt=task.attempt,
            progress=progress,
            total=total,
            result=outcome.result if outcome.kind == "completed" else None,
            error_message=None if outcome.kind == "completed" else outcome.error_message,
        )
        if not await self._write(completion):
            self.stats.dropped_writes += 1
            log.info(
                "task %d: outcome %s dropped, the task was cancelled or rescued meanwhile",
                task.id,
                outcome.kind,
            )

    async def _release_held(self, reason: str) -> None:
        """Hand back the tasks claimed ahead that never started (cancelled ones are already final)."""
        held, self._ready = list(self._ready), deque()
        for running in held:
            running.stop(StopReason.SHUTDOWN)  # a cancel that came first keeps its reason
            await self._persist(running, Outcome("stopped", reason=running.stop_reason), reason)
            self._running.pop(running.task.id, None)

    async def _record_observations(self, running: RunningTask, outcome: Outcome) -> None:
        """Put what only the worker saw on the timeline: a timeout, a handler killed."""
        task = running.task
        actor = f"worker {self.worker_id}"
        events = []
        if outcome.reason is StopReason.TIMEOUT:
            detail = f"ran longer than its timeout of {running.spec.timeout:g} s"
            events.append(NewEvent(task.id, EventKind.TIMED_OUT, task.attempt, actor, detail))
        if outcome.killed:
            why = "its timeout" if outcome.reason is StopReason.TIMEOUT else "a stop"
            detail = f"the handler ignored {why} for {self.options.cancel_grace:g} s; its process was killed"
            events.append(NewEvent(task.id, EventKind.KILLED, task.attempt, actor, detail))
        if events:
            try:
                await asyncio.to_thread(self.store.task_events_add, events)
            except Exception as exc:  # the timeline misses a note; the outcome has landed
                log.warning("task %d: could not record %s: %s", task.id, events, exc)

    def _count(self, outcome: Outcome) -> None:
        if outcome.kind == "completed":
            self.stats.completed += 1
        elif outcome.kind == "failed":
            self.stats.failed += 1
        else:
            self.stats.stopped += 1
            reason = outcome.reason.value if outcome.reason else "?"
            self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
        self.stats.killed += int(outcome.killed)

    async def _write(self, completion: Completion) -> bool:
        """Queue one outcome; a single writer flushes everything queued in one transaction."""
        assert self._loop is not None
        written: asyncio.Future[bool] = self._loop.create_future()
        self._pending_writes.append((completion, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._flush_writes())
        return await written

    async def _flush_writes(self) -> None:
        while self._pending_writes:
            batch, self._pending_writes = self._pending_writes, []
            try:
                won = set(await self._store_retrying(self.store.task_finish, [c for c, _ in batch]))
            except Exception as exc:
                for _, written in batch:
                    written.set_exception(exc)
                continue
            for completion, written in batch:
                written.set_result(completion.id in won)

    async def _store_retrying(self, call: Callable[..., T], *args: Any) -> T:
        """A store write that must not be lost: retried while the store is briefly unavailable."""
        delay = 0.05
        for _ in range(40):
            try:
                return await asyncio.to_thread(call, *args)
            except StoreUnavailable as exc:
                log.warning("store unavailable (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        return await asyncio.to_thread(call, *args)

    # -- duties ----------------------------------------------------------------------------------

    async def flush_progress(self) -> None:
        """Write the progress that changed since the last flush; stop tasks that are no longer ours."""
        writes = []
        for running in list(self._running.values()):
            progress, total, seq = running.slot.snapshot()
            if seq != running.flushed_seq:
                running.flushed_seq = seq
                writes.append(ProgressWrite(running.task.id, running.task.attempt, progress, total))
        if writes:
            lost = await asyncio.to_thread(self.store.task_set_progress, writes, self.options.lease_seconds)
            if lost:
                await self._stop_lost(lost)

    async def check_cancels(self) -> None:
        """The fallback path for cancels from other processes: compare our tasks with the store.

        Only the tasks asked about are judged: one claimed while the query ran is not in its answer,
        and must not be taken for lost.
        """
        if not self._running:
            return
        asked = dict(self._running)
        states = await asyncio.to_thread(self.store.task_states, list(asked))
        current = {state.id: state for state in states}
        for task_id, running in asked.items():
            if self._running.get(task_id) is not running:
                continue  # finished meanwhile
            state = current.get(task_id)
            if state is None or state.attempt != running.task.attempt:
                running.stop(StopReason.LOST)
            elif state.status is TaskStatus.CANCELLED:
                running.stop(StopReason.CANCELLED)
            elif state.status is not TaskStatus.RUNNING:
                running.stop(StopReason.LOST)

    async def _stop_lost(self, task_ids: list[int]) -> None:
        """Stop the tasks whose write was refused: cancelled ones as cancelled (the flush often hears
        of a cancel before its announcement does), the rest as no longer ours."""
        states = await asyncio.to_thread(self.store.task_states, task_ids)
        cancelled = {state.id for state in states if state.status is TaskStatus.CANCELLED}
        for task_id in task_ids:
            running = self._running.get(task_id)
            if running is not None:
                running.stop(StopReason.CANCELLED if task_id in cancelled else StopReason.LOST)

    async def _renew_leases(self) -> None:
        await asyncio.to_thread(self.lease_renewer.run_once)

    async def _prune(self) -> None:
        await asyncio.to_thread(self.pruner.run_once)

    async def _rescue(self) -> None:
        rescued = await asyncio.to_thread(self.rescuer.run_once)
        for task in rescued:
            metrics.RESCUES.labels(task.status.value).inc()
        if any(task.status is TaskStatus.PENDING for task in rescued):
            self._poke()

    # -- in-process signals (the API in this process) ---------------------------------------------

    def _on_signal(self, signal: TaskSignal) -> None:
        """Called in the publisher's thread: hop onto our loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._handle_signal, signal)

    def _handle_signal(self, signal: TaskSignal) -> None:
        if signal.kind == "created" and signal.task_type in self.handlers:
            self._poke()
        elif signal.kind == "cancelled":
            running = self._running.get(signal.task_id)
            if running is not None:
                running.stop(StopReason.CANCELLED)
            elif signal.worker_id == self.worker_id:  # ours, and our claim of it not back yet
                self._remember_cancel(signal.task_id)

    def _remember_cancel(self, task_id: int) -> None:
        """Keep a cancel of a task we do not hold for a few seconds, in case a claim brings it."""
        now = time.monotonic()
        if len(self._recent_cancels) > 1000:
            horizon = now - RECENT_CANCEL_SECONDS
            self._recent_cancels = {i: t for i, t in self._recent_cancels.items() if t > horizon}
        self._recent_cancels[task_id] = now

    @property
    def running_ids(self) -> list[int]:
        return list(self._running)
