"""Migration 0002 on a database that already holds tasks: every task gets the timeline its row still
tells (created; claimed when it started; its final state), and the store carries on from there."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from taskapi.domain import EventKind, TaskStatus
from taskapi.store._queries import load_migrations, load_queries
from taskapi.store.base import Store
from taskapi.store.postgres import PostgresStore
from taskapi.store.sqlite import SQLiteStore, _split_statements
from tests.integration.pg import empty_database
from tests.integration.test_store_conformance import claim, new

K = EventKind
# One task per state, as version 0001 stored them (times in each dialect's own form).
ROWS = [
    # status, started_at, completed_at, attempt, worker_id, error_message
    ("pending", None, None, 0, None, ""),
    ("running", "2025-03-12T10:00:01", None, 1, "w1", ""),
    ("completed", "2025-03-12T10:00:01", "2025-03-12T10:00:02", 1, "w1", ""),
    ("failed", "2025-03-12T10:00:01", "2025-03-12T10:00:03", 2, "w1", "ValueError: no"),
    ("cancelled", None, "2025-03-12T10:00:04", 0, None, ""),
]
EXPECTED = {
    "pending": [(K.CREATED, 0)],
    "running": [(K.CREATED, 0), (K.CLAIMED, 1)],
    "completed": [(K.CREATED, 0), (K.CLAIMED, 1), (K.COMPLETED, 1)],
    "failed": [(K.CREATED, 0), (K.CLAIMED, 2), (K.FAILED, 2)],
    "cancelled": [(K.CREATED, 0), (K.CANCELLED, 0)],
}
INSERT = (
    "INSERT INTO tasks (project_id, task_type, status, created_at, started_at, completed_at, attempt,"
    " worker_id, error_message) VALUES (1, 'search', {0}, {0}, {0}, {0}, {0}, {0}, {0})"
)


def _sqlite_at_0001(path: Path) -> None:
    [first, *_] = load_migrations("sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute(load_queries("sqlite")["migrations_create_table"])
        for statement in _split_statements(first.sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES ('0001', '2025-03-12T09:00:00.000000')")
        for status, started, completed, attempt, worker, error in ROWS:
            times = [None if t is None else f"{t}.000000" for t in (started, completed)]
            values = (status, "2025-03-12T10:00:00.000000", *times, attempt, worker, error)
            conn.execute(INSERT.format("?"), values)


def _postgres_at_0001(url: str) -> None:
    [first, *_] = load_migrations("postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(load_queries("postgres")["migrations_create_table"])
        conn.execute(first.sql)
        conn.execute("INSERT INTO schema_migrations VALUES ('0001', now())")
        for status, started, completed, attempt, worker, error in ROWS:
            times = [None if t is None else f"{t}+00" for t in (started, completed)]
            values = (status, "2025-03-12T10:00:00+00", *times, attempt, worker, error)
            conn.execute(INSERT.format("%s"), values)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store over a database that version 0001 built and filled, not migrated further yet."""
    if request.param == "sqlite":
        _sqlite_at_0001(tmp_path / "old.db")
        sqlite_store = SQLiteStore(tmp_path / "old.db")
        yield sqlite_store
        sqlite_store.close()
        return
    with empty_database() as url:
        _postgres_at_0001(url)
        pg_store = PostgresStore(url, min_size=1, max_size=2)
        yield pg_store
        pg_store.close()


def test_migration_0002_reconstructs_the_timeline_of_existing_tasks(store_at_0001: Store) -> None:
    store = store_at_0001
    assert store.migrate()[0] == "0002"  # then any later migration
    tasks = {task.status.value: task for task in store.task_get_many(range(1, 6))}
    assert set(tasks) == set(EXPECTED)
    for status, task in tasks.items():
        events = store.task_events(task.id)
        assert [(e.kind, e.attempt) for e in events] == EXPECTED[status], status
        assert {e.actor for e in events} == {"migration 0002"}
        assert events[0].at == task.created_at
    assert store.task_events(tasks["failed"].id)[-1].detail == "ValueError: no"
    assert store.task_events(tasks["completed"].id)[-1].at == tasks["completed"].completed_at
    head = store.task_events_head()
    fresh = store.task_create(new())
    assert fresh.id == 6 and store.task_events(fresh.id)[0].id > head
    [claimed] = claim(store, limit=1)
    assert claimed.id == tasks["pending"].id and store.task_events(claimed.id)[-1].kind is K.CLAIMED
    assert store.task_get_many([claimed.id])[0].status is TaskStatus.RUNNING
