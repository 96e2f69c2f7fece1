"""Cancel: a pending task never starts; a running one is stopped (cooperative, at an await, or killed)
quickly, in-process and from another process; whatever the handler does afterwards is dropped."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Claim, TaskState
from taskapi.store.sqlite import SQLiteStore
from taskapi.worker import Cancelled, Outcome, StopReason, Worker, load_handlers
from taskapi.worker._children import ChildPool
from taskapi.worker._runner import RunningTask, run_async, run_in_child
from tests.worker.helpers import (
    BASIC,
    cpu_ticks,
    drain,
    get,
    make_worker,
    marker,
    p95,
    report,
    running,
    wait_final,
    wait_marker,
    wait_until,
)

IN_PROCESS_RUNS = 20
CROSS_PROCESS_RUNS = 5


def _idle(worker: Worker) -> bool:
    return not worker.running_ids


def test_a_cancelled_pending_task_never_starts(service: TaskService, store: SQLiteStore, marks: Path) -> None:
    tasks = [service.create(1, kind, {"mode": "return", "dir": str(marks)}) for kind in ("search", "crawl")]
    for task in tasks:
        service.cancel(task.id)
    worker = make_worker(store)
    drain(worker)
    assert worker.stats.claimed == 0
    assert list(marks.iterdir()) == []
    for task in tasks:
        cancelled = get(store, task.id)
        assert cancelled.status is TaskStatus.CANCELLED
        assert cancelled.attempt == 0 and cancelled.started_at is None
        assert cancelled.completed_at is not None


def test_cancel_racing_a_claiming_worker_never_lets_a_cancelled_pending_task_start(
    service: TaskService, store: SQLiteStore, marks: Path
) -> None:
    rng = random.Random(3)
    ids = []
    with running(make_worker(store, concurrency=8, poll_interval=0.005)) as worker:
        for _ in range(200):
            task = service.create(1, "search", {"mode": "loop", "dir": str(marks)})
            for _ in range(rng.randint(0, 20_000)):  # a random head start for the worker's claim
                pass
            service.cancel(task.id)  # never refused: the task is pending or running, never finished
            ids.append(task.id)
        wait_until(lambda: _idle(worker), what="every cancelled run to stop")
    claimed = worker.stats.claimed  # read once stopped: a claim may still have been on its way back
    before, during = 0, 0
    for task_id in ids:
        task = get(store, task_id)
        assert task.status is TaskStatus.CANCELLED
        if task.attempt == 0:  # cancelled while pending
            before += 1
            assert not marker(marks, task_id, "started").exists(), f"task {task_id} started after its cancel"
        else:
            during += 1
    print(f"\n[race] 200 create-then-cancel: {before} cancelled while pending, {during} while running")
    assert claimed == during
    assert before > 0


def _cancel_and_time(
    canceller: TaskService, store: SQLiteStore, worker: Worker, marks: Path, task_id: int
) -> float:
    """Cancel a running task; answer the milliseconds until the handler saw it and gave up."""
    wait_until(lambda: marker(marks, task_id, "started").exists(), what=f"task {task_id} to start")
    cancelled_at = time.monotonic()
    canceller.cancel(task_id)
    stopped = wait_marker(marks, task_id, "stopped")
    wait_until(lambda: _idle(worker), what="the worker to let go of the task")
    assert get(store, task_id).status is TaskStatus.CANCELLED
    return (float(stopped) - cancelled_at) * 1000


@pytest.mark.parametrize(
    ("task_type", "name"), [("crawl", "cooperative sync handler"), ("search", "async handler at its await")]
)
def test_a_running_task_stops_within_100_ms_p95_of_an_in_process_cancel(
    task_type: str, name: str, service: TaskService, store: SQLiteStore, marks: Path
) -> None:
    samples = []
    with running(make_worker(store)) as worker:
        for _ in range(IN_PROCESS_RUNS):
            task = service.create(1, task_type, {"mode": "loop", "dir": str(marks)})
            samples.append(_cancel_and_time(service, store, worker, marks, task.id))
        stats = worker.stats
    report(f"in-process cancel-to-stop, {name}", samples)
    assert stats.by_reason == {"cancelled": IN_PROCESS_RUNS}
    assert stats.completed == stats.failed == stats.killed == 0
    assert p95(samples) < 100


@pytest.mark.parametrize(
    ("task_type", "name"), [("crawl", "cooperative sync handler"), ("search", "async handler at its await")]
)
def test_a_cancel_from_another_process_stops_the_task_within_a_second_by_polling(
    task_type: str, name: str, service: TaskService, store: SQLiteStore, db_path: Path, marks: Path
) -> None:
    other_store = SQLiteStore(db_path)  # another process's view: its own connections and its own Signals
    other = TaskService(other_store)
    samples = []
    try:
        # the service's default intervals: the number a user sees (the in-process signal is not wired)
        with running(make_worker(store, poll_interval=0.25, progress_interval=0.25)) as worker:
            for _ in range(CROSS_PROCESS_RUNS):
                task = service.create(1, task_type, {"mode": "loop", "dir": str(marks)})
                samples.append(_cancel_and_time(other, store, worker, marks, task.id))
    finally:
        other_store.close()
    report(f"cross-process cancel-to-stop (poll only, 0.25 s), {name}", samples)
    assert max(samples) < 1000


def _kill_one_stubborn(
    service: TaskService, store: SQLiteStore, worker: Worker, marks: Path, run: int
) -> float:
    """Cancel a stubborn running handler; answer the milliseconds until its process was gone."""
    task = service.create(1, "crawl", {"mode": "stubborn", "dir": str(marks)})
    pid = int(wait_marker(marks, task.id, "started"))
    wait_until(lambda: cpu_ticks(pid) > 0, what="the handler to burn CPU")
    cancelled_at = time.monotonic()
    service.cancel(task.id)
    # killed and reaped: no process left, not even a zombie, so no CPU burnt for the cancelled task
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), what="the child to be gone")
    elapsed = (time.monotonic() - cancelled_at) * 1000
    wait_until(lambda: worker.stats.killed == run + 1, what="the kill to be counted")
    assert get(store, task.id).status is TaskStatus.CANCELLED
    after = service.create(1, "crawl", {"mode": "return", "value": {"run": run}, "dir": str(marks)})
    assert wait_final(store, after.id).result == {"run": run}
    assert int(wait_marker(marks, after.id, "started")) != pid  # a fresh child ran it
    return elapsed


def test_a_sync_handler_asleep_in_a_system_call_is_interrupted_at_once_not_killed(
    service: TaskService, store: SQLiteStore, marks: Path
) -> None:
    """It never looks at its context: the interrupt raises TaskCancelled inside its sleep."""
    with running(make_worker(store, cancel_grace=5.0)) as worker:
        samples = []
        pids = []
        for _ in range(5):
            task = service.create(1, "crawl", {"mode": "sleeper", "dir": str(marks)})
            pids.append(int(wait_marker(marks, task.id, "started")))
            samples.append(_cancel_and_time(service, store, worker, marks, task.id))
        stats = worker.stats
    report("cancel of a sync handler asleep for 60 s (interrupted)", samples)
    assert stats.killed == 0
    assert stats.by_reason == {"cancelled": 5}
    assert max(samples) < 5000  # long before the 5 s grace would have killed it
    assert len(set(pids)) == 5  # an interrupted child is replaced, never reused


def test_a_stubborn_sync_handler_is_killed_after_the_grace_period_and_the_worker_carries_on(
    service: TaskService, store: SQLiteStore, marks: Path
) -> None:
    with running(make_worker(store, cancel_grace=0.5)) as worker:
        samples = [_kill_one_stubborn(service, store, worker, marks, run) for run in range(3)]
        stats = worker.stats
    report("hard kill of a stubborn sync handler (cancel_grace 0.5 s), cancel to process gone", samples)
    assert stats.killed == 3
    assert stats.by_reason == {"cancelled": 3}
    assert all(500 <= sample < 1500 for sample in samples)


@pytest.mark.parametrize("task_type", ["crawl", "search"])
def test_what_a_handler_returns_or_reports_after_a_cancel_is_dropped_and_never_retried(
    task_type: str, service: TaskService, store: SQLiteStore, marks: Path
) -> None:
    task = service.create(1, task_type, {"mode": "ignore", "dir": str(marks)})
    with running(make_worker(store)) as worker:
        wait_until(lambda: marker(marks, task.id, "started").exists(), what="the start")
        service.cancel(task.id)
        wait_until(lambda: marker(marks, task.id, "done").exists(), what="the handler to return anyway")
        wait_until(lambda: _idle(worker), what="the worker to let go of the task")
        assert worker.stats.completed == worker.stats.failed == 0
        assert worker.stats.by_reason == {"cancelled": 1}
    later = make_worker(store)
    drain(later)
    assert later.stats.claimed == 0
    cancelled = get(store, task.id)
    assert cancelled.status is TaskStatus.CANCELLED
    assert cancelled.result is None
    assert cancelled.progress != 999
    assert cancelled.attempt == 1
    assert cancelled.error_message == ""


@pytest.mark.parametrize("task_type", ["search", "crawl"])
def test_a_task_cancelled_between_its_claim_and_its_start_never_runs_and_does_not_wedge_the_worker(
    task_type: str, service: TaskService, store: SQLiteStore, marks: Path
) -> None:
    """Regression: an async handler stopped before it started used to run on, deaf to every stop."""
    task = service.create(1, task_type, {"mode": "loop", "dir": str(marks)})
    (claimed,) = store.task_claim(
        Claim(worker_id="w", task_types=[task_type], limit=1, lease_seconds=10, max_attempts={})
    )
    spec = load_handlers([BASIC], builtin=False)[task_type]
    early = RunningTask(task=claimed, spec=spec)

    async def run() -> Outcome:
        early.stop(StopReason.CANCELLED)  # the cancel's signal lands before the runner starts
        pool = ChildPool([BASIC], 1)
        try:
            if spec.is_async:
                return await asyncio.wait_for(run_async(early, grace=0.5), timeout=5)
            return await asyncio.wait_for(run_in_child(early, pool, grace=0.5), timeout=5)
        finally:
            pool.close()

    outcome = asyncio.run(run())
    assert outcome == Cancelled(killed=False)
    assert not marker(marks, task.id, "started").exists()


class StatesHookStore(SQLiteStore):
    """The real store; ``hook`` runs once inside the next ``task_states`` call, after its query."""

    hook: Callable[[], None] | None = None

    def task_states(self, task_ids: Sequence[int]) -> list[TaskState]:
        states = super().task_states(task_ids)
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return states


def test_a_task_claimed_while_the_cancel_poll_runs_is_not_taken_for_lost(
    service: TaskService, store: SQLiteStore, db_path: Path, marks: Path, tmp_path: Path
) -> None:
    """Regression: the poll judged every running task by an answer that predated the newest claims."""
    gate = tmp_path / "gate"
    params = {"mode": "gate", "gate": str(gate), "dir": str(marks)}
    hooked = StatesHookStore(db_path)
    try:
        with running(make_worker(hooked)) as worker:
            first = service.create(1, "search", params)
            wait_marker(marks, first.id, "started")
            second_ids: list[int] = []

            def claim_another_meanwhile() -> None:
                second_ids.append(service.create(1, "search", params).id)
                wait_until(lambda: second_ids[0] in worker.running_ids, what="the second claim")

            hooked.hook = claim_another_meanwhile
            wait_until(lambda: hooked.hook is None and second_ids, what="the hooked cancel poll")
            wait_until(lambda: worker.stats.claimed == 2, what="two claims")
            gate.touch()
            for task_id in (first.id, second_ids[0]):
                assert wait_final(store, task_id).status is TaskStatus.COMPLETED
            assert worker.stats.by_reason == {}
    finally:
        hooked.close()
