"""The hot path's guard: every completion asks which running run (if any) its task is the step of, and
that question must stay one probe of the small index of running runs, however many runs have ended
(a lost index would make every completion of every task scan the runs)."""

from __future__ import annotations

import json
from typing import Any

from taskapi.store._queries import load_queries
from taskapi.store.base import Store

RUNS = 5_000
PLAN_MODES = ["force_custom_plan", "force_generic_plan"]  # generic: what a prepared statement may use


def seed_runs(store: Store) -> None:
    """``RUNS`` ended runs and a few running ones, with statistics (as a long-lived deployment has)."""
    steps = json.dumps([{"task_type": "search", "params": {}}])
    with store.transaction() as tx:
        if store.dialect == "sqlite":
            tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :runs)"
                " INSERT INTO pipeline_runs (project_id, status, steps, current_task_id, created_at)"
                " SELECT 1, CASE WHEN i % 1000 = 0 THEN 'running' ELSE 'completed' END, :steps, i,"
                " '2025-01-01T00:00:00.000000' FROM n",
                {"runs": RUNS, "steps": steps},
            )
        else:
            tx.execute(
                "INSERT INTO pipeline_runs (project_id, status, steps, current_task_id, created_at)"
                " SELECT 1, CASE WHEN i %% 1000 = 0 THEN 'running' ELSE 'completed' END, %(steps)s::jsonb, i,"
                " now() FROM generate_series(1, %(runs)s::int) AS i",
                {"runs": RUNS, "steps": steps},
            )
    with store.reading() as tx:
        tx.execute("ANALYZE")


def sqlite_plan(store: Store) -> str:
    sql = load_queries("sqlite")["sqlite.run_of_finished"]
    with store.reading() as tx:
        rows = tx.fetch(f"EXPLAIN QUERY PLAN {sql}", {"ids": "[1, 2, 3]"})
    return " | ".join(row["detail"] for row in rows)


def postgres_nodes_on_runs(store: Store, mode: str) -> list[dict[str, Any]]:
    """The plan nodes of ``postgres.run_of_finished`` that read ``pipeline_runs``."""
    sql = load_queries("postgres")["postgres.run_of_finished"]
    with store.reading() as tx:
        tx.execute(f"SET plan_cache_mode = {mode}")
        [row] = tx.fetch(f"EXPLAIN (FORMAT JSON) {sql}", {"ids": [1, 2, 3]})

    def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("Plans", []) for n in walk(child))]

    return [n for n in walk(row["QUERY PLAN"][0]["Plan"]) if n.get("Relation Name") == "pipeline_runs"]


def test_a_completion_finds_its_run_by_the_running_runs_index(store: Store) -> None:
    """SQLite asks in a statement of its own after every batch of outcomes; PostgreSQL only for the
    outcomes whose task's params name a run (in both plan modes: generic is what a prepared statement
    may use)."""
    seed_runs(store)
    if store.dialect == "sqlite":
        plan = sqlite_plan(store)
        assert "USING INDEX pipeline_runs_running_task" in plan and "SCAN r" not in plan, plan
        return
    for mode in PLAN_MODES:
        on_runs = postgres_nodes_on_runs(store, mode)
        assert on_runs and all(n.get("Index Name") == "pipeline_runs_running_task" for n in on_runs), on_runs


def test_postgres_outcomes_of_tasks_outside_runs_never_read_the_runs() -> None:
    """The outcome statements only say whether a task's params name a run (the row is in hand)."""
    queries = load_queries("postgres")
    for name in ("task_complete", "task_fail"):
        assert "pipeline_runs" not in queries[name] and "'pipeline_run' AS in_run" in queries[name]
