"""Pipeline runs: one run of the pipeline's steps (search, dedup, crawl, ocr, index, keyword_expand),
each step an ordinary task, the next one created by the store in the transaction that completes the
one before (PIPELINE.md "Pipeline runs").

``RunService`` checks a run's input the way every door shares (the HTTP route, the CLI, Python), then
hands the store one ``NewRun``; the chaining itself lives in the store, not here, so it survives a
restart of every process::

    with TaskService.open("sqlite:///taskapi.db") as tasks:
        runs = RunService.of(tasks)
        run = runs.start(1, "graphene", steps=["search", "dedup"], params={"dedup": {"dry_run": True}})
        runs.cancel(run.id)

A step's task gets the step's params and ``"pipeline_run": <run id>``. ``query``, ``sources`` and
``limit`` go to ``search`` and the query to ``keyword_expand``; ``params`` overrides any step's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskapi.domain import (
    DEFAULT_LIST_LIMIT,
    InvalidInput,
    TaskType,
    check_id,
    check_limit,
)
from taskapi.run_records import NewRun, PipelineRun, PlannedStep, RunNotCancellable, RunNotFound, RunStatus
from taskapi.service import (
    ParamsValidator,
    TaskService,
    check_actor,
    check_params,
)
from taskapi.store import Store
from taskapi.store.base import DEFAULT_ACTOR

STEP_ORDER: tuple[str, ...] = tuple(task_type.value for task_type in TaskType)
"""The pipeline's steps in the only order a run may take them (a run may leave any out)."""
QUERY_STEPS = frozenset({TaskType.SEARCH.value, TaskType.KEYWORD_EXPAND.value})
"""The steps that need the run's query."""
RUN_FIELDS = {TaskType.SEARCH.value: ("query", "sources", "limit"), TaskType.KEYWORD_EXPAND.value: ("query",)}
"""Which of the run's own fields each step's params get (``params.<step>`` still overrides them)."""
Runs = list[PipelineRun]  # for annotations inside RunService, where ``list`` names its method


def check_steps(steps: object) -> tuple[str, ...]:
    """Step names, each known, none repeated, in pipeline order; ``None``: all six."""
    if steps is None:
        return STEP_ORDER
    if isinstance(steps, str) or not isinstance(steps, Sequence) or not steps:
        raise InvalidInput(
            "steps", f"must be a non-empty list of steps in this order: {', '.join(STEP_ORDER)}"
        )
    steps = [str(step) if isinstance(step, str) else step for step in steps]  # an enum member: its value
    for index, step in enumerate(steps):
        if step not in STEP_ORDER:
            raise InvalidInput(
                f"steps.{index}", f"unknown step {step!r}: expected one of {', '.join(STEP_ORDER)}"
            )
        if step in steps[:index]:
            raise InvalidInput(f"steps.{index}", f"{step!r} is repeated: a run takes each step once")
        if index and STEP_ORDER.index(step) < STEP_ORDER.index(steps[index - 1]):
            raise InvalidInput(
                f"steps.{index}",
                f"{step!r} cannot follow {steps[index - 1]!r}: the order is {', '.join(STEP_ORDER)}",
            )
    return tuple(str(step) for step in steps)


def check_query(query: object, steps: Sequence[str]) -> str | None:
    """The run's query: required (non-empty) when a step needs it, else optional."""
    if query is not None and not isinstance(query, str):
        raise InvalidInput("query", f"must be a string, got {type(query).__name__}")
    needs = [step for step in steps if step in QUERY_STEPS]
    if needs and (query is None or not query.strip()):
        raise InvalidInput("query", f"must be a non-empty string for a run with {' and '.join(needs)}")
    if query is not None and "\x00" in query:
        raise InvalidInput("query", "must not contain the NUL character")
    return None if query is None else query.strip()


def check_step_params(params: object, steps: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``params``: a JSON object of step name to that step's params object, for steps of this run."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidInput(
            "params", f"must be a JSON object of step name to params, got {type(params).__name__}"
        )
    checked: dict[str, dict[str, Any]] = {}
    for step, value in params.items():
        if step not in STEP_ORDER:
            raise InvalidInput(f"params.{step}", f"unknown step: expected one of {', '.join(STEP_ORDER)}")
        if step not in steps:
            raise InvalidInput(
                f"params.{step}", f"{step} is not a step of this run (steps: {', '.join(steps)})"
            )
        if not isinstance(value, Mapping):
            raise InvalidInput(f"params.{step}", f"must be a JSON object, got {type(value).__name__}")
        checked[str(step)] = dict(value)
    return checked


def _renamed(exc: InvalidInput, step: str, from_run: Mapping[str, Any]) -> InvalidInput:
    """A step validator's error (``params.limit``) named where the caller wrote the value: the run's
    own field (``limit``, ``sources.1``) or the step's params (``params.crawl.max_papers``)."""
    inner = exc.field.removeprefix("params").removeprefix(".")
    if inner.split(".", 1)[0] in from_run:
        return InvalidInput(inner, exc.detail)
    return InvalidInput(f"params.{step}" + (f".{inner}" if inner else ""), exc.detail)


def plan_step(
    step: str,
    run_fields: Mapping[str, Any],
    own: Mapping[str, Any],
    validators: Mapping[str, ParamsValidator],
) -> PlannedStep:
    """One step's params (the run's fields it takes, then its own over them), checked by its type's
    validator as a task of that type is at creation."""
    from_run = {
        name: run_fields[name]
        for name in RUN_FIELDS.get(step, ())
        if run_fields.get(name) is not None and name not in own
    }
    try:
        params = check_params({**from_run, **own})
        validate = validators.get(step)
        if validate is not None:
            validate(params)
    except InvalidInput as exc:
        raise _renamed(exc, step, from_run) from None
    return PlannedStep(step, params)


def plan_run(
    project_id: object,
    query: object = None,
    *,
    sources: object = None,
    limit: object = None,
    steps: object = None,
    params: object = None,
    validators: Mapping[str, ParamsValidator] | None = None,
) -> NewRun:
    """A run's input checked as every door checks it; ``InvalidInput`` names the field (``steps.2``,
    ``query``, ``params.crawl``, ``params.crawl.max_papers``) and nothing is created."""
    project = check_id("project_id", project_id)
    names = check_steps(steps)
    text = check_query(query, names)
    for name, value in (("sources", sources), ("limit", limit)):
        if value is not None and TaskType.SEARCH.value not in names:
            raise InvalidInput(name, "only a run with the search step takes it")
    own = check_step_params(params, names)
    run_fields = {"query": text, "sources": sources, "limit": limit}
    planned = tuple(plan_step(step, run_fields, own.get(step, {}), validators or {}) for step in names)
    return NewRun(project, text, planned)


class RunService:
    """Start, read and cancel pipeline runs over a store; ``validators`` check each step's params (the
    task service's, so runs and tasks agree).

    The store announces a run's first task and a run's cancel after the commit, as it does a task's
    create and cancel (``store.notify``): workers here and elsewhere hear them from there."""

    def __init__(
        self,
        store: Store,
        validators: Mapping[str, ParamsValidator] | None = None,
    ) -> None:
        self.store = store
        self.validators: Mapping[str, ParamsValidator] = validators or {}

    @classmethod
    def of(cls, tasks: TaskService) -> RunService:
        """The runs of the store ``tasks`` uses, with its params validators."""
        return cls(tasks.store, tasks.validators)

    def start(
        self,
        project_id: int,
        query: str | None = None,
        *,
        sources: Sequence[str] | None = None,
        limit: int | None = None,
        steps: Sequence[str] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> PipelineRun:
        """Start a run: its first step is a pending task when this returns; each next one is created
        when the one before completes. ``steps`` default to all six, in order."""
        new = plan_run(
            project_id,
            query,
            sources=None if sources is None else list(sources),
            limit=limit,
            steps=None if steps is None else list(steps),
            params=params,
            validators=self.validators,
        )
        return self.store.run_create(new, check_actor(actor))

    def get(self, run_id: int) -> PipelineRun:
        run = self.store.run_get(check_id("id", run_id))
        if run is None:
            raise RunNotFound(run_id)
        return run

    def list(self, project_id: int | None = None, limit: int = DEFAULT_LIST_LIMIT) -> Runs:
        """The newest runs (of a project, when given), newest first."""
        project = None if project_id is None else check_id("project_id", project_id)
        return self.store.run_list(project, check_limit(limit))

    def cancel(self, run_id: int, actor: str = DEFAULT_ACTOR) -> PipelineRun:
        """Cancel a running run: its step in flight is cancelled (its worker told to stop) and no later
        step is created. ``RunNotCancellable`` once the run has ended."""
        outcome = self.store.run_cancel(check_id("id", run_id), check_actor(actor))
        if outcome is None:
            raise RunNotFound(run_id)
        if outcome.status_before is not RunStatus.RUNNING:
            raise RunNotCancellable(run_id, outcome.status_before)
        return self.get(run_id)
