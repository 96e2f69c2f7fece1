"""The PostgreSQL store's writes a client asks for: create (plain and under an idempotency key),
cancel, observation events, retention.

Each is one statement in autocommit (its ``task_events`` rows are CTEs of it) except a large create
(COPY) and a keyed one, which open a transaction. The tasks a create answers are built from the input
plus the ids and time the database gave, so a batch is never read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from taskapi.domain import (
    IDEMPOTENCY_TTL_SECONDS,
    IdempotencyConflict,
    NewEvent,
    NewTask,
    Task,
    TaskStatus,
    TaskType,
)
from taskapi.store._pg_base import PgBase, fetch
from taskapi.store._pg_rows import cancelled_of
from taskapi.store.base import (
    DEFAULT_ACTOR,
    PRUNE_BATCH,
    CancelledTask,
    cancel_signals,
    check_observations,
    created_signals,
    created_task,
    params_text,
    prune_in_batches,
)

COPY_FROM = 300
"""Batches of at least this many tasks are written with COPY, smaller ones with one INSERT statement
(a single round trip). Measured here: the two cost the same at about 300 tasks; at 10,000 COPY took
214 ms and the INSERT 273 ms."""


def _copy_field(text: str) -> str:
    """A value for COPY's text format. JSON from ``json.dumps`` holds no raw tab, newline or carriage
    return (they are escaped), so only the backslash needs doubling; other text is escaped fully."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _insert_params(news: Sequence[NewTask], texts: list[str], actor: str) -> dict[str, Any]:
    """The parameters of ``task_insert``: the batch as arrays, in its order."""
    return {
        "project_ids": [new.project_id for new in news],
        "task_types": [str(new.task_type) for new in news],
        "params": texts,
        "actor": actor,
    }


class PgWrites(PgBase):
    """Creates, cancels, observation events and retention on PostgreSQL."""

    def task_create(self, new: NewTask, actor: str = DEFAULT_ACTOR) -> Task:
        return self.task_create_many([new], actor)[0]

    def task_create_many(self, news: Sequence[NewTask], actor: str = DEFAULT_ACTOR) -> list[Task]:
        """One transaction, with a ``created`` event per task: one INSERT statement for a small batch,
        COPY for a large one. The tasks answered are built from the input (the database adds only
        ids and the time), so a large batch is not read back."""
        if not news:
            return []
        texts = [params_text(new) for new in news]
        try:
            if len(news) < COPY_FROM:
                stamped = self._insert(news, texts, actor)
            else:
                stamped = self._copy(news, texts, actor)
        except psycopg.DataError as exc:  # e.g. "\u0000" in a string: valid JSON, not valid jsonb
            raise ValueError(f"params cannot be stored in PostgreSQL: {exc}") from exc
        utc: dict[datetime, datetime] = {}  # a batch shares one time: convert it once
        created = [
            created_task(task_id, utc.get(at) or utc.setdefault(at, at.astimezone(UTC)), new)
            for (task_id, at), new in zip(stamped, news, strict=True)
        ]
        self.notifier.announce(created_signals(created))
        return created

    def _insert(self, news: Sequence[NewTask], texts: list[str], actor: str) -> list[tuple[int, datetime]]:
        if len(news) == 1:
            [new], [text] = news, texts
            one = {
                "project_id": new.project_id,
                "task_type": str(new.task_type),
                "params": text,
                "actor": actor,
            }
            with self._connection() as conn:  # tuple rows: the hottest call skips the dict rows
                row = conn.execute(self._queries["postgres.task_insert_one"], one).fetchone()
            assert row is not None  # an INSERT ... RETURNING of one row
            return [(row[0], row[1])]
        rows = self._read("task_insert", _insert_params(news, texts, actor))
        return sorted((row["id"], row["created_at"]) for row in rows)  # ids follow the input's order

    def _copy(self, news: Sequence[NewTask], texts: list[str], actor: str) -> list[tuple[int, datetime]]:
        """Three round trips whatever the size: the ids with their events and notifications, the
        COPY, the commit (binary rows: a thousand ids parse faster than as text)."""
        types = sorted({str(new.task_type) for new in news})
        params = {"count": len(news), "actor": actor, "task_types": types}
        with self._connection() as conn, conn.transaction():
            with conn.cursor(binary=True) as cursor:
                block = cursor.execute(self._queries["postgres.task_id_block"], params).fetchone()
            assert block is not None  # an aggregate answers one row
            ids: list[int] = block[0]
            now: datetime = block[1]
            stamp = now.isoformat()
            lines = "".join(
                f"{task_id}\t{new.project_id}\t{new.task_type}\t{_copy_field(text)}\t{stamp}\n"
                for task_id, new, text in zip(ids, news, texts, strict=True)
            )
            with conn.cursor() as cursor, cursor.copy(self._queries["postgres.task_copy"]) as copy:
                copy.write(lines)
        return [(task_id, now) for task_id in ids]

    def task_create_keyed(
        self, news: Sequence[NewTask], actor: str, key: str, fingerprint: str
    ) -> list[Task]:
        """One transaction: take the key (``postgres.idempotency_claim``), insert, record the ids. When
        the key is held by a fresh record (a concurrent holder is waited for by the primary key), its
        tasks are answered as they were created, or ``IdempotencyConflict`` for another request."""
        texts = [params_text(new) for new in news]
        claim = {"key": key, "fingerprint": fingerprint, "ttl_seconds": float(IDEMPOTENCY_TTL_SECONDS)}
        try:
            with self._connection() as conn, conn.transaction():
                if fetch(conn, self._queries["postgres.idempotency_claim"], claim):
                    rows = fetch(conn, self._queries["task_insert"], _insert_params(news, texts, actor))
                    stamped = sorted((row["id"], row["created_at"]) for row in rows)
                    record = {
                        "key": key,
                        "task_ids": [i for i, _ in stamped],
                        "created_at": stamped[0][1],
                        "ttl_seconds": claim["ttl_seconds"],
                    }
                    conn.execute(self._queries["postgres.idempotency_set_tasks"], record)
                    held = None
                else:
                    [held] = fetch(conn, self._queries["idempotency_get"], {"key": key})
        except psycopg.DataError as exc:  # e.g. "\u0000" in a string: valid JSON, not valid jsonb
            raise ValueError(f"params cannot be stored in PostgreSQL: {exc}") from exc
        if held is not None:
            if held["fingerprint"] != fingerprint:
                raise IdempotencyConflict(key)
            at = held["created_at"].astimezone(UTC)
            return [created_task(i, at, new) for i, new in zip(held["task_ids"], news, strict=True)]
        at = stamped[0][1].astimezone(UTC)
        created = [created_task(task_id, at, new) for (task_id, _), new in zip(stamped, news, strict=True)]
        self.notifier.announce(created_signals(created))
        return created

    def task_cancel(self, task_id: int, actor: str = DEFAULT_ACTOR) -> CancelledTask | None:
        cancelled = cancelled_of(self._read("task_cancel", {"id": task_id, "actor": actor}))
        self.notifier.announce(cancel_signals(cancelled))
        return cancelled[0] if cancelled else None

    def task_cancel_many(
        self,
        project_id: int,
        statuses: Sequence[TaskStatus],
        task_type: TaskType | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> list[CancelledTask]:
        params = {
            "project_id": project_id,
            "statuses": [str(status) for status in statuses],
            "task_type": None if task_type is None else str(task_type),
            "actor": actor,
        }
        cancelled = cancelled_of(self._read("task_cancel_many", params))
        self.notifier.announce(cancel_signals(cancelled))
        return cancelled

    def task_events_add(self, events: Sequence[NewEvent]) -> int:
        if not events:
            return 0
        check_observations(events)
        params = {
            "task_ids": [event.task_id for event in events],
            "kinds": [str(event.kind) for event in events],
            "attempts": [event.attempt for event in events],
            "actors": [event.actor for event in events],
            "details": [event.detail.replace("\x00", "\ufffd") for event in events],
        }
        return int(self._read("task_events_add", params)[0]["written"])

    def task_prune(self, older_than_seconds: float, limit: int = PRUNE_BATCH) -> int:
        """Retention's pass: finished tasks past the age limit, and idempotency keys past their day."""
        self._execute("idempotency_forget", {})
        params = {"older_than_seconds": older_than_seconds, "limit": limit}
        return prune_in_batches(lambda: int(self._read("task_prune", params)[0]["count"]), limit)
