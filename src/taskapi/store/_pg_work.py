"""The PostgreSQL store's side of a worker: claim, lease, progress, finish, release, rescue.

Every write is fenced by ``(id, attempt)``, so a worker that lost its lease writes nothing; a batch
goes as arrays in one statement. ``task_finish`` is the one transaction here: it writes the outcomes
and, in the same transaction, the next step of each pipeline run whose step just ended.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg

from taskapi.domain import Task
from taskapi.signals import TaskSignal
from taskapi.store._pg_base import PgBase, fetch
from taskapi.store._pg_rows import Row, row_to_task
from taskapi.store._runs import CreatedStep, FinishedStep, finish_steps
from taskapi.store.base import (
    Claim,
    Completion,
    ProgressWrite,
    RescuedTask,
    TaskState,
    rescued_of,
    states_of,
)
from taskapi.store.db import PostgresTx


def _finish(
    conn: psycopg.Connection[Any], sql: str, batch: list[Completion], column: str, values: list[Any]
) -> list[Row]:
    """One UPDATE for a batch of outcomes of one kind; answer the rows it wrote: ``id``, ``attempt``
    and ``in_run`` (whether the task's params name a pipeline run)."""
    params = {
        "ids": [done.id for done in batch],
        "attempts": [done.attempt for done in batch],
        "progress": [done.progress for done in batch],
        "totals": [done.total for done in batch],
        column: values,
    }
    return fetch(conn, sql, params)


class PgWork(PgBase):
    """What workers and the rescuer write on PostgreSQL."""

    def task_claim(self, claim: Claim) -> list[Task]:
        params = {
            "worker_id": claim.worker_id,
            "task_types": list(claim.task_types),
            "limit": claim.limit,
            "lease_seconds": claim.lease_seconds,
            "max_attempts": json.dumps(dict(claim.max_attempts)),
        }
        rows = self._read("task_claim", params)
        return sorted((row_to_task(row) for row in rows), key=lambda task: task.id)

    def task_set_progress(self, writes: Sequence[ProgressWrite], lease_seconds: float) -> list[int]:
        if not writes:
            return []
        # One row per (id, attempt), the last write winning, as writing them one by one would end.
        latest = list({(w.id, w.attempt): w for w in writes}.values())
        params = {
            "ids": [w.id for w in latest],
            "attempts": [w.attempt for w in latest],
            "progress": [w.progress for w in latest],
            "totals": [w.total for w in latest],
            "lease_seconds": lease_seconds,
        }
        written = {(row["id"], row["attempt"]) for row in self._read("task_set_progress", params)}
        return [w.id for w in writes if (w.id, w.attempt) not in written]

    def task_finish(self, completions: Sequence[Completion]) -> list[int]:
        if not completions:
            return []
        firsts: dict[tuple[int, int], Completion] = {}
        for done in completions:  # a second outcome of one attempt loses, as it would one by one
            firsts.setdefault((done.id, done.attempt), done)
        succeeded = [done for done in firsts.values() if done.succeeded]
        failed = [done for done in firsts.values() if not done.succeeded]
        rows: list[Row] = []
        steps: list[CreatedStep] = []
        with self._connection() as conn, conn.transaction():
            if succeeded and failed:  # lock all rows in id order first: see postgres.task_finish_lock
                keys = list(firsts)
                lock = {"ids": [k[0] for k in keys], "attempts": [k[1] for k in keys]}
                conn.execute(self._queries["postgres.task_finish_lock"], lock)
            if succeeded:
                results = [json.dumps(done.result, separators=(",", ":")) for done in succeeded]
                rows += _finish(conn, self._queries["task_complete"], succeeded, "results", results)
            if failed:
                # PostgreSQL text cannot hold NUL; an exception message may. Losing the whole batch
                # of outcomes over one character would be worse than replacing it.
                errors = [(done.error_message or "").replace("\x00", "\ufffd") for done in failed]
                rows += _finish(conn, self._queries["task_fail"], failed, "error_messages", errors)
            steps = self._chain(conn, [row["id"] for row in rows if row["in_run"]])
        self.notifier.announce([TaskSignal("created", s.task_id, task_type=s.task_type) for s in steps])
        won = {(row["id"], row["attempt"]) for row in rows}
        return [
            done.id
            for done in completions
            if firsts[(done.id, done.attempt)] is done and (done.id, done.attempt) in won
        ]

    def _chain(self, conn: psycopg.Connection[Any], ids: list[int]) -> list[CreatedStep]:
        """In task_finish's transaction: the next step of each run whose step in flight just ended
        (``ids``: the outcomes written whose task's params name a run; none for a task outside any
        run, which so never touches pipeline_runs). The next step's NOTIFY goes with the commit."""
        if not ids:
            return []
        rows = fetch(conn, self._queries["postgres.run_of_finished"], {"ids": ids})
        ended = [FinishedStep(row["run_id"], row["task_id"], row["status"] == "completed") for row in rows]
        return finish_steps(PostgresTx(conn), self._runs, ended, None)

    def task_release(self, task_id: int, attempt: int, reason: str = "worker shutdown") -> bool:
        return len(self._read("task_release", {"id": task_id, "attempt": attempt, "reason": reason})) == 1

    def lease_renew(self, worker_id: str, held: Sequence[tuple[int, int]], lease_seconds: float) -> int:
        if not held:
            return 0
        params = {
            "ids": [task_id for task_id, _ in held],
            "attempts": [attempt for _, attempt in held],
            "worker_id": worker_id,
            "lease_seconds": lease_seconds,
        }
        return self._execute("lease_renew", params)

    def task_rescue(self, actor: str = "rescuer") -> list[RescuedTask]:
        return rescued_of(self._read("task_rescue", {"actor": actor}))

    def task_states(self, task_ids: Sequence[int]) -> list[TaskState]:
        if not task_ids:
            return []
        return states_of(self._read("task_status_many", {"ids": list(task_ids)}))
