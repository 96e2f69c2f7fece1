"""What the commands read of tasks, on a database or from a server alike: a page of the list with the
cursor of the next, and the reads the live views make (``TaskReader``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from taskapi.domain import ListedTask, Task


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of the task list and the cursor of the next (set when the page is full)."""

    items: list[ListedTask]
    next_cursor: str | None


class TaskReader(Protocol):
    """What the live views read of tasks."""

    def get(self, task_id: int) -> Task: ...

    def get_many(self, task_ids: Sequence[int]) -> list[Task]: ...

    def task_page(
        self,
        *,
        project_id: int | None = None,
        status: str | None = None,
        task_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        after: str | None = None,
        limit: int,
    ) -> TaskPage: ...
