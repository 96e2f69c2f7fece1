"""Pipeline runs inside the stores' transactions: start a run, chain its next step, cancel it, read it.

Both stores run this same logic over a ``Tx`` of the transaction they already hold, with their own
dialect's SQL (``RunSql``, the ``run_*`` named queries). What makes the chain safe is where it runs:
``task_finish`` calls ``finish_steps`` in the transaction that writes the outcomes, so a step's next
task exists exactly when its completion does (a crash between the two cannot happen), and
``run_advance`` only moves a run still ``running`` whose step in flight is that very task, so a
cancelled run never gets another step and a completion written twice chains once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from taskapi.domain import StoreUnavailable
from taskapi.run_records import (
    STEP_PRUNED,
    STEP_SKIPPED,
    STEP_WAITING,
    NewRun,
    PipelineRun,
    RunStatus,
    RunStep,
)
from taskapi.store.base import CancelledTask, RunCancel, stored_time
from taskapi.store.db import Tx

RUN_KEY = "pipeline_run"
"""The key of a step task's params that names its run (the step's own params follow it)."""
CANCEL_TRIES = 50
"""How often a run cancel follows a run that moves on under it (each move is a step completing)."""


@dataclass(frozen=True, slots=True)
class RunSql:
    """A dialect's statements for runs (each store fills it from its ``queries.sql`` by name)."""

    insert: str
    step_insert: str
    step_logged: str
    step_linked: str
    set_task: str
    advance: str
    fail: str
    get: str
    list: str
    state: str
    lock_task: str
    mark_cancelled: str

    @classmethod
    def from_queries(cls, queries: Mapping[str, str]) -> RunSql:
        """Each field from the dialect's query of the same name with ``run_`` before it."""
        return cls(**{field.name: queries[f"run_{field.name}"] for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class FinishedStep:
    """An outcome that ``task_finish`` wrote for the step in flight of a running run."""

    run_id: int
    task_id: int
    completed: bool


@dataclass(frozen=True, slots=True)
class CreatedStep:
    """A step task created in a transaction, to announce once it commits."""

    task_id: int
    task_type: str


def step_params(run_id: int, params: Mapping[str, Any]) -> str:
    """A step task's params: the run's id first, then the step's own (which cannot override it)."""
    own = {key: value for key, value in params.items() if key != RUN_KEY}
    return json.dumps({RUN_KEY: run_id, **own}, separators=(",", ":"))


def _plan(value: Any) -> list[dict[str, Any]]:
    """The ``steps`` column: JSON text (SQLite) or already decoded (PostgreSQL's jsonb)."""
    plan = json.loads(value) if isinstance(value, str) else value
    assert isinstance(plan, list)
    return plan


def insert_step(
    tx: Tx, sql: RunSql, run: Mapping[str, Any], position: int, actor: str, now: Any
) -> CreatedStep:
    """Create the task of step ``position`` of ``run`` (a row with ``id``, ``project_id``, ``steps``),
    with its ``created`` event, link it to the run and make it the step in flight."""
    plan = _plan(run["steps"])
    step = plan[position]
    values = {
        "project_id": run["project_id"],
        "task_type": step["task_type"],
        "params": step_params(run["id"], step["params"]),
        "now": now,
    }
    task = tx.fetch_one(sql.step_insert, values)
    assert task is not None
    detail = f"pipeline run {run['id']}, step {position + 1} of {len(plan)}"
    logged = {"task_id": task["id"], "created_at": task["created_at"], "task_type": step["task_type"]}
    tx.execute(sql.step_logged, {**logged, "actor": actor, "detail": detail})
    link = {"run_id": run["id"], "position": position, "task_id": task["id"]}
    tx.execute(sql.step_linked, link)
    tx.execute(sql.set_task, link)
    return CreatedStep(task["id"], step["task_type"])


def create_run(tx: Tx, sql: RunSql, new: NewRun, actor: str, now: Any) -> tuple[PipelineRun, CreatedStep]:
    """Insert the run and its first step's task; answer the run as it now stands and that task."""
    plan = [{"task_type": step.task_type, "params": step.params} for step in new.steps]
    values = {"project_id": new.project_id, "query": new.query, "steps": json.dumps(plan), "now": now}
    row = tx.fetch_one(sql.insert, values)
    assert row is not None
    run = {"id": row["id"], "project_id": new.project_id, "steps": plan}
    first = insert_step(tx, sql, run, 0, actor, now)
    created = read_run(tx, sql, row["id"])
    assert created is not None
    return created, first


def finish_steps(tx: Tx, sql: RunSql, steps: Iterable[FinishedStep], now: Any) -> list[CreatedStep]:
    """Chain the runs whose step in flight just ended: the next step's task after a completion (or the
    run completed after its last step), the run failed after a failure. Runs in id order: the order
    every writer locks them in."""
    created: list[CreatedStep] = []
    for step in sorted(steps, key=lambda s: s.run_id):
        keys = {"run_id": step.run_id, "task_id": step.task_id, "now": now}
        if not step.completed:
            tx.execute(sql.fail, keys)
            continue
        run = tx.fetch_one(sql.advance, keys)
        if run is not None and run["status"] == RunStatus.RUNNING:
            created.append(insert_step(tx, sql, run, run["next_step"], f"pipeline run {step.run_id}", now))
    return created


CancelTask = Callable[[Tx, int], list[CancelledTask]]
"""The dialect's cancel of one task in the open transaction (its event, its notification)."""


def cancel_run(
    tx: Tx, sql: RunSql, run_id: int, actor: str, now: Any, cancel: CancelTask
) -> RunCancel | None:
    """Mark a running run cancelled and cancel its step in flight, in the open transaction.

    The step's task is locked before the run (the order of every writer). A completion that held it
    commits first and may have moved the run to its next step: then the run is read again and that
    step is cancelled instead. Once the run is marked, no completion can chain it any more."""
    for _ in range(CANCEL_TRIES):
        state = tx.fetch_one(sql.state, {"id": run_id})
        if state is None:
            return None
        status = RunStatus(state["status"])
        if status.is_final:
            return RunCancel(status, [])
        task_id = state["current_task_id"]
        tx.fetch(sql.lock_task, {"task_id": task_id})
        marked = {"id": run_id, "task_id": task_id, "actor": actor, "now": now}
        if tx.fetch_one(sql.mark_cancelled, marked) is not None:
            return RunCancel(RunStatus.RUNNING, cancel(tx, task_id))
    raise StoreUnavailable(f"pipeline run {run_id} kept moving while being cancelled; try again")


def read_run(tx: Tx, sql: RunSql, run_id: int) -> PipelineRun | None:
    """The run with each step's task and its status (one statement, so one consistent reading)."""
    return run_of_rows(tx.fetch(sql.get, {"id": run_id}))


def list_runs(tx: Tx, sql: RunSql, project_id: int | None, limit: int) -> list[PipelineRun]:
    """The newest ``limit`` runs (of ``project_id``, when given), newest first, in one statement."""
    by_run: dict[int, list[Mapping[str, Any]]] = {}
    for row in tx.fetch(sql.list, {"project_id": project_id, "limit": limit}):
        by_run.setdefault(row["id"], []).append(row)
    runs = [run_of_rows(rows) for rows in by_run.values()]
    return [run for run in runs if run is not None]


def run_of_rows(rows: Sequence[Mapping[str, Any]]) -> PipelineRun | None:
    """A ``PipelineRun`` from the rows of ``run_get`` (one per created step; one with no step at all)."""
    if not rows:
        return None
    head = rows[0]
    status = RunStatus(head["status"])
    made = {row["position"]: row for row in rows if row["position"] is not None}
    steps = tuple(
        _step(position, planned, made.get(position), status)
        for position, planned in enumerate(_plan(head["steps"]))
    )
    created_at = stored_time(head["created_at"])
    assert created_at is not None
    return PipelineRun(
        id=head["id"],
        project_id=head["project_id"],
        status=status,
        query=head["query"],
        steps=steps,
        current_step=head["current_step"],
        created_at=created_at,
        ended_at=stored_time(head["ended_at"]),
        error=head["error"],
    )


def _step(
    position: int, planned: Mapping[str, Any], row: Mapping[str, Any] | None, run: RunStatus
) -> RunStep:
    """A step as it stands: its task's status, or why it has none (waiting, skipped, pruned)."""
    task_type, params = str(planned["task_type"]), dict(planned["params"])
    if row is None:
        return RunStep(position, task_type, params, None, STEP_SKIPPED if run.is_final else STEP_WAITING)
    if row["task_status"] is None:  # the task was deleted by retention
        return RunStep(position, task_type, params, row["task_id"], STEP_PRUNED)
    status, progress, total = row["task_status"], row["progress"], row["total"]
    return RunStep(position, task_type, params, row["task_id"], status, progress, total)
