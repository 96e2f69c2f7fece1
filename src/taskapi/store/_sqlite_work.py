"""The SQLite store's side of a worker: claim, lease, progress, finish, release, rescue.

Every write is fenced by ``(id, attempt)``, so a worker that lost its lease writes nothing. Each call
is one write transaction holding its events too; ``task_finish`` also writes, in that transaction,
the next step of each pipeline run whose step just ended.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from taskapi.domain import Task, utcnow
from taskapi.store._runs import CreatedStep, FinishedStep, finish_steps
from taskapi.store._sqlite_base import SQLiteBase
from taskapi.store._sqlite_rows import format_time, row_to_task
from taskapi.store.base import (
    Claim,
    Completion,
    ProgressWrite,
    RescuedTask,
    TaskState,
    rescued_of,
    states_of,
)
from taskapi.store.db import SQLiteTx


class SQLiteWork(SQLiteBase):
    """What workers and the rescuer write on SQLite."""

    def task_claim(self, claim: Claim) -> list[Task]:
        now = utcnow()
        params = {
            "worker_id": claim.worker_id,
            "task_types": json.dumps(list(claim.task_types)),
            "limit": claim.limit,
            "now": format_time(now),
            "lease_expires_at": format_time(now + timedelta(seconds=claim.lease_seconds)),
            "max_attempts": json.dumps(dict(claim.max_attempts)),
        }
        with self._write() as conn:
            rows = conn.execute(self._queries["task_claim"], params).fetchall()
            if rows:
                ids = json.dumps(sorted(row["id"] for row in rows))
                conn.execute(self._queries["sqlite.task_claimed_logged"], {"ids": ids})
        if rows:
            self._changed()
        return sorted((row_to_task(row) for row in rows), key=lambda task: task.id)

    def task_set_progress(self, writes: Sequence[ProgressWrite], lease_seconds: float) -> list[int]:
        lease = format_time(utcnow() + timedelta(seconds=lease_seconds))
        lost: list[int] = []
        with self._write() as conn:
            for write in writes:
                cursor = conn.execute(
                    self._queries["task_set_progress"],
                    {
                        "id": write.id,
                        "attempt": write.attempt,
                        "progress": write.progress,
                        "total": write.total,
                        "lease_expires_at": lease,
                    },
                )
                if cursor.rowcount == 0:
                    lost.append(write.id)
        return lost

    def task_finish(self, completions: Sequence[Completion]) -> list[int]:
        now = format_time(utcnow())
        won: list[int] = []
        with self._write() as conn:
            for done in completions:
                params: dict[str, Any] = {
                    "id": done.id,
                    "attempt": done.attempt,
                    "progress": done.progress,
                    "total": done.total,
                    "now": now,
                }
                if done.succeeded:
                    params["result"] = json.dumps(done.result, separators=(",", ":"))
                    cursor = conn.execute(self._queries["task_complete"], params)
                else:
                    params["error_message"] = done.error_message
                    cursor = conn.execute(self._queries["task_fail"], params)
                if cursor.rowcount == 1:
                    won.append(done.id)
            created: list[CreatedStep] = []
            if won:
                ids = json.dumps(sorted(won))
                conn.execute(self._queries["sqlite.task_finished_logged"], {"ids": ids})
                created = self._chain(conn, ids, now)
        if won:
            self._changed()
        self._announce_created(created)
        return won

    def _chain(self, conn: sqlite3.Connection, ids: str, now: str) -> list[CreatedStep]:
        """In task_finish's transaction: the next step of each run whose step in flight just ended."""
        rows = conn.execute(self._queries["sqlite.run_of_finished"], {"ids": ids}).fetchall()
        if not rows:  # the common case: tasks outside any run (one probe of a tiny index)
            return []
        ended = [FinishedStep(row["run_id"], row["task_id"], row["status"] == "completed") for row in rows]
        return finish_steps(SQLiteTx(conn), self._runs, ended, now)

    def task_release(self, task_id: int, attempt: int, reason: str = "worker shutdown") -> bool:
        params = {"id": task_id, "attempt": attempt, "reason": reason, "now": format_time(utcnow())}
        with self._write() as conn:
            conn.execute(self._queries["sqlite.task_release_logged"], params)
            released = conn.execute(self._queries["task_release"], params).rowcount == 1
        if released:
            self._changed()
        return released

    def lease_renew(self, worker_id: str, held: Sequence[tuple[int, int]], lease_seconds: float) -> int:
        if not held:
            return 0
        lease = format_time(utcnow() + timedelta(seconds=lease_seconds))
        params = {"worker_id": worker_id, "held": json.dumps(list(held)), "lease_expires_at": lease}
        with self._write() as conn:
            cursor = conn.execute(self._queries["lease_renew"], params)
        return cursor.rowcount

    def task_rescue(self, actor: str = "rescuer") -> list[RescuedTask]:
        params = {"now": format_time(utcnow()), "actor": actor}
        with self._write() as conn:
            conn.execute(self._queries["sqlite.task_rescue_logged"], params)
            rows = conn.execute(self._queries["task_rescue"], params).fetchall()
            self._end_runs_of(conn, [row for row in rows if row["status"] == "failed"], params)
        if rows:
            self._changed()
        return rescued_of(rows)

    def task_states(self, task_ids: Sequence[int]) -> list[TaskState]:
        return states_of(self._read("task_status_many", {"ids": json.dumps(list(task_ids))}))
