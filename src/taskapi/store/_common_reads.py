"""The reads whose logic is the same on both dialects: only their SQL differs, and a stored time's
shape (text on SQLite, ``timestamptz`` on PostgreSQL), which ``stored_time`` reads either way.

A mixin of each dialect's reads class: it needs only ``_read`` (a named query's rows, readable by
column name), which each dialect's base class provides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskapi.domain import QueueCounts
from taskapi.store.base import PruneRecord, RunningProgress, in_runs, stored_time


class CommonReads:
    """The log's head, running progress, the queue's figures, retention's records."""

    if TYPE_CHECKING:

        def _read(self, name: str, params: dict[str, Any] | None = None) -> Sequence[Any]: ...

    def task_events_head(self) -> int:
        return int(self._read("task_events_head")[0]["head"])

    def task_running_progress(self) -> list[RunningProgress]:
        rows = self._read("task_running_progress")
        return sorted((row["id"], row["progress"], row["total"]) for row in rows)

    def task_queue_counts(self) -> QueueCounts:
        rows = self._read("task_active_counts")
        active = {(row["status"], row["task_type"]): row["count"] for row in rows}
        oldest = stored_time(self._read("task_oldest_pending")[0]["oldest"])
        events = {row["kind"]: row["count"] for row in self._read("task_rare_event_counts")}
        return QueueCounts(active, oldest, events)

    def task_pruned(self, task_id: int) -> PruneRecord | None:
        for row in self._read("task_pruned", {"id": task_id}):  # the few batches whose span holds it
            if in_runs(task_id, row["ranges"]):
                pruned_at = stored_time(row["pruned_at"])
                assert pruned_at is not None  # a NOT NULL column
                return PruneRecord(pruned_at, row["older_than_seconds"])
        return None
