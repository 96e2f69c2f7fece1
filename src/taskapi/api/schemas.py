"""The wire shapes of the spec: the ``{"code","message","data"}`` envelope and the task schemas, and
the forms of what the task routes take (ids, list filters, params) as the document gives them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic reads a TypedDict of typing only on 3.12+

from taskapi.domain import (
    MAX_ID,
    MAX_LIST_LIMIT,
    EventKind,
    ListedTask,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    params_problem,
)

# The params rule moved to the domain (every door applies it); re-exported for the API's messages.
from taskapi.domain import MAX_PARAMS_DEPTH as MAX_PARAMS_DEPTH

T = TypeVar("T")

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
"""A cursor's form, URL-safe base64 without padding (what ``X-Next-Cursor`` gives)."""
CURSOR_FORM = re.compile(CURSOR_PATTERN)


def render_time(moment: datetime) -> str:
    """The spec's rendering: ISO 8601 in UTC to the second, without an offset (``2025-03-12T10:00:00``).

    Three per listed task, so the common case (the stores answer in UTC) skips the conversion, and
    ``isoformat`` is faster than ``strftime`` (and pads years below 1000, which ``%Y`` does not)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")[:19]


ApiTime = Annotated[
    datetime,
    PlainSerializer(render_time, return_type=str, when_used="json"),
    Field(examples=["2025-03-12T10:00:00"], description="ISO 8601, UTC"),
]


class ApiResponse(BaseModel, Generic[T]):
    """The envelope of every answer; ``code`` always equals the HTTP status."""

    code: int = Field(examples=[200])
    message: str = Field(examples=["success"])
    data: T


class ErrorDetail(BaseModel):
    location: str = Field(description="query, path, body or header", examples=["query"])
    field: str = Field(examples=["limit"])
    message: str = Field(examples=["Input should be less than or equal to 1000"])


class ErrorData(BaseModel):
    errors: list[ErrorDetail]


class ErrorResponse(BaseModel):
    """The envelope of a failure: ``data`` lists what was wrong with the input, when that is known."""

    code: int = Field(examples=[400])
    message: str = Field(examples=["Task 42 cannot be cancelled: it is already completed"])
    data: ErrorData | None = None


class TaskSchema(BaseModel):
    """A task in a list: the spec's list fields, exactly."""

    id: int = Field(examples=[42])
    project_id: int = Field(examples=[1])
    task_type: TaskType
    status: TaskStatus
    progress: int = Field(examples=[30])
    total: int = Field(examples=[100])
    created_at: ApiTime

    @staticmethod
    def row(task: ListedTask) -> dict[str, Any]:
        """The JSON object of ``task``, built directly: what ``of(task)`` serialises to, 20x faster
        (a list answers 50 of them per request)."""
        return {
            "id": task.id,
            "project_id": task.project_id,
            "task_type": str(task.task_type),
            "status": str(task.status),
            "progress": task.progress,
            "total": task.total,
            "created_at": render_time(task.created_at),
        }

    @classmethod
    def of(cls, task: ListedTask) -> TaskSchema:
        return cls.model_construct(
            id=task.id,
            project_id=task.project_id,
            task_type=TaskType(task.task_type),
            status=task.status,
            progress=task.progress,
            total=task.total,
            created_at=task.created_at,
        )


class TaskDetailSchema(BaseModel):
    """One task in full: the spec's detail fields, exactly."""

    id: int = Field(examples=[42])
    project_id: int = Field(examples=[1])
    task_type: TaskType
    status: TaskStatus
    progress: int = Field(examples=[100])
    total: int = Field(examples=[100])
    params: dict[str, Any] = Field(examples=[{"query": "machine learning", "sources": ["semantic_scholar"]}])
    result: dict[str, Any] | None = Field(examples=[{"papers_found": 15, "imported": 10}])
    error_message: str = Field(examples=[""])
    created_at: ApiTime
    started_at: ApiTime | None
    completed_at: ApiTime | None

    @classmethod
    def of(cls, task: Task) -> TaskDetailSchema:
        return cls.model_construct(
            id=task.id,
            project_id=task.project_id,
            task_type=TaskType(task.task_type),
            status=task.status,
            progress=task.progress,
            total=task.total,
            params=task.params,
            result=task.result,
            error_message=task.error_message,
            created_at=task.created_at,
            started_at=task.started_at,
            completed_at=task.completed_at,
        )


def _whole(value: object) -> object:
    """JSON has one number type, and JSON Schema counts ``1.0`` as the integer 1: take it as 1.
    Strings, booleans and fractions stay refused (``StrictInt``)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


BodyId = Annotated[StrictInt, Field(ge=1, le=MAX_ID, examples=[1]), BeforeValidator(_whole)]
"""An id in a JSON body (``project_id``): an integer from 1 to 2^63-1, as the document says."""


def _storable(params: dict[str, Any]) -> dict[str, Any]:
    """Params every store keeps and every answer can carry back: the domain's rule (``check_params``
    applies it at every other door), as a validation error naming where it is broken."""
    problem = params_problem(params)
    if problem is not None:
        raise PydanticCustomError(
            problem.kind,
            "{rule}; {where} {found}",
            {"rule": problem.rule, "where": problem.where, "found": problem.found},
        )
    return params


Params = Annotated[dict[str, Any], AfterValidator(_storable)]


class CreateTaskRequest(BaseModel):
    """A new task. Unknown fields are refused, so that a misspelt field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    project_id: BodyId
    task_type: TaskType
    params: Params = Field(default_factory=dict, examples=[{"query": "machine learning"}])


class TaskEventSchema(BaseModel):
    """One row of a task's timeline: what happened, when, on which attempt, and who did it."""

    id: int = Field(examples=[12], description="Position in the log of every task's events")
    task_id: int = Field(examples=[5])
    at: ApiTime
    kind: EventKind
    attempt: int = Field(examples=[1], description="The attempt it concerns (0 before the first claim)")
    actor: str = Field(examples=["worker host:123:ab12cd34"], description="Who did it")
    detail: str = Field(examples=[""], description="The error of a failure, what a cancel stopped, ...")

    @classmethod
    def of(cls, event: TaskEvent) -> TaskEventSchema:
        return cls.model_construct(
            id=event.id,
            task_id=event.task_id,
            at=event.at,
            kind=event.kind,
            attempt=event.attempt,
            actor=event.actor,
            detail=event.detail,
        )


class BatchCreateRequest(BaseModel):
    """Up to 10,000 tasks, each checked as a single create is; one bad item and none is created."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[CreateTaskRequest] = Field(
        min_length=1,
        max_length=10_000,
        examples=[[{"project_id": 1, "task_type": "search", "params": {"query": "graphene"}}]],
    )


class BatchCreatedSchema(BaseModel):
    count: int = Field(examples=[2])
    ids: list[int] = Field(examples=[[43, 44]], description="In the order of the request's tasks")


class BulkCancelRequest(BaseModel):
    """Which tasks to cancel: a project's, optionally only pending or only running, of one type."""

    model_config = ConfigDict(extra="forbid")

    project_id: BodyId
    status: Literal["pending", "running"] | None = Field(
        default=None, examples=["running"], description="Only tasks in this status (default: both)"
    )
    task_type: TaskType | None = Field(default=None, examples=["ocr"], description="Only tasks of this type")


class BulkCancelledSchema(BaseModel):
    cancelled: int = Field(examples=[17], description="How many tasks this request cancelled")


# -- the list's filters: one form for the route's parameters and the fast path's check ----------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: object) -> object:
    """A time filter is ISO 8601 text, as the document says (``date-time``); pydantic alone would also
    take a number as a Unix time."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise PydanticCustomError(
            "datetime_iso",
            "Input should be an ISO 8601 date-time such as 2025-03-12T10:00:00 (UTC unless it has an offset)",
        )
    return value


ProjectFilter = Annotated[int, Field(ge=1, le=MAX_ID)]
PageLimit = Annotated[int, Field(ge=1, le=MAX_LIST_LIMIT)]
TimeFilter = Annotated[datetime, BeforeValidator(_iso_text)]
CursorToken = Annotated[str, WithJsonSchema({"type": "string", "pattern": CURSOR_PATTERN})]
"""Its form is checked with the cursor itself (``encoding.page_after``), for one message for every
cursor this API did not issue."""


class ListFilters(TypedDict, total=False):
    """The list's query parameters as validated values, for the fast path (``taskapi.api.fast``): the
    same forms the route declares, so that both take the same values."""

    project_id: ProjectFilter
    status: TaskStatus
    limit: PageLimit
    task_type: TaskType
    created_after: TimeFilter
    created_before: TimeFilter
    cursor: CursorToken
