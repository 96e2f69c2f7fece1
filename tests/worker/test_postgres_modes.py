"""PostgreSQL, both ways a worker hears of other hosts: once by notification, once by polling alone.

Every test runs in two modes:

- ``notify``: ``listen=True`` and every periodic duty (claim poll, cancel check, progress flush, rescue)
  every 30 s, so only a NOTIFY can explain a pickup or a stop within the deadlines here;
- ``poll``: ``listen=False`` and a 0.05 s poll, the fallback when notifications are off or lost.

The worker runs on one store object, and every create and cancel goes through another one (its own
pool, no in-process ``Signals``), as an API replica on another host would send them. Pickup and cancel
latencies are printed (``pytest -s``): median (p50) and p95 over ``RUNS`` samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Claim
from taskapi.store.postgres import PostgresStore
from taskapi.worker import Worker
from tests.integration.pg import make_postgres_store, reopen_postgres_store
from tests.worker.helpers import (
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

pytestmark = pytest.mark.postgres

RUNS = 20
SLOW = 30.0  # seconds: a duty this slow cannot explain anything a test here waits for


@dataclass(frozen=True)
class Mode:
    name: str
    options: dict[str, Any]
    pickup_p95_ms: float  # the bound each mode must keep
    cancel_p95_ms: float


NOTIFY = Mode(
    "notify",
    {"listen": True, "poll_interval": SLOW, "progress_interval": SLOW, "rescue_interval": SLOW},
    pickup_p95_ms=100,
    cancel_p95_ms=100,
)
POLL = Mode(
    "poll",
    {"listen": False, "poll_interval": 0.05, "progress_interval": SLOW, "rescue_interval": SLOW},
    pickup_p95_ms=250,
    cancel_p95_ms=250,
)


@pytest.fixture(params=[NOTIFY, POLL], ids=lambda mode: mode.name)
def mode(request: pytest.FixtureRequest) -> Mode:
    assert isinstance(request.param, Mode)
    return request.param


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    """The worker's store: a migrated PostgreSQL database of this test alone."""
    with make_postgres_store() as opened:
        yield opened


@pytest.fixture
def api_store(pg_store: PostgresStore) -> Iterator[PostgresStore]:
    """Another store on the same database (its own pool), as another host's API process has."""
    opened = reopen_postgres_store(pg_store)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def api(api_store: PostgresStore) -> TaskService:
    """The other host's service: its creates and cancels reach the worker only through PostgreSQL."""
    return TaskService(api_store)


def _worker(store: PostgresStore, mode: Mode, **options: Any) -> Worker:
    return make_worker(store, **{"lease_seconds": SLOW, **mode.options, **options})


def _idle(worker: Worker) -> bool:
    return not worker.running_ids


def _ms(seconds: float) -> float:
    return seconds * 1000


def _listening(store: PostgresStore) -> bool:
    """Whether a session on ``store``'s database has run LISTEN and waits (the worker's listener)."""
    with psycopg.connect(store.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'idle' AND query ILIKE 'LISTEN%'"
        ).fetchone()
    return row is not None and row[0] > 0


def _heard(api: TaskService, worker: Worker, mode: Mode) -> None:
    """Wait until the worker is up and hears other hosts, then is idle.

    LISTEN starts on its own thread as the worker starts: a create or cancel announced before it would
    be missed and, with a 30 s poll, wait for the poll. So in notify mode the listener's session must be
    there; then probe tasks are created until one completes, and the samples start from idle.
    """
    if mode.options["listen"]:
        store = api.store
        assert isinstance(store, PostgresStore)
        wait_until(lambda: _listening(store), what="the worker's LISTEN")
    probes: list[int] = []
    sent = [0.0]  # when the newest probe went out

    def probe_completed() -> bool:
        if probes and get(api.store, probes[-1]).status.is_final:
            return True
        if time.monotonic() - sent[0] > 0.2:  # unheard so far: announce another one
            probes.append(api.create(1, "search", {"mode": "return"}).id)
            sent[0] = time.monotonic()
        return False

    wait_until(probe_completed, timeout=10, what="the worker to pick up a probe task")
    wait_until(lambda: all(get(api.store, p).status.is_final for p in probes), what="every probe to finish")
    wait_until(lambda: _idle(worker), what="the worker to be idle")


def test_a_task_created_on_another_host_is_picked_up(
    mode: Mode, pg_store: PostgresStore, api: TaskService, marks: Path
) -> None:
    samples = []
    with running(_worker(pg_store, mode)) as worker:
        _heard(api, worker, mode)
        claimed_before = worker.stats.claimed
        for run in range(RUNS):
            created = api.create(1, "search", {"mode": "return", "value": {"run": run}})
            done = wait_final(api.store, created.id, timeout=5)
            assert (done.status, done.result, done.attempt) == (TaskStatus.COMPLETED, {"run": run}, 1)
            assert done.started_at is not None
            # both clocks are the server's: created_at when the INSERT ran, started_at at the claim
            samples.append(_ms((done.started_at - done.created_at).total_seconds()))
            wait_until(lambda: _idle(worker), what="the worker to be idle again")
        assert worker.stats.claimed - claimed_before == RUNS
    report(f"PostgreSQL pickup ({mode.name}), create to claim", samples)
    assert p95(samples) < mode.pickup_p95_ms


@pytest.mark.parametrize(
    ("task_type", "name"), [("crawl", "cooperative sync handler"), ("search", "async handler at its await")]
)
def test_a_cancel_from_another_host_stops_a_running_handler(
    task_type: str, name: str, mode: Mode, pg_store: PostgresStore, api: TaskService, marks: Path
) -> None:
    samples = []
    with running(_worker(pg_store, mode)) as worker:
        _heard(api, worker, mode)
        probes = worker.stats.completed  # the probes, and nothing else, completed
        for _ in range(RUNS):
            task = api.create(1, task_type, {"mode": "loop", "dir": str(marks)})
            wait_marker(marks, task.id, "started")
            cancelled_at = time.monotonic()
            api.cancel(task.id)
            stopped = float(wait_marker(marks, task.id, "stopped", timeout=5))
            wait_until(lambda: _idle(worker), what="the worker to let go of the task")
            assert get(api.store, task.id).status is TaskStatus.CANCELLED
            samples.append(_ms(stopped - cancelled_at))
        stats = worker.stats
    report(f"PostgreSQL cancel-to-stop ({mode.name}), {name}", samples)
    assert stats.by_reason == {"cancelled": RUNS}
    assert stats.claimed == probes + RUNS and stats.completed == probes
    assert stats.failed == stats.killed == stats.dropped_writes == 0
    assert p95(samples) < mode.cancel_p95_ms


def test_a_task_cancelled_while_pending_never_starts(
    mode: Mode, pg_store: PostgresStore, api: TaskService, marks: Path
) -> None:
    cancelled = [api.create(1, kind, {"mode": "return", "dir": str(marks)}) for kind in ("search", "crawl")]
    for task in cancelled:
        api.cancel(task.id)
    with running(_worker(pg_store, mode)) as worker:
        _heard(api, worker, mode)  # its probe: claimed after the cancelled tasks, which are older
        witness = api.create(1, "crawl", {"mode": "return", "dir": str(marks)})
        assert wait_final(api.store, witness.id, timeout=5).status is TaskStatus.COMPLETED
        wait_until(lambda: _idle(worker), what="the worker to be idle")
        probes = worker.stats.claimed - 1
    assert probes >= 0 and worker.stats.completed == probes + 1  # nothing else was ever claimed
    for task in cancelled:
        never = get(api.store, task.id)
        assert never.status is TaskStatus.CANCELLED
        assert (never.attempt, never.started_at, never.worker_id) == (0, None, None)
        assert not marker(marks, task.id, "started").exists()


@pytest.mark.parametrize("task_type", ["crawl", "search"])
def test_what_a_handler_returns_after_a_cancel_from_another_host_is_dropped(
    task_type: str, mode: Mode, pg_store: PostgresStore, api: TaskService, marks: Path
) -> None:
    with running(_worker(pg_store, mode)) as worker:
        _heard(api, worker, mode)  # a cancel announced before the worker listens would wait for the poll
        probes = worker.stats.completed
        task = api.create(1, task_type, {"mode": "ignore", "dir": str(marks)})
        wait_marker(marks, task.id, "started")
        api.cancel(task.id)
        wait_marker(marks, task.id, "done", timeout=5)  # the handler returned anyway
        wait_until(lambda: _idle(worker), what="the worker to let go of the task")
        stats = worker.stats
    assert stats.by_reason == {"cancelled": 1}
    assert stats.completed == probes and stats.failed == 0
    dropped = get(api.store, task.id)
    assert (dropped.status, dropped.result, dropped.attempt) == (TaskStatus.CANCELLED, None, 1)
    assert dropped.progress != 999
    assert dropped.error_message == ""


def test_a_dead_workers_task_is_rescued_by_a_worker_on_another_host(
    mode: Mode, pg_store: PostgresStore, api_store: PostgresStore, api: TaskService, marks: Path
) -> None:
    task = api.create(1, "crawl", {"mode": "first_attempt_hangs", "dir": str(marks)})
    # a worker on a third host claimed it, then died: nothing renews its short lease
    (claimed,) = api_store.task_claim(
        Claim(worker_id="dead-host", task_types=["crawl"], limit=1, lease_seconds=0.05, max_attempts={})
    )
    assert (claimed.id, claimed.attempt) == (task.id, 1)
    with running(_worker(pg_store, mode, rescue_interval=0.05)) as worker:
        done = wait_final(api.store, task.id, timeout=10)
        assert worker.stats.claimed == 1
    assert (done.status, done.attempt, done.result) == (TaskStatus.COMPLETED, 2, {"attempt": 2})
    assert int(wait_marker(marks, task.id, "started", attempt=2)) > 0  # attempt 2 ran here
