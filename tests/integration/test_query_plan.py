"""Query-plan regression tests (SQLite): every list filter combination, the claim and the rescue walk
an index in the order they return rows. A lost or unusable index fails here, not at ten million rows.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest

from taskapi.domain import Cursor, TaskQuery, TaskStatus, TaskType
from taskapi.store._queries import load_queries
from taskapi.store.sqlite import SQLiteStore

MOMENT = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)
FILTERS: dict[str, Any] = {
    "project_id": 1,
    "status": TaskStatus.RUNNING,
    "task_type": TaskType.SEARCH,
    "created_after": MOMENT,
    "created_before": MOMENT,
    "after": Cursor(MOMENT, 42),
}
INDEX_NAME = re.compile(r"USING (?:COVERING )?INDEX (\w+)")
COMBINATIONS = [names for size in range(len(FILTERS) + 1) for names in itertools.combinations(FILTERS, size)]

# Every placeholder any named query uses; sqlite3 ignores the names a statement does not use.
SAMPLE_PARAMS: dict[str, Any] = {
    "id": 1,
    "ids": "[1, 2]",
    "held": "[[1, 1], [2, 1]]",
    "attempt": 1,
    "worker_id": "worker-1",
    "task_types": json.dumps([t.value for t in TaskType]),
    "limit": 10,
    "now": "2025-03-12T10:00:00.000000",
    "lease_expires_at": "2025-03-12T10:00:30.000000",
    "max_attempts": "{}",
    "progress": 1,
    "total": 2,
    "result": "{}",
    "error_message": "boom",
    "actor": "api",
    "reason": "worker shutdown",
    "project_id": 1,
    "statuses": '["pending", "running"]',
    "task_type": "ocr",
    "after_id": 100,
    "cutoff": "2025-03-01T10:00:00.000000",
    "seen": 100,
    "task_id": 1,
    "kind": "killed",
    "detail": "",
}
# The worker's and the service's statements on single rows or small sets: none may scan or sort.
WORKER_QUERIES = [
    "task_get",
    "task_cancel",
    "task_claim",
    "task_set_progress",
    "task_complete",
    "task_fail",
    "task_release",
    "lease_renew",
    "task_rescue",
    "task_status_many",
    "task_get_many",
    "task_cancel_many",
    "task_running_progress",
    "task_prune",
    "sqlite.task_cancel_logged",
    "sqlite.task_cancel_many_logged",
    "sqlite.task_claimed_logged",
    "sqlite.task_finished_logged",
    "sqlite.task_release_logged",
    "sqlite.task_rescue_logged",
    "sqlite.task_created_logged",
    "sqlite.task_prune_tasks",
    "task_events_add",
    "task_oldest_pending",
]
# Reads and deletes of the event log: a task's rows, or the log after a position, by an index.
EVENT_QUERIES = ["task_events", "task_changes", "sqlite.task_prune_events", "task_rare_event_counts"]


def plan(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def problems(steps: list[str]) -> list[str]:
    """The steps that read the whole table or sort the result: what an index should have spared."""
    bad = []
    for step in steps:
        scans_table = step.startswith("SCAN tasks") and not (
            "USING INDEX" in step or "USING COVERING INDEX" in step
        )
        if scans_table or "USE TEMP B-TREE" in step:
            bad.append(step)
    return bad


def uses_index(steps: list[str]) -> bool:
    markers = ("USING INDEX", "USING COVERING INDEX", "USING INTEGER PRIMARY KEY")
    on_tasks = [step for step in steps if step.startswith(("SEARCH tasks", "SCAN tasks"))]
    return any(marker in step for step in on_tasks for marker in markers)


def connection(store: SQLiteStore) -> sqlite3.Connection:
    conn = sqlite3.connect(store.path)
    conn.execute("SELECT 1 FROM tasks LIMIT 1")  # the schema exists
    return conn


@pytest.mark.parametrize("names", COMBINATIONS, ids=lambda names: "+".join(names) or "no-filter")
def test_list_walks_an_index_for_every_filter_combination(
    sqlite_store: SQLiteStore, names: tuple[str, ...]
) -> None:
    sql, params = sqlite_store.task_list_sql(TaskQuery(**{name: FILTERS[name] for name in names}))
    with connection(sqlite_store) as conn:
        steps = plan(conn, sql, params)
    assert uses_index(steps), steps
    assert problems(steps) == [], steps


@pytest.mark.parametrize("name", WORKER_QUERIES)
def test_worker_queries_walk_an_index(sqlite_store: SQLiteStore, name: str) -> None:
    with connection(sqlite_store) as conn:
        steps = plan(conn, load_queries("sqlite")[name], SAMPLE_PARAMS)
    assert uses_index(steps), steps
    assert problems(steps) == [], steps


@pytest.mark.parametrize("name", EVENT_QUERIES)
def test_event_queries_walk_an_index(sqlite_store: SQLiteStore, name: str) -> None:
    with connection(sqlite_store) as conn:
        steps = plan(conn, load_queries("sqlite")[name], SAMPLE_PARAMS)
    full_scans = [step for step in steps if step.startswith("SCAN task_events")]
    assert full_scans == [] and problems(steps) == [], steps
    assert any(step.startswith("SEARCH task_events") for step in steps), steps


def test_active_counts_read_only_the_active_rows(sqlite_store: SQLiteStore) -> None:
    """It groups the pending and running rows (a sort of the backlog, not of the history)."""
    with connection(sqlite_store) as conn:
        steps = plan(conn, load_queries("sqlite")["task_active_counts"], SAMPLE_PARAMS)
    assert any("tasks_status_created (status=?)" in step for step in steps), steps
    assert not any(step.startswith("SCAN tasks") for step in steps), steps


def test_prune_walks_the_finished_tasks_oldest_first(sqlite_store: SQLiteStore) -> None:
    with connection(sqlite_store) as conn:
        steps = plan(conn, load_queries("sqlite")["task_prune"], SAMPLE_PARAMS)
    assert any("tasks_prunable" in step for step in steps), steps
    assert problems(steps) == [], steps


@pytest.mark.parametrize("task_types", [["ocr"], [t.value for t in TaskType]])
def test_claim_takes_the_oldest_without_sorting_the_queue(
    sqlite_store: SQLiteStore, task_types: list[str]
) -> None:
    params = {**SAMPLE_PARAMS, "task_types": json.dumps(task_types)}
    with connection(sqlite_store) as conn:
        steps = plan(conn, load_queries("sqlite")["task_claim"], params)
    assert any("tasks_status_created (status=?)" in step for step in steps), steps
    assert problems(steps) == [], steps


def test_every_index_serves_some_query(sqlite_store: SQLiteStore) -> None:
    """An index no query uses only slows every write: drop it, or add the query it serves above."""
    queries = load_queries("sqlite")
    with connection(sqlite_store) as conn:
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
            )
        }
        steps = [step for name in WORKER_QUERIES for step in plan(conn, queries[name], SAMPLE_PARAMS)]
        for names in COMBINATIONS:
            sql, params = sqlite_store.task_list_sql(TaskQuery(**{n: FILTERS[n] for n in names}))
            steps += plan(conn, sql, params)
    used = {match for step in steps for match in INDEX_NAME.findall(step)}
    assert indexes, "the schema has no index at all"
    assert indexes - used == set()
