"""The task routes: the spec's three (list, detail, cancel) plus creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from taskapi.api.deps import ServiceDep
from taskapi.api.schemas import (
    ApiResponse,
    CreateTaskRequest,
    ErrorResponse,
    TaskDetailSchema,
    TaskSchema,
)
from taskapi.domain import (
    DEFAULT_LIST_LIMIT,
    MAX_ID,
    MAX_LIST_LIMIT,
    TaskStatus,
    TaskType,
    decode_cursor,
    encode_cursor,
)
from taskapi.service import next_cursor

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meanings = {
        400: "Invalid input, or the task cannot be cancelled",
        404: "Task not found",
        413: "Request body over the size limit",
        500: "Unexpected error (details are in the server log)",
        503: "Task store unavailable; retry shortly",
    }
    return {code: {"model": ErrorResponse, "description": meanings[code]} for code in codes}


TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="Task ID", alias="id")]


@router.get(
    "",
    summary="List tasks, newest first",
    response_model=ApiResponse[list[TaskSchema]],
    responses=_errors(400, 500, 503),
)
def list_tasks(
    service: ServiceDep,
    request: Request,
    response: Response,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Filter by project ID")] = None,
    status: Annotated[TaskStatus | None, Query(description="Filter by status")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIST_LIMIT, description="Maximum number of items")
    ] = DEFAULT_LIST_LIMIT,
    task_type: Annotated[TaskType | None, Query(description="Filter by task type (extension)")] = None,
    created_after: Annotated[
        datetime | None, Query(description="Only tasks created after this time, UTC (extension)")
    ] = None,
    created_before: Annotated[
        datetime | None, Query(description="Only tasks created before this time, UTC (extension)")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(description="Continue after the page that answered this X-Next-Cursor header (extension)"),
    ] = None,
) -> ApiResponse[list[TaskSchema]]:
    """Tasks ordered by `created_at` descending, ties by `id` descending.

    A full page (as many tasks as `limit`) carries an `X-Next-Cursor` header (and a
    `Link: rel="next"`); pass it back as `cursor` to get the next page, which may be empty.
    Paging is by keyset, so every page costs the same.
    """
    page = service.list(
        project_id=project_id,
        status=status,
        task_type=task_type,
        created_after=created_after,
        created_before=created_before,
        after=None if cursor is None else decode_cursor(cursor),
        limit=limit,
    )
    following = next_cursor(page, limit)
    if following is not None:
        token = encode_cursor(following)
        response.headers["X-Next-Cursor"] = token
        response.headers["Link"] = f'<{request.url.include_query_params(cursor=token)}>; rel="next"'
    return ApiResponse(code=200, message="success", data=[TaskSchema.of(task) for task in page])


@router.post(
    "",
    summary="Create a task",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiResponse[TaskDetailSchema],
    responses=_errors(400, 413, 500, 503),
)
def create_task(service: ServiceDep, body: CreateTaskRequest) -> ApiResponse[TaskDetailSchema]:
    task = service.create(body.project_id, body.task_type, body.params)
    return ApiResponse(code=201, message="Task created", data=TaskDetailSchema.of(task))


@router.get(
    "/{id}",
    summary="Show one task in full",
    response_model=ApiResponse[TaskDetailSchema],
    responses=_errors(400, 404, 500, 503),
)
def get_task(service: ServiceDep, task_id: TaskId) -> ApiResponse[TaskDetailSchema]:
    return ApiResponse(code=200, message="success", data=TaskDetailSchema.of(service.get(task_id)))


@router.post(
    "/{id}/cancel",
    summary="Cancel a pending or running task",
    response_model=ApiResponse[None],
    responses=_errors(400, 404, 500, 503),
)
def cancel_task(service: ServiceDep, task_id: TaskId) -> ApiResponse[None]:
    """The task is `cancelled` when this answers; a worker running it is told to stop."""
    service.cancel(task_id)
    return ApiResponse(code=200, message="Task cancelled", data=None)
