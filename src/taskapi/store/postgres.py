"""The scale-out store: one PostgreSQL database shared by every API replica and worker host.

Sync psycopg 3 over a ``psycopg_pool.ConnectionPool`` (the code base's one choice: workers call the
store from threads). Connections run in autocommit: nearly every method is a single statement (a
transition and its ``task_events`` rows are one statement of CTEs), so it is its own transaction and
costs one round trip; ``migrate``, ``task_finish`` and a large ``task_create_many`` (COPY) open an
explicit transaction. Times are the database's clock, never this host's, so hosts with skewed clocks
still agree.
Connection failures and pool timeouts surface as ``StoreUnavailable``; transient transaction aborts
(deadlock, serialization) as its kind ``StoreConflict``: a caller may simply retry either.

``PostgresStore`` is composed of one mixin per concern, each a private module: ``_pg_base`` (the pool,
the circuit, error mapping, transactions, migrations), ``_pg_writes`` (create, idempotent create,
cancel, events, retention), ``_pg_work`` (claim, lease, progress, finish, rescue), ``_pg_reads``
(tasks, the list, events, changes; the figures both dialects read alike come from ``_common_reads``),
``_pg_rows`` (rows as records). This module adds what spans them: notifications and pipeline runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg

from taskapi.run_records import NewRun, PipelineRun
from taskapi.signals import TaskSignal
from taskapi.store._pg_base import describe_url as describe_url
from taskapi.store._pg_reads import PgReads
from taskapi.store._pg_rows import cancelled_of
from taskapi.store._pg_work import PgWork
from taskapi.store._pg_writes import COPY_FROM as COPY_FROM
from taskapi.store._pg_writes import PgWrites
from taskapi.store._queries import LIST_FILTERS
from taskapi.store._runs import cancel_run, create_run, list_runs, read_run
from taskapi.store.base import DEFAULT_ACTOR, CancelledTask, RunCancel, cancel_signals
from taskapi.store.db import PostgresTx, Tx

_LIST_FILTERS = LIST_FILTERS
log = logging.getLogger("taskapi.store")


class PostgresStore(PgWrites, PgWork, PgReads):
    """A ``Store`` on a PostgreSQL database (15+), safe to share between threads.

    ``min_size``/``max_size`` bound the pool (an API replica wants about its thread count, a worker
    about its concurrency plus its duties); ``timeout`` is how long a call waits for a connection, and
    the constructor for the first one, before ``StoreUnavailable``.
    """

    def listen(self, on_signal: Callable[[TaskSignal], None]) -> Callable[[], None]:
        """``notifier.subscribe``: this store's creates and cancels (in-process, after the commit) and
        every other store's (NOTIFY); answer the function that stops. Returns once LISTEN is in place
        (or after ``timeout``: the listener keeps trying)."""
        return self.notifier.subscribe(on_signal)

    def listen_changes(self, on_change: Callable[[], None]) -> Callable[[], None]:
        """Hear every statement that grew the event log, from any process (NOTIFY 'taskapi_changes');
        also called on each (re)connect, since changes may have been missed while disconnected."""
        return self.notifier.listen_changes(on_change)

    # -- pipeline runs ----------------------------------------------------------------------------

    def run_create(self, new: NewRun, actor: str = DEFAULT_ACTOR) -> PipelineRun:
        """One transaction; the first step's NOTIFY is delivered with the commit."""
        try:
            with self._connection() as conn, conn.transaction():
                run, first = create_run(PostgresTx(conn), self._runs, new, actor, None)
        except psycopg.DataError as exc:  # e.g. "\u0000" in a string: valid JSON, not valid jsonb
            raise ValueError(f"params cannot be stored in PostgreSQL: {exc}") from exc
        self.notifier.announce([TaskSignal("created", first.task_id, task_type=first.task_type)])
        return run

    def run_get(self, run_id: int) -> PipelineRun | None:
        with self._connection() as conn:
            return read_run(PostgresTx(conn), self._runs, run_id)

    def run_list(self, project_id: int | None, limit: int) -> list[PipelineRun]:
        with self._connection() as conn:
            return list_runs(PostgresTx(conn), self._runs, project_id, limit)

    def run_cancel(self, run_id: int, actor: str = DEFAULT_ACTOR) -> RunCancel | None:
        """One transaction; the step's cancel NOTIFY (which stops its worker) goes with the commit."""

        def cancel(tx: Tx, task_id: int) -> list[CancelledTask]:
            return cancelled_of(tx.fetch(self._queries["task_cancel"], {"id": task_id, "actor": actor}))

        with self._connection() as conn, conn.transaction():
            outcome = cancel_run(PostgresTx(conn), self._runs, run_id, actor, None, cancel)
        if outcome is not None:
            self.notifier.announce(cancel_signals(outcome.cancelled))
        return outcome
