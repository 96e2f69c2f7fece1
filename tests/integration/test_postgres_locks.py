"""Row locks between the worker's batch writes on PostgreSQL: every writer of running rows locks them in
id order, so two batches over the same rows queue instead of deadlocking; and when PostgreSQL does
abort a transaction to break a cycle, the store says so (``StoreConflict``), not "unavailable".

The interleavings are driven, not hoped for: a second connection holds a row in an open transaction,
and the test waits until the store's call is blocked on it (``pg_locks``) before taking the next step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from taskapi.domain import NewTask, StoreConflict, StoreUnavailable, TaskStatus, TaskType
from taskapi.store._queries import load_queries
from taskapi.store.base import Claim, Completion
from taskapi.store.postgres import PostgresStore
from tests.conftest import wait_until
from tests.integration.pg import make_postgres_store

pytestmark = pytest.mark.postgres

ALL_TYPES = [t.value for t in TaskType]
WAIT = 10.0  # seconds a blocked call may take at most, so that a failing test never hangs


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[PostgresStore]:
    with make_postgres_store(tmp_path) as store:
        yield store


def two_running(store: PostgresStore) -> tuple[int, int]:
    """Tasks A < B, both running attempt 1 of worker ``w``."""
    store.task_create_many([NewTask(1, TaskType.SEARCH), NewTask(1, TaskType.SEARCH)])
    a, b = sorted(task.id for task in store.task_claim(Claim("w", ALL_TYPES, 2, 30.0, {})))
    return a, b


def blocked_on_a_lock(conn: psycopg.Connection[Any]) -> bool:
    """Whether another backend of this database waits for a lock (the store's call, in its thread)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    ).fetchone()
    return row is not None and row[0] > 0


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``call`` on a thread; its answer or exception lands in the dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test, which asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_finish_of_mixed_outcomes_and_a_progress_batch_queue_instead_of_deadlocking(
    pg_store: PostgresStore,
) -> None:
    """The progress batch [A, B] holds A; the finish completes B and fails A. Were the finish to lock
    B (completing it) before A, each would wait for the other: PostgreSQL would abort one."""
    a, b = two_running(pg_store)
    with psycopg.connect(pg_store.url) as progress, psycopg.connect(pg_store.url, autocommit=True) as watch:
        progress.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", [a])  # the batch's first lock
        outcomes = [Completion(b, 1, 1, 1, result={"ok": True}), Completion(a, 1, 1, 1, error_message="no")]
        finisher, finished = in_thread(lambda: pg_store.task_finish(outcomes))
        wait_until(lambda: blocked_on_a_lock(watch), what="the finish to wait for A")
        params = {
            "ids": [a, b],
            "attempts": [1, 1],
            "progress": [1, 1],
            "totals": [5, 5],
            "lease_seconds": 30,
        }
        written = progress.execute(load_queries("postgres")["task_set_progress"], params).fetchall()
        progress.commit()
        finisher.join(WAIT)
    assert sorted(row[0] for row in written) == [a, b]  # the progress batch took B as well: no cycle
    assert "error" not in finished, finished.get("error")
    assert sorted(finished["value"]) == [a, b]
    done_a, done_b = pg_store.task_get(a), pg_store.task_get(b)
    assert done_a is not None and done_a.status is TaskStatus.FAILED and done_a.error_message == "no"
    assert done_b is not None and done_b.status is TaskStatus.COMPLETED and done_b.result == {"ok": True}


def test_a_transaction_aborted_to_break_a_deadlock_is_a_store_conflict(pg_store: PostgresStore) -> None:
    """Another transaction holds B and then asks for A while the store's renewal holds A and waits for
    B. The store's backend checks for the cycle first (its deadlock_timeout is the shorter), so its
    statement is the one aborted: a conflict, retried by the caller, not an outage."""
    a, b = two_running(pg_store)
    with psycopg.connect(pg_store.url) as other, psycopg.connect(pg_store.url, autocommit=True) as watch:
        other.execute("SET deadlock_timeout = '20s'")
        other.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", [b])
        renewer, renewed = in_thread(lambda: pg_store.lease_renew("w", [(a, 1), (b, 1)], 30))
        wait_until(lambda: blocked_on_a_lock(watch), what="the renewal to hold A and wait for B")
        other.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", [a])  # granted once it is aborted
        renewer.join(WAIT)
        other.rollback()
    error = renewed.get("error")
    assert isinstance(error, StoreConflict) and isinstance(error, StoreUnavailable)
    assert "deadlock detected" in str(error)
    assert pg_store.lease_renew("w", [(a, 1), (b, 1)], 30) == 2  # the same call, again, goes through
