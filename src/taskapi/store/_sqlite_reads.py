"""The SQLite store's reads: tasks, the list, events and the change feed, the queue's figures.

Reads run in autocommit on this thread's connection, so each sees the latest committed state and
never waits for the writer (WAL).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taskapi.domain import ListedTask, StoreUnavailable, Task, TaskEvent, TaskQuery, utcnow
from taskapi.store._common_reads import CommonReads
from taskapi.store._queries import compose_task_list
from taskapi.store._sqlite_base import SQLiteBase
from taskapi.store._sqlite_rows import STATUS_OF, format_time, row_to_event, row_to_task
from taskapi.store.base import ChangePage


class SQLiteReads(SQLiteBase, CommonReads):
    """What the API and the dashboards read from SQLite."""

    def task_get(self, task_id: int) -> Task | None:
        rows = self._read("task_get", {"id": task_id})
        return row_to_task(rows[0]) if rows else None

    def task_list(self, query: TaskQuery) -> list[ListedTask]:
        """The hottest read (every dashboard and client poll), so built lean: tuple rows in the query's
        column order, a dict for the status, one ``fromisoformat`` per time (about a third of the cost
        of ``sqlite3.Row`` rows read by name)."""
        sql, params = self.task_list_sql(query)
        try:
            cursor = self._connection().cursor()
            cursor.row_factory = None
            rows: list[tuple[Any, ...]] = cursor.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from exc
        status, stamp = STATUS_OF.__getitem__, datetime.fromisoformat
        return [
            ListedTask(task_id, project, kind, status(state), progress, total, stamp(created + "+00:00"))
            for task_id, project, kind, state, progress, total, created in rows
        ]

    def task_list_sql(self, query: TaskQuery) -> tuple[str, dict[str, Any]]:
        """The list query for these filters (public so the query-plan test can EXPLAIN it)."""
        return compose_task_list(self._queries, query, format_time)

    def task_get_many(self, task_ids: Sequence[int]) -> list[Task]:
        rows = self._read("task_get_many", {"ids": json.dumps(list(task_ids))})
        return [row_to_task(row) for row in rows]

    def task_events(self, task_id: int) -> list[TaskEvent]:
        return [row_to_event(row) for row in self._read("task_events", {"id": task_id})]

    def task_changes(self, after_id: int, limit: int) -> ChangePage:
        now = utcnow()  # before reading: an event read is never later than this clock says
        rows = self._read("task_changes", {"after_id": after_id, "limit": limit})
        return ChangePage([row_to_event(row) for row in rows], now)
