"""Every failure answers in the envelope: validation (400), domain errors, HTTP errors and crashes.

No response leaves with FastAPI's bare ``{"detail": ...}``, and no traceback reaches a client: an
unexpected error is logged here and answered with a generic 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from taskapi.api.schemas import MAX_PARAMS_DEPTH, ErrorData, ErrorDetail, ErrorResponse
from taskapi.domain import (
    IDEMPOTENCY_HEADER,
    IdempotencyConflict,
    InvalidInput,
    StoreFull,
    StoreUnavailable,
    TaskNotCancellable,
    TaskNotFound,
)

Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

log = logging.getLogger("taskapi.api")

_BODY_FIELDS = frozenset({"project_id", "task_type", "params", "tasks", "status", "papers"})
_TASK_FIELDS = "project_id, task_type, params"
_ALLOWED_FIELDS = {  # the fields of each body, by the path's last segment (a batch item is a task)
    "batch": "tasks",
    "cancel": "project_id, status, task_type",
    "papers": "project_id, papers",
}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_LOCATIONS = {"query": "query parameter", "path": "path parameter", "body": "body", "header": "header"}
_ECHO_CHARS = 60
"""How much of a refused value a message repeats (a 5,000-digit id is not worth repeating whole)."""


def error_response(
    status: int, message: str, errors: list[ErrorDetail] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorResponse(code=status, message=message, data=ErrorData(errors=errors) if errors else None)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _allowed_fields(path: str, loc: Sequence[Any]) -> str:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if last == "batch" and len(loc) > 3:  # ("body", "tasks", 3, "field"): an item of the batch
        return _TASK_FIELDS
    return _ALLOWED_FIELDS.get(last, _TASK_FIELDS)


def _detail_of(error: dict[str, Any], path: str = "") -> ErrorDetail:
    loc: Sequence[Any] = error.get("loc", ())
    location = str(loc[0]) if loc else "body"
    field = ".".join(str(part) for part in loc[1:]) or location
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "json_invalid":
        field, message = "body", "the body is not valid JSON"
    elif error.get("type") == "model_attributes_type":
        message = "the body must be a JSON object"
    elif error.get("type") == "extra_forbidden":
        message = f"unknown field (allowed: {_allowed_fields(path, loc)})"
    elif "input" in error and location != "body":
        message = f"{message} (got {_echo(error['input'])})"
    return ErrorDetail(location=location, field=field, message=message)


def _echo(value: object) -> str:
    if isinstance(value, str) and len(value) > _ECHO_CHARS:
        return f"{value[:_ECHO_CHARS]!r}... ({len(value)} characters)"
    return repr(value)


def _describe(detail: ErrorDetail) -> str:
    if detail.field == detail.location:
        return f"{detail.location}: {detail.message}"
    return f"{_LOCATIONS.get(detail.location, detail.location)} {detail.field}: {detail.message}"


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [_detail_of(dict(error), request.url.path) for error in exc.errors()]
    summary = "; ".join(_describe(d) for d in details)
    return error_response(400, f"Invalid request: {summary}", details)


async def on_invalid_input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    in_body = request.method == "POST" and exc.field.split(".", 1)[0] in _BODY_FIELDS
    location = "header" if exc.field == IDEMPOTENCY_HEADER else "body" if in_body else "query"
    detail = ErrorDetail(location=location, field=exc.field, message=exc.detail)
    return error_response(400, f"Invalid request: {exc}", [detail])


async def on_idempotency_conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IdempotencyConflict)
    detail = ErrorDetail(location="header", field=exc.field, message=exc.detail)
    return error_response(409, f"Conflict: {exc}", [detail])


async def on_not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_response(404, str(exc))


async def on_not_cancellable(request: Request, exc: Exception) -> JSONResponse:
    return error_response(400, str(exc))


async def on_store_full(request: Request, exc: Exception) -> JSONResponse:
    log.error("store full: %s", exc)
    message = (
        "The task store is full (its disk has no space left): nothing was written; retry once space is freed"
    )
    return error_response(507, message, headers={"Retry-After": "60"})


async def on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable: %s", exc)
    return error_response(503, "The task store is unavailable; retry shortly", headers={"Retry-After": "1"})


_UNPARSED = {  # why FastAPI could not read a body (its 400 names only that it could not)
    UnicodeDecodeError: "not valid UTF-8",
    RecursionError: f"nested too deeply to read (params may nest {MAX_PARAMS_DEPTH} levels)",
}


def _unparsed_body(exc: StarletteHTTPException) -> str | None:
    """What was wrong with a body FastAPI failed to parse, when the cause says."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    return next((why for kind, why in _UNPARSED.items() if isinstance(cause, kind)), None)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if (why := _unparsed_body(exc)) is not None:
        detail = ErrorDetail(location="body", field="body", message=why)
        return error_response(400, f"Invalid request: body: {why}", [detail])
    if status == 404:
        message = f"Not found: {request.url.path}"
    elif status == 405:
        allowed = ", ".join(_allowed_methods(request))
        message = f"Method {request.method} is not allowed on {request.url.path} (allowed: {allowed})"
        return error_response(status, message, headers={"Allow": allowed})
    elif isinstance(exc.detail, str) and exc.detail:
        message = exc.detail
    else:
        message = HTTPStatus(status).phrase
    return error_response(status, message, headers=dict(exc.headers or {}))


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (Starlette names only the first route's)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal server error")


DOMAIN_HANDLERS: dict[type[Exception], Handler] = {
    IdempotencyConflict: on_idempotency_conflict,
    InvalidInput: on_invalid_input,
    TaskNotFound: on_not_found,
    TaskNotCancellable: on_not_cancellable,
    StoreFull: on_store_full,
    StoreUnavailable: on_store_unavailable,
}
"""The answers to the service's errors, for the routes and for the fast path (``taskapi.api.fast``)."""


def domain_handler(exc: Exception) -> Handler | None:
    """The handler of ``exc`` by its class or its nearest base, as Starlette picks one; else ``None``."""
    return next((DOMAIN_HANDLERS[kind] for kind in type(exc).__mro__ if kind in DOMAIN_HANDLERS), None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    for kind, handler in DOMAIN_HANDLERS.items():
        app.add_exception_handler(kind, handler)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
