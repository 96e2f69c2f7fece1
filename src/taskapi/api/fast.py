"""The hot routes without the framework: list, detail, create and cancel of tasks, answered by a thin
ASGI layer in front of FastAPI's routing, with the same bytes FastAPI's routes would answer.

Every request pays FastAPI's routing, dependency solving and response validation; on these four
routes that is most of a request's CPU. ``HotRoutes`` sits inside the access control and the body
limit (so those hold as for any route) and answers the well-formed requests of these routes itself:
the same validation (the routes' own pydantic forms), the same service calls, the same encoders
(``taskapi.api.encoding``) and the same error handlers (``taskapi.api.errors``).

Writes (create, cancel) run on a worker thread, as in the routes: they may wait for the store's
write lock (on SQLite ``create_app`` gives them one thread: the store has one writer, and writes
queued here cost less than writes waiting in SQLite's busy loop). Creates that arrive together are
committed together, one group at a time (``taskapi.api.grouping``).

Reads (list, detail) run on a worker thread too, except on SQLite (``reads_inline``): there a read
never waits for a writer (WAL) and is this process's own CPU, most of it Python code turning rows
into records, which holds the interpreter's lock on a thread as well; a thread would free the loop
for little of that time and add two thread switches per request (about a fifth of a list's cost).

Whatever it is not sure of goes on to FastAPI, untouched: other routes and methods, a path or query
that is not in its plain form, a body that does not parse or validate (the bytes already read are
handed on), so that every refusal is FastAPI's own answer. Errors of the service (not found, not
cancellable, invalid params, store unavailable) are answered by the handlers FastAPI would use; an
unexpected one propagates to the server error handler, as it does from a route.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from functools import partial
from typing import Any, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import URL, QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskapi.api.encoding import (
    CANCELLED,
    JSON_TYPE,
    detail_body,
    list_body,
    next_page_headers,
    page_after,
)
from taskapi.api.errors import domain_handler
from taskapi.api.grouping import CreateGroups
from taskapi.api.schemas import CreateTaskRequest, ListFilters
from taskapi.domain import DEFAULT_LIST_LIMIT, IDEMPOTENCY_HEADER, MAX_ID, InvalidInput
from taskapi.service import TaskService

__all__ = ["THREADS", "HotRoutes"]

R = TypeVar("R")

TASKS = "/api/v1/tasks"
THREADS = 40
"""Worker threads for the service calls over PostgreSQL (``create_app`` makes the pool): as many as
FastAPI's own thread pool has (anyio's default)."""

_ID_PATH = re.compile(r"/api/v1/tasks/([1-9][0-9]{0,18})(/cancel)?")
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
"""orjson reads an integer beyond 64 bits as a float where FastAPI's parser keeps it exact (and the
params check refuses it): a body with so long a run of digits goes to FastAPI."""
_FILTERS = TypeAdapter(ListFilters)
_FILTER_NAMES = tuple(ListFilters.__annotations__)
_JSON_TYPES = (JSON_TYPE.encode(), f"{JSON_TYPE}; charset=utf-8".encode())
_JSON_HEADER = (b"content-type", JSON_TYPE.encode())
_KEY_HEADER = IDEMPOTENCY_HEADER.lower().encode()


class HotRoutes:
    """ASGI middleware: the four hot task routes answered here, everything else by ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        service: TaskService,
        threads: Executor,
        reads_inline: bool,
    ) -> None:
        self.app = app
        self.service = service
        self.threads = threads
        self.reads_inline = reads_inline
        self.creates = CreateGroups(service, threads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handler(scope) if scope["type"] == "http" and not scope.get("root_path") else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        try:
            await handler(scope, receive, send)
        except Exception as exc:
            answer = domain_handler(exc)
            if answer is None:
                raise
            response = await answer(Request(scope), exc)
            await response(scope, receive, send)

    def _handler(self, scope: Scope) -> Callable[[Scope, Receive, Send], Awaitable[None]] | None:
        """Which of the four routes this request is, in its plain form; ``None`` for anything else."""
        path: str = scope["path"]
        method: str = scope["method"]
        if path == TASKS:
            return self._list if method == "GET" else self._create if method == "POST" else None
        found = _ID_PATH.fullmatch(path) if path.startswith(TASKS) else None
        if found is None or int(found[1]) > MAX_ID:
            return None
        task_id = int(found[1])
        if found[2] is None:
            return partial(self._detail, task_id) if method == "GET" else None
        return partial(self._cancel, task_id) if method == "POST" else None

    async def _call(self, function: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        """``function`` on a worker thread: a write may wait for the store's lock, a PostgreSQL call
        for the network."""
        return await asyncio.get_running_loop().run_in_executor(
            self.threads, partial(function, *args, **kwargs)
        )

    async def _read(self, function: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        """A read: here on SQLite (see the module), else on a worker thread."""
        if self.reads_inline:
            return function(*args, **kwargs)
        return await self._call(function, *args, **kwargs)

    async def _list(self, scope: Scope, receive: Receive, send: Send) -> None:
        filters = _filters(scope["query_string"])
        try:
            after = page_after(filters.get("cursor")) if filters is not None else None
        except InvalidInput:
            filters = None
        if filters is None:  # not valid as given: FastAPI answers the 400
            await self.app(scope, receive, send)
            return
        limit = filters.get("limit", DEFAULT_LIST_LIMIT)
        page = await self._read(
            self.service.list,
            project_id=filters.get("project_id"),
            status=filters.get("status"),
            task_type=filters.get("task_type"),
            created_after=filters.get("created_after"),
            created_before=filters.get("created_before"),
            after=after,
            limit=limit,
        )
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in next_page_headers(page, limit, URL(scope=scope)).items()
        ]
        await _answer(send, 200, list_body(page), headers)

    async def _detail(self, task_id: int, scope: Scope, receive: Receive, send: Send) -> None:
        task = await self._read(self.service.get, task_id)
        await _answer(send, 200, detail_body(200, "success", task))

    async def _create(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A create with an idempotency key is rare (a retrying client): the route answers it.
        if _header(scope, b"content-type") not in _JSON_TYPES or _header(scope, _KEY_HEADER) is not None:
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:  # the client left, or the body limit refused it (and answered)
            return
        request = _create_request(body)
        if request is None:  # FastAPI reads it again and answers (its 400, or its 201)
            await self.app(scope, _replaying(body, receive), send)
            return
        task = await self.creates.create(request.project_id, request.task_type, request.params, _actor(scope))
        await _answer(send, 201, detail_body(201, "Task created", task))

    async def _cancel(self, task_id: int, scope: Scope, receive: Receive, send: Send) -> None:
        await self._call(self.service.cancel, task_id, actor=_actor(scope))
        await _answer(send, 200, CANCELLED)


def _filters(query: bytes) -> ListFilters | None:
    """The list's parameters as the route takes them (the last of each name, as Starlette's query
    parameters give it), validated by the same forms; ``None`` when some value is not valid."""
    if not query:
        return {}
    params = QueryParams(query)
    given = {name: params[name] for name in _FILTER_NAMES if name in params}
    try:
        return _FILTERS.validate_python(given)
    except ValidationError:
        return None


def _create_request(body: bytes) -> CreateTaskRequest | None:
    """The body as the create route takes it, or ``None`` when it does not parse or validate (or has a
    number orjson would not read as FastAPI's parser does)."""
    if _LONG_DIGITS.search(body):
        return None
    try:
        return CreateTaskRequest.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _actor(scope: Scope) -> str:
    """Who is asking, as ``routes_tasks.actor_of`` says it: the access control's name, else "api"."""
    actor = scope.get("state", {}).get("actor")
    return actor if isinstance(actor, str) and actor else "api"


async def _body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` if the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` (already read) first, then whatever the client sends."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Status, headers and body as a Starlette ``Response`` sends them (its header order included)."""
    raw = [*(headers or []), (b"content-length", str(len(body)).encode("latin-1")), _JSON_HEADER]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
