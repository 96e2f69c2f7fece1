"""The pipeline runs' routes: start a run, show it, cancel it (PIPELINE.md "Pipeline runs"), and list the
newest runs (an extension, for the dashboard).

They follow the task routes: async with one thread hop per service call, the envelope, 400 naming the
field (``steps.2``, ``query``, ``params.crawl.max_papers``; never 422), 404 in the envelope, ``read`` to
show and ``operate`` to start or cancel (the access control decides by method). Each route builds a
``RunService`` over the app's ``TaskService`` (its store and params validators).

The app's error handlers know the task routes' bodies; ``PipelineRoute`` answers this router's bad
input itself, so that a message names the pipeline's own fields and says they are in the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool as in_thread

from taskapi.api.errors import error_response, on_validation_error
from taskapi.api.routes_tasks import actor_of
from taskapi.api.schemas import ApiResponse, ErrorDetail, ErrorResponse
from taskapi.api.schemas_pipelines import REQUEST_FIELDS, CreatePipelineRequest, PipelineRunSchema, run_row
from taskapi.domain import DEFAULT_LIST_LIMIT, MAX_ID, MAX_LIST_LIMIT, InvalidInput
from taskapi.runs import RunService
from taskapi.service import TaskService

PIPELINES_PATH = "/api/v1/pipelines"
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class PipelineRoute(APIRoute):
    """A route whose bad input answers 400 naming this router's fields (a POST's are in the body)."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()

        async def checked(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return await on_validation_error(request, RequestValidationError(_named(exc.errors())))
            except InvalidInput as exc:
                where = "body" if request.method == "POST" else "query"
                detail = ErrorDetail(location=where, field=exc.field, message=exc.detail)
                return error_response(400, f"Invalid request: {exc}", [detail])

        return checked


def _named(errors: Any) -> list[dict[str, Any]]:
    """Validation errors with an unknown body field saying which fields a run takes."""
    message = f"unknown field (allowed: {REQUEST_FIELDS})"
    return [
        {**error, "type": "pipeline_field", "msg": message}
        if error.get("type") == "extra_forbidden"
        else error
        for error in errors
    ]


router = APIRouter(prefix=PIPELINES_PATH, tags=["pipelines"], route_class=PipelineRoute)


async def get_runs(request: Request) -> RunService:
    """The runs of the app's task service (``async``: no thread hop for it)."""
    service: TaskService = request.app.state.service
    return RunService.of(service)


RunsDep = Annotated[RunService, Depends(get_runs)]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="Pipeline run ID", alias="id")]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meanings = {
        400: "Invalid input (the message names the field: steps.2, query, params.crawl.max_papers),"
        " or the run cannot be cancelled",
        404: "Pipeline run not found",
        413: "Request body over the size limit",
        500: "Unexpected error (details are in the server log)",
        503: "Task store unavailable; retry shortly",
        507: "The task store's disk is full: nothing was written; retry once space is freed",
    }
    return {code: {"model": ErrorResponse, "description": meanings[code]} for code in codes}


def _encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _json(data: dict[str, Any], message: str, code: int = 200) -> Response:
    body = {"code": code, "message": message, "data": data}
    return Response(_encoded(body), status_code=code, media_type="application/json")


@router.post(
    "",
    summary="Start a pipeline run",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiResponse[PipelineRunSchema],
    responses=_errors(400, 413, 500, 503, 507),
)
async def start_run(runs: RunsDep, request: Request, body: CreatePipelineRequest) -> Response:
    """The run's first step is a pending task when this answers; each next step's task is created in
    the transaction that completes the one before. `steps` default to all six in pipeline order (a
    run may leave steps out, never reorder or repeat them). `query`, `sources` and `limit` go to
    search and the query to keyword_expand; `params` overrides any step's params, each checked as a
    task of that type is. Bad input answers 400 naming the field, and nothing is created."""
    run = await in_thread(
        runs.start,
        body.project_id,
        body.query,
        sources=body.sources,
        limit=body.limit,
        steps=body.steps,
        params=body.params,
        actor=actor_of(request),
    )
    return _json(run_row(run), f"Pipeline run {run.id} started", 201)


@router.get(
    "",
    summary="List pipeline runs, newest first",
    response_model=ApiResponse[list[PipelineRunSchema]],
    responses=_errors(400, 500, 503),
)
async def list_runs(
    runs: RunsDep,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this project's runs")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIST_LIMIT, description="Maximum number of runs")
    ] = DEFAULT_LIST_LIMIT,
) -> Response:
    """The newest runs (of a project, when given), each with its steps as `GET /{id}` shows them."""
    page = await in_thread(runs.list, project_id, limit)
    body = {"code": 200, "message": "success", "data": [run_row(run) for run in page]}
    return Response(_encoded(body), media_type="application/json")


@router.get(
    "/{id}",
    summary="Show a pipeline run and its steps",
    response_model=ApiResponse[PipelineRunSchema],
    responses=_errors(400, 404, 500, 503),
)
async def get_run(runs: RunsDep, run_id: RunId) -> Response:
    """Each step with its task (once created) and that task's status; the task's own detail (progress,
    result, error) is at `/api/v1/tasks/{task_id}`."""
    run = await in_thread(runs.get, run_id)
    return _json(run_row(run), "success")


@router.post(
    "/{id}/cancel",
    summary="Cancel a running pipeline run",
    response_model=ApiResponse[PipelineRunSchema],
    responses=_errors(400, 404, 500, 503, 507),
)
async def cancel_run(runs: RunsDep, request: Request, run_id: RunId) -> Response:
    """One transaction: the run is `cancelled` and its step in flight is cancelled (its worker told to
    stop); no later step is ever created. A run that already ended answers 400."""
    run = await in_thread(runs.cancel, run_id, actor=actor_of(request))
    return _json(run_row(run), f"Pipeline run {run.id} cancelled")
