"""Claiming: how many tasks to take, taking them, and the claim-ahead buffer that holds them.

Short tasks are claimed ahead: a small buffer of claimed tasks waits for a free slot, so a slot that
frees starts its next task at once instead of after a claim round trip. The buffer is sized from the
observed run time so that a task waits in it for about ``CLAIM_AHEAD_WAIT`` at most; long tasks are
never claimed ahead (another worker may be idle), and held tasks that still wait after ``HOLD_LIMIT``
(the tasks ahead of them turned out long) are handed back as pending by the worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from taskapi import metrics
from taskapi.domain import StoreUnavailable
from taskapi.store.base import Claim, Store
from taskapi.worker._options import WorkerOptions, WorkerStats
from taskapi.worker._outcomes import StopReason
from taskapi.worker._runner import RunningTask
from taskapi.worker.registry import HandlerSpec

log = logging.getLogger("taskapi.worker")

CLAIM_AHEAD_WAIT = 0.05  # seconds a claimed-ahead task is expected to wait for a slot, at most
CLAIM_AHEAD_MAX = 200  # tasks held beyond the running ones, at most
HOLD_LIMIT = 1.0  # seconds a held task may wait for a slot before it is handed back
RECENT_CANCEL_SECONDS = 10.0  # how long a cancel of a task we do not hold is remembered


class ClaimAhead:
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


class Claimer:
    """Claims tasks of the worker's types and holds them (``ready``) until a slot takes them.

    Also remembers, for a few seconds, cancels of tasks the worker does not hold: the claim that
    brings such a task may be on its way back, and the task must then stop before it starts.
    """

    def __init__(
        self,
        store: Store,
        worker_id: str,
        handlers: dict[str, HandlerSpec],
        options: WorkerOptions,
        stats: WorkerStats,
        resources: Callable[[], Any],
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.stats = stats
        self.resources = resources
        self.concurrency = options.concurrency
        self.ahead = ClaimAhead(options.concurrency)
        self.ready: deque[RunningTask] = deque()  # claimed, waiting for a free slot
        self._claim = Claim(  # the limit is set per claim
            worker_id=worker_id,
            task_types=sorted(handlers),
            limit=0,
            lease_seconds=options.lease_seconds,
            max_attempts={name: spec.max_attempts for name, spec in handlers.items()},
        )
        # Set while no claim is in flight: a task handed back at shutdown waits for it, or that
        # claim could take the task again the moment it is pending.
        self._idle = asyncio.Event()
        self._idle.set()
        self._recent_cancels: dict[int, float] = {}

    def bind(self) -> None:
        """Make the idle event on the running loop (the worker may be built outside any loop)."""
        self._idle = asyncio.Event()
        self._idle.set()

    def wanted(self, busy: int, held: Iterable[RunningTask]) -> int:
        """How many tasks to claim now: free slots plus the claim-ahead buffer, in batches.

        ``busy`` is the slots whose handler runs, ``held`` every task the worker holds. With a buffer,
        claim again only once it is half empty, so claims stay batches rather than one round trip
        per finished task.
        """
        now = time.monotonic()
        started = [r.began_at for r in held if r.began_at is not None]
        extra = self.ahead.size(now - min(started) if started else 0.0)
        if extra and len(self.ready) > extra // 2:
            return 0
        return max(self.concurrency + extra - busy - len(self.ready), 0)

    async def claim(self, limit: int) -> list[RunningTask]:
        """Claim up to ``limit`` tasks and hold them (appended to ``ready``); a store outage claims none."""
        claim = dataclasses.replace(self._claim, limit=limit)
        self._idle.clear()
        try:
            claimed = await asyncio.to_thread(self.store.task_claim, claim)
        except StoreUnavailable as exc:
            log.warning("claim failed, store unavailable: %s", exc)
            return []
        finally:
            self._idle.set()
        self.stats.claimed += len(claimed)
        held = []
        for task in claimed:
            if task.attempt == 1 and task.started_at is not None:
                waited = (task.started_at - task.created_at).total_seconds()
                metrics.PICKUP_SECONDS.labels(task.task_type).observe(max(waited, 0.0))
            running = RunningTask(task=task, spec=self.handlers[task.task_type], resources=self.resources)
            if self._recent_cancels.pop(task.id, None) is not None:
                running.stop(StopReason.CANCELLED)  # cancelled while our claim of it was on its way back
            held.append(running)
        self.ready.extend(held)
        return held

    async def idle(self) -> None:
        """Wait until no claim is in flight."""
        await self._idle.wait()

    def overdue(self) -> bool:
        """Whether the oldest held task waited past ``HOLD_LIMIT`` (the tasks ahead turned out long)."""
        return bool(self.ready) and time.monotonic() - self.ready[0].claimed_at > HOLD_LIMIT

    def take_held(self) -> list[RunningTask]:
        """Every held task, no longer held (to be handed back)."""
        held = list(self.ready)
        self.ready.clear()
        return held

    def remember_cancel(self, task_id: int) -> None:
        """Keep a cancel of a task we do not hold for a few seconds, in case a claim brings it."""
        now = time.monotonic()
        if len(self._recent_cancels) > 1000:
            horizon = now - RECENT_CANCEL_SECONDS
            self._recent_cancels = {i: t for i, t in self._recent_cancels.items() if t > horizon}
        self._recent_cancels[task_id] = now
