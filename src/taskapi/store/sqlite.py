"""The embedded store: one SQLite file in WAL mode, one connection per thread.

Writes open ``BEGIN IMMEDIATE`` so that two writers queue on SQLite's busy timeout instead of failing
with a lock upgrade error; reads run in autocommit and see the latest committed state. A transition
writes its ``task_events`` rows in its own write transaction; one writer at a time means event ids are
in commit order.

``SQLiteStore`` is composed of one mixin per concern, each a private module: ``_sqlite_base`` (the
connections, write transactions, error mapping, migrations), ``_sqlite_writes`` (create, idempotent
create, cancel, events, retention), ``_sqlite_work`` (claim, lease, progress, finish, rescue),
``_sqlite_reads`` (tasks, the list, events, changes; the figures both dialects read alike come from
``_common_reads``), ``_sqlite_rows`` (rows and time text). This module adds what spans them:
notifications and pipeline runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from taskapi.domain import utcnow
from taskapi.run_records import NewRun, PipelineRun
from taskapi.signals import TaskSignal
from taskapi.store._queries import LIST_FILTERS
from taskapi.store._runs import cancel_run, create_run, list_runs, read_run
from taskapi.store._sqlite_base import BUSY_TIMEOUT_MS as BUSY_TIMEOUT_MS
from taskapi.store._sqlite_base import split_statements
from taskapi.store._sqlite_reads import SQLiteReads
from taskapi.store._sqlite_rows import cancelled_of
from taskapi.store._sqlite_rows import format_time as format_time
from taskapi.store._sqlite_rows import parse_time as parse_time
from taskapi.store._sqlite_work import SQLiteWork
from taskapi.store._sqlite_writes import SQLiteWrites
from taskapi.store.base import DEFAULT_ACTOR, CancelledTask, RunCancel
from taskapi.store.db import SQLiteTx, Tx

# The names the migration tests reach for here.
_LIST_FILTERS = LIST_FILTERS
_split_statements = split_statements
log = logging.getLogger("taskapi.store")


class SQLiteStore(SQLiteWrites, SQLiteWork, SQLiteReads):
    """A ``Store`` on one SQLite database file (a file, not memory: workers in other processes share it)."""

    def listen(self, on_signal: Callable[[TaskSignal], None]) -> Callable[[], None]:
        """``notifier.subscribe``: this store's creates and cancels, and other processes' on this
        file (host signals: Unix datagrams); answer the function that stops. A shortcut only: workers
        still poll."""
        return self.notifier.subscribe(on_signal)

    def listen_changes(self, on_change: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_change`` after each commit of this store object that grew the event log (the API
        and an embedded worker share one). Other processes' writes are found by polling."""
        return self.notifier.listen_changes(on_change)

    # -- pipeline runs ----------------------------------------------------------------------------

    def run_create(self, new: NewRun, actor: str = DEFAULT_ACTOR) -> PipelineRun:
        with self._write() as conn:
            run, first = create_run(SQLiteTx(conn), self._runs, new, actor, format_time(utcnow()))
        self._changed()
        self._announce_created([first])
        return run

    def run_get(self, run_id: int) -> PipelineRun | None:
        return read_run(SQLiteTx(self._connection()), self._runs, run_id)

    def run_list(self, project_id: int | None, limit: int) -> list[PipelineRun]:
        return list_runs(SQLiteTx(self._connection()), self._runs, project_id, limit)

    def run_cancel(self, run_id: int, actor: str = DEFAULT_ACTOR) -> RunCancel | None:
        now = format_time(utcnow())
        with self._write() as conn:

            def cancel(_tx: Tx, task_id: int) -> list[CancelledTask]:
                return cancelled_of(self._cancel_one(conn, {"id": task_id, "now": now, "actor": actor}))

            outcome = cancel_run(SQLiteTx(conn), self._runs, run_id, actor, now, cancel)
        if outcome is not None and outcome.cancelled:
            self._changed()
            self._announce_cancels(outcome.cancelled)
        return outcome
