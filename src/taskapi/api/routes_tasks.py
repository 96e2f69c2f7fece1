"""The task routes: the spec's three (list, detail, cancel), creation (one or a batch), bulk cancel and
the timeline of a task.

Writes are signed with the caller's identity (``request.state.actor``, set by the access control;
"api" when there is none), which the task's timeline records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool as in_thread
from starlette.convertors import Convertor, register_url_convertor

from taskapi.api.deps import ServiceDep
from taskapi.api.encoding import JSON_TYPE, list_body, next_page_headers, page_after
from taskapi.api.schemas import (
    ApiResponse,
    BatchCreatedSchema,
    BatchCreateRequest,
    BulkCancelledSchema,
    BulkCancelRequest,
    CreateTaskRequest,
    CursorToken,
    ErrorResponse,
    PageLimit,
    ProjectFilter,
    TaskDetailSchema,
    TaskEventSchema,
    TaskSchema,
    TimeFilter,
)
from taskapi.domain import DEFAULT_LIST_LIMIT, IDEMPOTENCY_HEADER, MAX_ID, TaskStatus, TaskType


class TaskIdSegment(Convertor[str]):
    """The ``{id}`` of a task's path: any segment but ``batch`` and ``cancel``, the collection's own
    POST routes, so that another method there is told ``Allow: POST`` (not GET, as the detail route's
    pattern would say) and ``GET /tasks/batch`` is a 405, not a 400 about an id."""

    regex = "(?!(?:batch|cancel)$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("task_id", TaskIdSegment())

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meanings = {
        400: "Invalid input, or the task cannot be cancelled",
        404: "Task not found (or deleted by retention: the message says when)",
        409: "The Idempotency-Key was used within 24 hours for a different create",
        413: "Request body over the size limit",
        500: "Unexpected error (details are in the server log)",
        503: "Task store unavailable; retry shortly",
        507: "The task store's disk is full: nothing was written; retry once space is freed",
    }
    return {code: {"model": ErrorResponse, "description": meanings[code]} for code in codes}


TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="Task ID", alias="id")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description=(
            "1 to 200 printable ASCII characters. Within 24 hours, a create with the same key and the"
            " same body answers the first create's tasks again (the same 201, nothing created); with a"
            " different body, 409. Lets a client retry a create whose answer it lost (extension)."
        ),
        # documented, checked by the service (one rule and message at every door)
        json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": "^[\\x20-\\x7e]+$"},
    ),
]


def actor_of(request: Request) -> str:
    """Who is asking, for the timeline: set by the access control, else "api"."""
    actor = getattr(request.state, "actor", "api")
    return actor if isinstance(actor, str) and actor else "api"


@router.get(
    "",
    summary="List tasks, newest first",
    response_model=ApiResponse[list[TaskSchema]],
    responses=_errors(400, 500, 503),
)
async def list_tasks(
    service: ServiceDep,
    request: Request,
    project_id: Annotated[ProjectFilter | None, Query(description="Filter by project ID")] = None,
    status: Annotated[TaskStatus | None, Query(description="Filter by status")] = None,
    limit: Annotated[PageLimit, Query(description="Maximum number of items")] = DEFAULT_LIST_LIMIT,
    task_type: Annotated[TaskType | None, Query(description="Filter by task type (extension)")] = None,
    created_after: Annotated[
        TimeFilter | None, Query(description="Only tasks created after this time, UTC (extension)")
    ] = None,
    created_before: Annotated[
        TimeFilter | None, Query(description="Only tasks created before this time, UTC (extension)")
    ] = None,
    cursor: Annotated[
        CursorToken | None,
        Query(description="Continue after the page that answered this X-Next-Cursor header (extension)"),
    ] = None,
) -> Response:
    """Tasks ordered by `created_at` descending, ties by `id` descending.

    A full page (as many tasks as `limit`) carries an `X-Next-Cursor` header (and a
    `Link: rel="next"`); pass it back as `cursor` to get the next page, which may be empty.
    Paging is by keyset, so every page costs the same.
    """
    page = await in_thread(
        service.list,
        project_id=project_id,
        status=status,
        task_type=task_type,
        created_after=created_after,
        created_before=created_before,
        after=page_after(cursor),
        limit=limit,
    )
    # Encoded here rather than through the response model (which documents it): the hot path of every
    # dashboard and client poll. The fast path (``taskapi.api.fast``) answers with the same encoder.
    headers = next_page_headers(page, limit, request.url)
    return Response(list_body(page), media_type=JSON_TYPE, headers=headers)


@router.post(
    "",
    summary="Create a task",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiResponse[TaskDetailSchema],
    responses=_errors(400, 409, 413, 500, 503, 507),
)
async def create_task(
    service: ServiceDep, request: Request, body: CreateTaskRequest, idempotency_key: IdempotencyKey = None
) -> ApiResponse[TaskDetailSchema]:
    task = await in_thread(
        service.create,
        body.project_id,
        body.task_type,
        body.params,
        actor=actor_of(request),
        idempotency_key=idempotency_key,
    )
    return ApiResponse(code=201, message="Task created", data=TaskDetailSchema.of(task))


@router.post(
    "/batch",
    summary="Create up to 10,000 tasks at once",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiResponse[BatchCreatedSchema],
    responses=_errors(400, 409, 413, 500, 503, 507),
)
async def create_tasks(
    service: ServiceDep, request: Request, body: BatchCreateRequest, idempotency_key: IdempotencyKey = None
) -> ApiResponse[BatchCreatedSchema]:
    """All of them in one transaction, or none: an invalid item answers 400 naming its index
    (`tasks.3.task_type`) and creates nothing. `ids` follow the order of `tasks`. The body size limit
    applies to the whole batch."""
    specs = [(item.project_id, item.task_type, item.params) for item in body.tasks]
    tasks = await in_thread(
        service.create_many, specs, actor=actor_of(request), idempotency_key=idempotency_key
    )
    data = BatchCreatedSchema(count=len(tasks), ids=[task.id for task in tasks])
    return ApiResponse(code=201, message=f"{len(tasks)} tasks created", data=data)


@router.post(
    "/cancel",
    summary="Cancel every pending or running task of a project",
    response_model=ApiResponse[BulkCancelledSchema],
    responses=_errors(400, 413, 500, 503, 507),
)
async def cancel_tasks(
    service: ServiceDep, request: Request, body: BulkCancelRequest
) -> ApiResponse[BulkCancelledSchema]:
    """One transaction: every match is `cancelled` when this answers, each with its timeline event, and
    the workers running any of them are told to stop. Tasks already finished are left alone."""
    count = await in_thread(
        service.cancel_many,
        body.project_id,
        status=body.status,
        task_type=body.task_type,
        actor=actor_of(request),
    )
    return ApiResponse(
        code=200, message=f"{count} tasks cancelled", data=BulkCancelledSchema(cancelled=count)
    )


@router.get(
    "/{id:task_id}",
    summary="Show one task in full",
    response_model=ApiResponse[TaskDetailSchema],
    responses=_errors(400, 404, 500, 503),
)
async def get_task(service: ServiceDep, task_id: TaskId) -> ApiResponse[TaskDetailSchema]:
    task = await in_thread(service.get, task_id)
    return ApiResponse(code=200, message="success", data=TaskDetailSchema.of(task))


@router.post(
    "/{id:task_id}/cancel",
    summary="Cancel a pending or running task",
    response_model=ApiResponse[None],
    responses=_errors(400, 404, 500, 503, 507),
)
async def cancel_task(service: ServiceDep, request: Request, task_id: TaskId) -> ApiResponse[None]:
    """The task is `cancelled` when this answers; a worker running it is told to stop."""
    await in_thread(service.cancel, task_id, actor=actor_of(request))
    return ApiResponse(code=200, message="Task cancelled", data=None)


@router.get(
    "/{id:task_id}/events",
    summary="The timeline of one task, oldest first",
    response_model=ApiResponse[list[TaskEventSchema]],
    responses=_errors(400, 404, 500, 503),
)
async def task_events(service: ServiceDep, task_id: TaskId) -> ApiResponse[list[TaskEventSchema]]:
    """Every change of the task (created, claimed, completed, failed, cancelled, released, rescued,
    lost) and what its worker saw (killed, timed_out), with who did it. A task deleted by retention
    answers 404 saying when."""
    events = await in_thread(service.events, task_id)
    return ApiResponse(code=200, message="success", data=[TaskEventSchema.of(event) for event in events])
