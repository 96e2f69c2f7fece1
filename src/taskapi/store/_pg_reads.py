"""The PostgreSQL store's reads: tasks, the list, events and the change feed, the queue's figures.

Each is one statement in autocommit on a pooled connection, so it sees the latest committed state;
times are the database's clock (``task_changes`` answers it with the page), never this host's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from taskapi.domain import ListedTask, Task, TaskEvent, TaskQuery
from taskapi.store._common_reads import CommonReads
from taskapi.store._pg_base import PgBase, fetch
from taskapi.store._pg_rows import as_utc, row_to_event, row_to_listed, row_to_task
from taskapi.store._queries import compose_task_list
from taskapi.store.base import ChangePage


class PgReads(PgBase, CommonReads):
    """What the API and the dashboards read from PostgreSQL."""

    def task_get(self, task_id: int) -> Task | None:
        rows = self._read("task_get", {"id": task_id})
        return row_to_task(rows[0]) if rows else None

    def task_list(self, query: TaskQuery) -> list[ListedTask]:
        sql, params = self.task_list_sql(query)
        with self._connection() as conn:
            return [row_to_listed(row) for row in fetch(conn, sql, params)]

    def task_list_sql(self, query: TaskQuery) -> tuple[str, dict[str, Any]]:
        """The list query for these filters (public so the query-plan test can EXPLAIN it)."""
        return compose_task_list(self._queries, query, as_utc)

    def task_get_many(self, task_ids: Sequence[int]) -> list[Task]:
        if not task_ids:
            return []
        return [row_to_task(row) for row in self._read("task_get_many", {"ids": list(task_ids)})]

    def task_events(self, task_id: int) -> list[TaskEvent]:
        return [row_to_event(row) for row in self._read("task_events", {"id": task_id})]

    def task_changes(self, after_id: int, limit: int) -> ChangePage:
        rows = self._read("task_changes", {"after_id": after_id, "limit": limit})
        if not rows:  # nothing to compare the clock with: any clock will do
            return ChangePage([], datetime.now(UTC))
        return ChangePage([row_to_event(row) for row in rows], rows[-1]["now"].astimezone(UTC))
