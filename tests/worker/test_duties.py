"""The periodic duties as ``build_duties`` makes them and ``run_duties`` runs them: a process without a
worker (a server) rescues and prunes with the very objects a worker uses, a failing duty does not stop
the others, and only a worker renews leases, flushes progress and polls for cancels."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from taskapi.domain import EventKind, TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import PRUNE_BATCH, Claim, Completion, Store
from taskapi.store.sqlite import SQLiteStore
from taskapi.worker import Duty, Holder, WorkerOptions, build_duties, run_duties
from tests.worker.helpers import get, wait_until

T = TypeVar("T")
FAST = WorkerOptions(rescue_interval=0.02, prune_interval=0.02, retention_seconds=0.3)


def _while_running(duties: list[Duty], check: Callable[[], T], what: str) -> T:
    """Run the duties until ``check()`` holds (failing the test after the deadline); answer it."""

    async def main() -> T:
        running = asyncio.create_task(run_duties(duties))
        try:
            return await asyncio.to_thread(wait_until, check, what=what)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            assert running.cancelled(), "the duties end when cancelled"

    return asyncio.run(main())


def _claim(store: Store, worker_id: str, lease: float) -> int:
    (task,) = store.task_claim(Claim(worker_id, ["search"], 1, lease, {"search": 3}))
    return task.id


def test_a_process_without_a_worker_rescues_and_prunes(service: TaskService, store: Store) -> None:
    finished = service.create(1, "search", {})
    assert store.task_finish([Completion(_claim(store, "w", 30), 1, 1, 1, result={})]) == [finished.id]
    lost = service.create(1, "search", {})
    assert _claim(store, "gone", 0.05) == lost.id  # its worker then vanishes
    duties = build_duties(store, FAST)

    def rescued_and_pruned() -> bool:
        return get(store, lost.id).status is TaskStatus.PENDING and not store.task_get_many([finished.id])

    _while_running(duties, rescued_and_pruned, "the lost task rescued and the finished one pruned")
    rescued = service.events(lost.id)[-1]
    assert (rescued.kind, rescued.actor) == (EventKind.RESCUED, "rescuer server")


class BrokenPruneStore(SQLiteStore):
    """The real store, except that pruning fails as a bug would."""

    prunes = 0

    def task_prune(self, older_than_seconds: float, limit: int = PRUNE_BATCH) -> int:
        self.prunes += 1
        raise RuntimeError("a bug in pruning")


def test_a_failing_duty_is_retried_and_does_not_stop_the_others(service: TaskService, db_path: Path) -> None:
    broken = BrokenPruneStore(db_path)
    try:
        lost = service.create(1, "search", {})
        _claim(broken, "gone", 0.05)
        duties = build_duties(broken, FAST)
        _while_running(
            duties,
            lambda: broken.prunes >= 3 and get(broken, lost.id).status is TaskStatus.PENDING,
            "the prune retried and the lost task rescued",
        )
    finally:
        broken.close()


def test_only_a_worker_renews_leases_flushes_progress_and_polls_for_cancels(store: Store) -> None:
    def names(options: WorkerOptions, holder: Holder | None = None) -> set[str]:
        return {duty.name for duty in build_duties(store, options, holder=holder)}

    holder = Holder("w", {}, lambda: None)
    worker_only = {"lease renewal", "progress", "cancel check"}
    assert names(FAST) == {"rescue", "retention"}
    assert names(FAST, holder) == {"rescue", "retention"} | worker_only
    assert names(WorkerOptions(retention_seconds=0), holder) == {"rescue"} | worker_only  # keeps all
