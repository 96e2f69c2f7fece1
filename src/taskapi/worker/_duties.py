"""Periodic duties, each a small object with an async ``run_once`` that tests can drive, all built in
one place (``build_duties``) and run by one runner (``run_duties``).

Any process that has a store rescues expired leases and applies the retention, a server without a
worker too: the rescuer needs no leader, since its UPDATE only matches rows whose lease has expired and
each row is moved by exactly one transaction (and two pruners only share the work). A worker also
renews its leases, flushes its handlers' progress and polls for cancels it may not have heard of.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from taskapi import metrics
from taskapi.domain import StoreConflict, StoreUnavailable, TaskStatus
from taskapi.store.base import ProgressWrite, RescuedTask, Store
from taskapi.worker._options import WorkerOptions
from taskapi.worker._outcomes import StopReason
from taskapi.worker._runner import RunningTask

log = logging.getLogger("taskapi.worker")
DEFAULTS = WorkerOptions()

# The tasks a worker holds, by (task id, attempt): one worker may hold two attempts of one task.
Held = Mapping[tuple[int, int], RunningTask]


class Duty(Protocol):
    """Something done every ``interval`` seconds; ``run_once`` does it once."""

    @property
    def name(self) -> str: ...

    @property
    def interval(self) -> float: ...

    async def run_once(self) -> object: ...


class Rescuer:
    """Moves running tasks whose lease expired back to pending (or to failed, out of attempts).

    ``on_pending`` is called when a task went back to pending (a worker claims it at once).
    """

    name = "rescue"

    def __init__(
        self,
        store: Store,
        actor: str = "rescuer",
        *,
        interval: float = DEFAULTS.rescue_interval,
        on_pending: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.actor = actor  # signs the timeline's rescued/lost events, e.g. "rescuer <worker id>"
        self.interval = interval
        self.on_pending = on_pending

    async def run_once(self) -> list[RescuedTask]:
        rescued = await asyncio.to_thread(self.store.task_rescue, actor=self.actor)
        for task in rescued:
            metrics.RESCUES.labels(task.status.value).inc()
            if task.status is TaskStatus.PENDING:
                log.warning(
                    "task %d: its worker was lost on attempt %d; back to pending", task.id, task.attempt
                )
            else:
                log.warning(
                    "task %d: its worker was lost on its last attempt (%d); failed", task.id, task.attempt
                )
        if self.on_pending and any(task.status is TaskStatus.PENDING for task in rescued):
            self.on_pending()
        return rescued


class Pruner:
    """Deletes finished tasks older than the retention (``retention_seconds``; 0 keeps everything)."""

    name = "retention"

    def __init__(
        self, store: Store, retention_seconds: float, *, interval: float = DEFAULTS.prune_interval
    ) -> None:
        self.store = store
        self.retention_seconds = retention_seconds
        self.interval = interval

    async def run_once(self) -> int:
        if self.retention_seconds <= 0:
            return 0
        pruned = await asyncio.to_thread(self.store.task_prune, self.retention_seconds)
        if pruned:
            log.info("pruned %d finished task(s) older than %g s", pruned, self.retention_seconds)
        return pruned


class LeaseRenewer:
    """Extends the leases of the tasks this worker runs, so that only a dead worker's leases expire.

    ``held`` is the worker's ``(task id, attempt)`` pairs, live; only those are renewed, so a row the
    worker lost track of expires and is rescued, rather than kept running for ever by a worker that
    does not run it.
    """

    name = "lease renewal"

    def __init__(
        self, store: Store, worker_id: str, lease_seconds: float, held: Collection[tuple[int, int]]
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.held = held
        self.interval = lease_seconds / 3  # two renewals may fail before the lease expires

    async def run_once(self) -> int:
        held = sorted(self.held)  # on the event loop, where the worker changes it
        if not held:
            return 0
        return await asyncio.to_thread(self.store.lease_renew, self.worker_id, held, self.lease_seconds)


class ProgressFlusher:
    """Writes the progress that changed since the last flush (coalescing a handler's many reports);
    stops the attempts whose write was refused, since they are no longer ours.

    Only the newest attempt held of each task is written, and only while its handler runs: an older
    one is no longer current, and a handler that ended has its last progress written with its
    outcome (writing it here as well would race that write for the same row). So each task appears
    once in a batch, and a refused id names exactly the attempt that was written.
    """

    name = "progress"

    def __init__(self, store: Store, tasks: Held, lease_seconds: float, *, interval: float) -> None:
        self.store = store
        self.tasks = tasks  # the worker's, live
        self.lease_seconds = lease_seconds
        self.interval = interval

    async def run_once(self) -> int:
        """Answer how many tasks' progress was written."""
        written: dict[int, RunningTask] = {}
        writes = []
        for running in newest_attempts(self.tasks.values()):
            if running.ended_at is not None:
                continue
            progress, total, seq = running.slot.snapshot()
            if seq != running.flushed_seq:
                running.flushed_seq = seq
                written[running.task.id] = running
                writes.append(ProgressWrite(running.task.id, running.task.attempt, progress, total))
        if writes:
            lost = await asyncio.to_thread(self.store.task_set_progress, writes, self.lease_seconds)
            if lost:
                await self._stop_lost([written[task_id] for task_id in lost])
        return len(writes)

    async def _stop_lost(self, refused: list[RunningTask]) -> None:
        """Stop the attempts whose write was refused, and no other attempt of their tasks: cancelled
        ones as cancelled (the flush often hears of a cancel before its announcement does), the rest
        as no longer ours."""
        states = await asyncio.to_thread(self.store.task_states, [r.task.id for r in refused])
        cancelled = {(s.id, s.attempt) for s in states if s.status is TaskStatus.CANCELLED}
        for running in refused:
            running.stop(StopReason.CANCELLED if running.key in cancelled else StopReason.LOST)


def newest_attempts(held: Iterable[RunningTask]) -> list[RunningTask]:
    """Of the attempts held, the newest of each task (an older one was rescued meanwhile)."""
    newest: dict[int, RunningTask] = {}
    for running in held:
        other = newest.get(running.task.id)
        if other is None or other.task.attempt < running.task.attempt:
            newest[running.task.id] = running
    return list(newest.values())


class CancelChecker:
    """The fallback path for cancels from other processes: compares the worker's tasks with the store.

    Only the tasks asked about are judged: one claimed while the query ran is not in its answer, and
    must not be taken for lost.
    """

    name = "cancel check"

    def __init__(self, store: Store, tasks: Held, *, interval: float) -> None:
        self.store = store
        self.tasks = tasks  # the worker's, live
        self.interval = interval

    async def run_once(self) -> None:
        if not self.tasks:
            return
        asked = dict(self.tasks)
        ids = sorted({task_id for task_id, _ in asked})
        states = await asyncio.to_thread(self.store.task_states, ids)
        current = {state.id: state for state in states}
        for key, running in asked.items():
            if self.tasks.get(key) is not running:
                continue  # finished meanwhile
            state = current.get(running.task.id)
            if state is None or state.attempt != running.task.attempt:
                running.stop(StopReason.LOST)
            elif state.status is TaskStatus.CANCELLED:
                running.stop(StopReason.CANCELLED)
            elif state.status is not TaskStatus.RUNNING:
                running.stop(StopReason.LOST)


@dataclass(frozen=True, slots=True)
class Holder:
    """The worker whose duties are built: its id, the tasks it holds (a live mapping), and how to wake
    its claim loop."""

    worker_id: str
    tasks: Held
    wake: Callable[[], None]


def build_duties(store: Store, options: WorkerOptions, *, holder: Holder | None = None) -> list[Duty]:
    """The duties of a process: a worker's (``holder``), or those of a server that runs no worker."""
    actor = "rescuer server" if holder is None else f"rescuer {holder.worker_id}"
    wake = None if holder is None else holder.wake
    duties: list[Duty] = [Rescuer(store, actor, interval=options.rescue_interval, on_pending=wake)]
    if options.retention_seconds > 0:
        duties.append(Pruner(store, options.retention_seconds, interval=options.prune_interval))
    if holder is not None:
        tasks = holder.tasks
        duties += [
            LeaseRenewer(store, holder.worker_id, options.lease_seconds, tasks),
            ProgressFlusher(store, tasks, options.lease_seconds, interval=options.progress_interval),
            CancelChecker(store, tasks, interval=options.poll_interval),
        ]
    return duties


async def run_duties(duties: Iterable[Duty]) -> None:
    """Run every duty on its interval until cancelled; one duty failing never stops another."""
    async with asyncio.TaskGroup() as group:
        for duty in duties:
            group.create_task(every(duty.interval, duty.run_once, duty.name), name=f"duty: {duty.name}")


async def every(interval: float, action: Callable[[], Awaitable[object]], name: str) -> None:
    """Run ``action`` every ``interval`` seconds until cancelled; a store error is logged, not fatal.

    ``StoreUnavailable`` is any error the store calls transient: an outage, or ``StoreConflict``, a
    deadlock or a serialization failure that PostgreSQL resolved by aborting this transaction."""
    while True:
        try:
            await action()
        except StoreConflict as exc:
            log.warning("%s: conflict, retrying in %g s: %s", name, interval, exc)
        except StoreUnavailable as exc:
            log.warning("%s: store call failed, retrying in %g s: %s", name, interval, exc)
        except Exception:
            log.exception("%s failed; retrying in %g s", name, interval)
        await asyncio.sleep(interval)
