"""The wire shapes of the pipeline runs' routes (PIPELINE.md "Pipeline runs"), in the task API's envelope
and time rendering; ``taskapi pipeline ... --json`` prints the same.

A run answers ``{id, project_id, status, steps: [{task_type, task_id, status}]}`` as the contract names
them, plus ``query``, ``failed_step``, ``error``, ``created_at`` and ``ended_at``. A step's ``status`` is
its task's, or ``waiting`` (not created yet), ``skipped`` (its run ended before it) or ``pruned`` (its
task was deleted by retention).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from taskapi.api.schemas import ApiTime, BodyId, render_time
from taskapi.domain import TaskType
from taskapi.run_records import PipelineRun, RunStatus

REQUEST_FIELDS = "project_id, query, sources, limit, steps, params"
"""The fields of a start request (named when a body holds another)."""
_STEPS = [t.value for t in TaskType]


class CreatePipelineRequest(BaseModel):
    """A run to start. Unknown fields are refused, so that a misspelt field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    project_id: BodyId
    query: StrictStr | None = Field(
        default=None,
        examples=["machine learning"],
        description="For search and keyword_expand (required when the run has either)",
    )
    sources: list[StrictStr] | None = Field(
        default=None,
        examples=[["semantic_scholar", "arxiv"]],
        description="For search (default: all four sources)",
    )
    limit: StrictInt | None = Field(
        default=None, examples=[100], description="For search: records per source, 1..10,000 (default 100)"
    )
    steps: list[TaskType] | None = Field(
        default=None,
        examples=[_STEPS],
        description="The steps to run, in this order, each at most once (default: all six)",
    )
    params: dict[str, dict[str, Any]] | None = Field(
        default=None,
        examples=[{"crawl": {"max_papers": 200}}],
        description="Params by step name, over the run's own fields (a step's task also gets pipeline_run)",
    )


class PipelineStepSchema(BaseModel):
    task_type: TaskType
    task_id: int | None = Field(examples=[42], description="Its task, once created (null before)")
    status: str = Field(
        examples=["running"],
        description="Its task's status, or waiting (not created yet), skipped (the run ended before it)"
        " or pruned (its task was deleted by retention)",
    )


class PipelineRunSchema(BaseModel):
    """A pipeline run and where each of its steps stands."""

    id: int = Field(examples=[7])
    project_id: int = Field(examples=[1])
    status: RunStatus
    steps: list[PipelineStepSchema]
    query: str | None = Field(examples=["machine learning"])
    failed_step: TaskType | None = Field(examples=[None], description="The step that failed the run")
    error: str | None = Field(
        examples=[None], description="Why the run failed (the step's error) or was cancelled (by whom)"
    )
    created_at: ApiTime
    ended_at: ApiTime | None


def run_row(run: PipelineRun) -> dict[str, Any]:
    """The JSON object ``PipelineRunSchema`` describes, built directly."""
    return {
        "id": run.id,
        "project_id": run.project_id,
        "status": run.status.value,
        "steps": [
            {"task_type": step.task_type, "task_id": step.task_id, "status": step.status}
            for step in run.steps
        ],
        "query": run.query,
        "failed_step": run.failed_step,
        "error": run.error or None,
        "created_at": render_time(run.created_at),
        "ended_at": None if run.ended_at is None else render_time(run.ended_at),
    }
