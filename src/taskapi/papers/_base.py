"""What every part of ``PapersRepository`` stands on: the store, the dialect's named SQL and codec, and
the fence that a task's writes check first.

The repository is one class for its callers, built from parts that each own one job (``_texts``: page
texts; ``_index``: the full-text index and its search); they share this base.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from taskapi.papers._rows import Codec, codec_for
from taskapi.store._queries import Component, load_queries
from taskapi.store.base import Store
from taskapi.store.db import Tx

PAPERS_COMPONENT = Component("papers", "taskapi.papers")
"""The library's tables, migrated after the task store's: ``store.migrate([PAPERS_COMPONENT])``."""


@dataclass(frozen=True, slots=True)
class Fence:
    """The attempt of a task a write belongs to: it is written only while that attempt is running."""

    task_id: int
    attempt: int


class FenceLost(Exception):
    """The task is no longer running at this attempt (cancelled, or rescued and retried): the batch
    that found out wrote nothing (earlier batches of the same call stay)."""

    def __init__(self, fence: Fence) -> None:
        super().__init__(f"task {fence.task_id} is no longer running at attempt {fence.attempt}")
        self.fence = fence


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RepositoryCore:
    """The store, its dialect's queries and codec, and the first statements of a fenced write."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queries = load_queries(store.dialect, package=PAPERS_COMPONENT.package)
        self._codec: Codec = codec_for(store.dialect)

    def _guard(self, tx: Tx, fence: Fence | None, project_id: int | None) -> None:
        """The first statements of a write: the fence, then the project's write lock (PostgreSQL; on
        SQLite ``BEGIN IMMEDIATE`` already made this the only writer)."""
        if fence is not None:
            held = tx.fetch_one(
                self._queries["papers_fence"], {"task_id": fence.task_id, "attempt": fence.attempt}
            )
            if held is None:
                raise FenceLost(fence)
        if project_id is not None:
            tx.execute(self._queries["papers_lock_project"], {"project_id": project_id})
