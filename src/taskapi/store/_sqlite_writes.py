"""The SQLite store's writes a client asks for: create (plain and under an idempotency key), cancel,
observation events, retention.

Each is one write transaction (``BEGIN IMMEDIATE``: the only writer), so a create knows its ids
without reading them back (the ones right above the largest id ever given) and an idempotency key is
checked and taken with no race. A transition's event is written in the same transaction, before the
UPDATE while the old status is still readable.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from taskapi.domain import (
    IDEMPOTENCY_TTL_SECONDS,
    IdempotencyConflict,
    NewEvent,
    NewTask,
    Task,
    TaskStatus,
    TaskType,
    utcnow,
)
from taskapi.store._sqlite_base import SQLiteBase
from taskapi.store._sqlite_rows import cancelled_of, format_time, parse_time
from taskapi.store.base import (
    DEFAULT_ACTOR,
    PRUNE_BATCH,
    CancelledTask,
    check_observations,
    created_signals,
    created_task,
    id_runs,
    params_text,
    prune_in_batches,
)


def _insert_rows(news: Sequence[NewTask], now: str) -> list[dict[str, Any]]:
    """The parameters of ``task_insert``, one dict a task (``executemany``)."""
    return [
        {"project_id": n.project_id, "task_type": str(n.task_type), "params": params_text(n), "now": now}
        for n in news
    ]


class SQLiteWrites(SQLiteBase):
    """Creates, cancels, observation events and retention on SQLite."""

    def task_create(self, new: NewTask, actor: str = DEFAULT_ACTOR) -> Task:
        return self.task_create_many([new], actor)[0]

    def task_create_many(self, news: Sequence[NewTask], actor: str = DEFAULT_ACTOR) -> list[Task]:
        """One write transaction: every row, then one INSERT ... SELECT of their ``created`` events.
        The only writer gives the batch the ids right above the largest id ever given."""
        if not news:
            return []
        moment = utcnow()
        rows = _insert_rows(news, format_time(moment))
        with self._write() as conn:
            seen = self._insert(conn, rows, actor)
        created = [created_task(seen + offset, moment, new) for offset, new in enumerate(news, start=1)]
        self.notifier.changed()
        self.notifier.announce(created_signals(created))
        return created

    def _insert(self, conn: sqlite3.Connection, rows: list[dict[str, Any]], actor: str) -> int:
        """Insert the tasks and their ``created`` events in the open write transaction; answer the
        largest id given before them (theirs follow it, in order)."""
        seen = int(conn.execute(self._queries["sqlite.task_id_seen"]).fetchone()["seen"])
        conn.executemany(self._queries["task_insert"], rows)
        conn.execute(self._queries["sqlite.task_created_logged"], {"seen": seen, "actor": actor})
        return seen

    def task_create_keyed(
        self, news: Sequence[NewTask], actor: str, key: str, fingerprint: str
    ) -> list[Task]:
        """``task_create_many`` under an idempotency key, in one write transaction (the only writer, so
        a concurrent create with the key waits and then reads this one's record): a key younger than a
        day answers the tasks it first created, as they were created; with another ``fingerprint`` it
        raises ``IdempotencyConflict``; a new or expired key creates and records them."""
        moment = utcnow()
        now = format_time(moment)
        expires_at = format_time(moment + timedelta(seconds=IDEMPOTENCY_TTL_SECONDS))
        rows = _insert_rows(news, now)
        with self._write() as conn:
            held = conn.execute(self._queries["idempotency_get"], {"key": key}).fetchone()
            if held is not None and held["expires_at"] > now:
                if held["fingerprint"] != fingerprint:
                    raise IdempotencyConflict(key)
                created_at = parse_time(held["created_at"])
                assert created_at is not None
                ids = json.loads(held["task_ids"])
                return [created_task(i, created_at, n) for i, n in zip(ids, news, strict=True)]
            seen = self._insert(conn, rows, actor)
            ids = list(range(seen + 1, seen + 1 + len(news)))
            record = {
                "key": key,
                "fingerprint": fingerprint,
                "task_ids": json.dumps(ids),
                "now": now,
                "expires_at": expires_at,
            }
            conn.execute(self._queries["sqlite.idempotency_put"], record)
        created = [created_task(task_id, moment, new) for task_id, new in zip(ids, news, strict=True)]
        self.notifier.changed()
        self.notifier.announce(created_signals(created))
        return created

    def task_cancel(self, task_id: int, actor: str = DEFAULT_ACTOR) -> CancelledTask | None:
        params = {"id": task_id, "now": format_time(utcnow()), "actor": actor}
        with self._write() as conn:
            rows = self._cancel_one(conn, params)
            self._end_runs_of(conn, rows, params)
        if not rows:
            return None
        self._changed()
        cancelled = cancelled_of(rows)
        self._announce_cancels(cancelled)
        return cancelled[0]

    def task_cancel_many(
        self,
        project_id: int,
        statuses: Sequence[TaskStatus],
        task_type: TaskType | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> list[CancelledTask]:
        params = {
            "project_id": project_id,
            "statuses": json.dumps([str(status) for status in statuses]),
            "task_type": None if task_type is None else str(task_type),
            "now": format_time(utcnow()),
            "actor": actor,
        }
        with self._write() as conn:
            conn.execute(self._queries["sqlite.task_cancel_many_logged"], params)
            rows = conn.execute(self._queries["task_cancel_many"], params).fetchall()
            self._end_runs_of(conn, rows, params)
        if rows:
            self._changed()
        cancelled = cancelled_of(rows)
        self._announce_cancels(cancelled)
        return cancelled

    def _cancel_one(self, conn: sqlite3.Connection, params: dict[str, Any]) -> list[sqlite3.Row]:
        """Cancel one task in the open write transaction (its event first, while its status is readable)."""
        conn.execute(self._queries["sqlite.task_cancel_logged"], params)
        return conn.execute(self._queries["task_cancel"], params).fetchall()

    def task_events_add(self, events: Sequence[NewEvent]) -> int:
        if not events:
            return 0
        check_observations(events)
        now = format_time(utcnow())
        rows = [
            {
                "task_id": event.task_id,
                "kind": str(event.kind),
                "attempt": event.attempt,
                "actor": event.actor,
                "detail": event.detail,
                "now": now,
            }
            for event in events
        ]
        with self._write() as conn:
            written = conn.executemany(self._queries["task_events_add"], rows).rowcount
        if written:
            self._changed()
        return written

    def task_prune(self, older_than_seconds: float, limit: int = PRUNE_BATCH) -> int:
        """Retention's pass: finished tasks past the age limit, and idempotency keys past their day."""
        with self._write() as conn:
            conn.execute(self._queries["idempotency_forget"], {"now": format_time(utcnow())})
        return prune_in_batches(lambda: self._prune_batch(older_than_seconds, limit), limit)

    def _prune_batch(self, older_than_seconds: float, limit: int) -> int:
        moment = utcnow()
        cutoff = format_time(moment - timedelta(seconds=older_than_seconds))
        with self._write() as conn:
            rows = conn.execute(self._queries["task_prune"], {"cutoff": cutoff, "limit": limit}).fetchall()
            ids = [row["id"] for row in rows]
            if not ids:
                return 0
            doomed = {"ids": json.dumps(ids)}
            conn.execute(self._queries["sqlite.task_prune_events"], doomed)
            conn.execute(self._queries["sqlite.task_prune_tasks"], doomed)
            record = {
                "now": format_time(moment),
                "older_than_seconds": older_than_seconds,
                "min_task_id": min(ids),
                "max_task_id": max(ids),
                "count": len(ids),
                "ranges": id_runs(ids),
            }
            conn.execute(self._queries["sqlite.task_prune_record"], record)
        return len(ids)
