"""A pipeline run's records: its status, its steps as planned (``NewRun``, ``PlannedStep``) and as they
stand (``PipelineRun``, ``RunStep``), and the errors that name a run (``RunNotFound``,
``RunNotCancellable``, the API's 404 and 400 of a run as of a task).

The store writes and reads them, ``RunService`` hands them out, and the API, the CLI and the HTTP
client name them: they live here, apart from the store, so that naming a run needs no store module
(the client may import none, an import-linter contract says). Of ours it imports the domain alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskapi.domain import TaskError, TaskNotCancellable, TaskNotFound, TaskStatus


class RunStatus(enum.StrEnum):
    """A pipeline run's state: ``running`` from its creation (its first step is a task at once) until
    its last step completes, a step fails, or it is cancelled."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self is not RunStatus.RUNNING


STEP_WAITING = "waiting"
"""The status of a step of a running run whose task is not created yet (its step before has not completed)."""
STEP_SKIPPED = "skipped"
"""The status of a step that will never run: its run failed or was cancelled before it."""
STEP_PRUNED = "pruned"
"""The status of a step whose task retention deleted."""


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of a run as planned: its task type and the params its task will get (plus the run's id,
    ``pipeline_run``, added when the task is created)."""

    task_type: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run to start: its steps in order, each with params already checked."""

    project_id: int
    query: str | None
    steps: tuple[PlannedStep, ...]


@dataclass(frozen=True, slots=True)
class RunStep:
    """A step of a run as it stands: its task (``None`` until created) and that task's status and
    progress, or ``waiting`` / ``skipped`` / ``pruned`` (see ``STEP_*``)."""

    position: int
    task_type: str
    params: dict[str, Any]
    task_id: int | None
    status: str
    progress: int = 0
    total: int = 0


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """A pipeline run: ``current_step`` is the step in flight, or where an ended run ended."""

    id: int
    project_id: int
    status: RunStatus
    query: str | None
    steps: tuple[RunStep, ...]
    current_step: int
    created_at: datetime
    ended_at: datetime | None
    error: str

    @property
    def failed_step(self) -> str | None:
        """The task type of the step that failed the run (``None`` unless the run failed)."""
        return self.steps[self.current_step].task_type if self.status is RunStatus.FAILED else None


class RunNotFound(TaskNotFound):
    def __init__(self, run_id: int) -> None:
        TaskError.__init__(self, f"Pipeline run {run_id} not found")
        self.task_id = run_id


class RunNotCancellable(TaskNotCancellable):
    def __init__(self, run_id: int, status: RunStatus) -> None:
        TaskError.__init__(
            self,
            f"Pipeline run {run_id} cannot be cancelled: it is already {status.value}"
            " (only a running run can be cancelled)",
        )
        self.task_id = run_id
        self.status = TaskStatus(status.value)
