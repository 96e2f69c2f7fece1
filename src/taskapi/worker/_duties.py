"""Background duties that keep tasks alive or rescue them, each with a ``run_once`` tests can drive.

Any process that has a store can run them: the rescuer needs no leader, since its UPDATE only
matches rows whose lease has expired and each row is moved by exactly one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from taskapi.domain import StoreUnavailable, TaskStatus
from taskapi.store.base import RescuedTask, Store

log = logging.getLogger("taskapi.worker")


class Rescuer:
    """Moves running tasks whose lease expired back to pending (or to failed, out of attempts)."""

    def __init__(self, store: Store, actor: str = "rescuer") -> None:
        self.store = store
        self.actor = actor  # signs the timeline's rescued/lost events, e.g. "rescuer <worker id>"

    def run_once(self) -> list[RescuedTask]:
        rescued = self.store.task_rescue(actor=self.actor)
        for task in rescued:
            if task.status is TaskStatus.PENDING:
                log.warning(
                    "task %d: its worker was lost on attempt %d; back to pending", task.id, task.attempt
                )
            else:
                log.warning(
                    "task %d: its worker was lost on its last attempt (%d); failed", task.id, task.attempt
                )
        return rescued


class Pruner:
    """Deletes finished tasks older than the retention (``retention_seconds``; 0 keeps everything).

    Like the rescuer it needs no leader: two pruners deleting at once only share the work.
    """

    def __init__(self, store: Store, retention_seconds: float) -> None:
        self.store = store
        self.retention_seconds = retention_seconds

    def run_once(self) -> int:
        if self.retention_seconds <= 0:
            return 0
        pruned = self.store.task_prune(self.retention_seconds)
        if pruned:
            log.info("pruned %d finished task(s) older than %g s", pruned, self.retention_seconds)
        return pruned


class LeaseRenewer:
    """Extends the lease of every task this worker runs, so that only a dead worker's leases expire."""

    def __init__(self, store: Store, worker_id: str, lease_seconds: float) -> None:
        self.store = store
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds

    def run_once(self) -> int:
        return self.store.lease_renew(self.worker_id, self.lease_seconds)


async def every(interval: float, action: Callable[[], Awaitable[object]], name: str) -> None:
    """Run ``action`` every ``interval`` seconds until cancelled; a store outage is logged, not fatal."""
    while True:
        try:
            await action()
        except StoreUnavailable as exc:
            log.warning("%s: store unavailable (%s); retrying in %g s", name, exc, interval)
        except Exception:
            log.exception("%s failed; retrying in %g s", name, interval)
        await asyncio.sleep(interval)
