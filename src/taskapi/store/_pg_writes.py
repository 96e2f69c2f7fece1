"""The PostgreSQL store's writes a client asks for: create (plain and under an idempotency key),
cancel, observation events, retention.

Each is one statement in autocommit (its ``task_events`` rows are CTEs of it) except a large create
(COPY) and a keyed one, which open a transaction. The tasks a create answers are built from the input
plus the ids and time the database gave, so a batch is never read back. A create's notification
payloads are built here, once per task type (``codec``'s format), not by JSON functions in each
statement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.copy import LibpqWriter

from taskapi.domain import (
    IDEMPOTENCY_TTL_SECONDS,
    IdempotencyConflict,
    NewEvent,
    NewTask,
    Task,
    TaskStatus,
    TaskType,
)
from taskapi.signals import TaskSignal
from taskapi.store import codec
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


COPY_CHUNK = 1000
"""Rows per write of a COPY: each is sent as soon as it is formatted, so the server inserts the first
rows while Python formats the next. Measured here on 10,000-task batches: one write 57,000 tasks/s,
chunks of 500 to 2,000 rows 62,500/s; 250 cost more client CPU (a flush per write)."""


def _copy_field(text: str) -> str:
    """A value for COPY's text format. JSON from ``json.dumps`` holds no raw tab, newline or carriage
    return (they are escaped), so only the backslash needs doubling; other text is escaped fully."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_chunks(ids: list[int], news: Sequence[NewTask], texts: list[str], stamp: str) -> Iterator[str]:
    """The COPY's rows (id, project, type, params, created_at), ``COPY_CHUNK`` at a time."""
    for begin in range(0, len(news), COPY_CHUNK):
        end = begin + COPY_CHUNK
        rows = zip(ids[begin:end], news[begin:end], texts[begin:end], strict=True)
        yield "".join(
            f"{task_id}\t{new.project_id}\t{new.task_type}\t{_copy_field(text)}\t{stamp}\n"
            for task_id, new, text in rows
        )


def _flushing(cursor: psycopg.Cursor[Any]) -> LibpqWriter:
    """A COPY writer that sends each chunk on ``write``: psycopg 3.3.9 holds writes back up to its
    ``flush_threshold`` (1 MiB) unless told 0; earlier versions flush every write already."""
    try:
        return LibpqWriter(cursor, flush_threshold=0)
    except TypeError:  # psycopg before 3.3.9: no such argument, and no holding back
        return LibpqWriter(cursor)


def _task_types(news: Sequence[NewTask]) -> list[str]:
    """The batch's distinct task types, in the order of their first task (as ``created_signals``)."""
    return list(dict.fromkeys(str(new.task_type) for new in news))


class PgWrites(PgBase):
    """Creates, cancels, observation events and retention on PostgreSQL."""

    def _created_note(self, task_type: str) -> str:
        """The 'taskapi' NOTIFY payload of a create of ``task_type`` by this store: ``codec``'s
        format with this store's origin (listeners drop their own store's), made once per type."""
        note = self._created_notes.get(task_type)
        if note is None:
            if len(self._created_notes) >= 256:  # task types are few; a bound all the same
                self._created_notes.clear()
            signal = TaskSignal("created", 0, task_type=task_type)
            note = self._created_notes[task_type] = codec.encode(signal, self.notifier.origin).decode()
        return note

    def _insert_params(self, news: Sequence[NewTask], texts: list[str], actor: str) -> dict[str, Any]:
        """The parameters of ``task_insert``: the batch as arrays, in its order."""
        return {
            "project_ids": [new.project_id for new in news],
            "task_types": [str(new.task_type) for new in news],
            "params": texts,
            "actor": actor,
            "notes": [self._created_note(task_type) for task_type in _task_types(news)],
        }

    def task_create(self, new: NewTask, actor: str = DEFAULT_ACTOR) -> Task:
        """One statement in autocommit (``postgres.task_insert_one``: the row, its ``created``
        event, the notifications), on the pooled connection's kept cursor."""
        task_type = str(new.task_type)
        one = {
            "project_id": new.project_id,
            "task_type": task_type,
            "params": params_text(new),
            "actor": actor,
            "note": self._created_note(task_type),
        }
        try:
            [(task_id, at)] = self._fetch_rows(self._queries["postgres.task_insert_one"], one)
        except psycopg.DataError as exc:  # e.g. "\u0000" in a string: valid JSON, not valid jsonb
            raise ValueError(f"params cannot be stored in PostgreSQL: {exc}") from exc
        created = [created_task(task_id, at.astimezone(UTC), new)]
        self.notifier.announce(created_signals(created))
        return created[0]

    def task_create_many(self, news: Sequence[NewTask], actor: str = DEFAULT_ACTOR) -> list[Task]:
        """One transaction, with a ``created`` event per task: one INSERT statement for a small batch,
        COPY for a large one. The tasks answered are built from the input (the database adds only
        ids and the time), so a large batch is not read back."""
        if len(news) <= 1:
            return [self.task_create(new, actor) for new in news]
        texts = [params_text(new) for new in news]
        try:
            if len(news) < COPY_FROM:
                created = self._insert(news, texts, actor)
            else:
                created = self._copy(news, texts, actor)
        except psycopg.DataError as exc:  # e.g. "\u0000" in a string: valid JSON, not valid jsonb
            raise ValueError(f"params cannot be stored in PostgreSQL: {exc}") from exc
        self.notifier.announce(created_signals(created))
        return created

    def _insert(self, news: Sequence[NewTask], texts: list[str], actor: str) -> list[Task]:
        """``task_insert`` on the kept cursor (a group commit of the API's creates comes here)."""
        rows = self._fetch_rows(self._queries["task_insert"], self._insert_params(news, texts, actor))
        stamped = sorted(rows)  # (id, created_at): ids follow the input's order
        at = stamped[0][1].astimezone(UTC)  # one statement: one created_at
        return [created_task(task_id, at, new) for (task_id, _), new in zip(stamped, news, strict=True)]

    def _copy(self, news: Sequence[NewTask], texts: list[str], actor: str) -> list[Task]:
        """Three round trips whatever the size: the ids with their events and notifications, the
        COPY, the commit (binary rows: a thousand ids parse faster than as text). The rows go out in
        chunks as they are formatted, and the tasks answered are built while the server inserts
        them: Python and PostgreSQL work at the same time instead of in turn."""
        notes = [self._created_note(task_type) for task_type in _task_types(news)]
        params = {"count": len(news), "actor": actor, "notes": notes}
        with self._connection() as conn, conn.transaction():
            with conn.cursor(binary=True) as cursor:
                block = cursor.execute(self._queries["postgres.task_id_block"], params).fetchone()
            assert block is not None  # an aggregate answers one row
            ids: list[int] = block[0]
            now: datetime = block[1]
            with (
                conn.cursor() as cursor,
                cursor.copy(self._queries["postgres.task_copy"], writer=_flushing(cursor)) as copy,
            ):
                for chunk in _copy_chunks(ids, news, texts, now.isoformat()):
                    copy.write(chunk)
                # Built while the server inserts the rows; leaving the blocks still ends the COPY
                # and commits before the tasks are answered.
                at = now.astimezone(UTC)
                created = [created_task(task_id, at, new) for task_id, new in zip(ids, news, strict=True)]
        return created

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
                    rows = fetch(conn, self._queries["task_insert"], self._insert_params(news, texts, actor))
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
