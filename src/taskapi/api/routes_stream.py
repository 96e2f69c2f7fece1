"""The live stream: ``GET /api/v1/tasks/events`` as Server-Sent Events, fed by the process's change hub.

Registered before the task routes, so that ``/tasks/events`` is not taken for ``/tasks/{id}``.

The response is ``fastapi.sse.EventSourceResponse`` over bytes encoded by ``fastapi.sse``, not a
generator of ``ServerSentEvent``: each message is encoded once by the hub for every client, and all
the messages waiting for a client go out together, in writes of up to ``write_size`` bytes. With
hundreds of clients, a write per message per client (and FastAPI's two tasks per stream) would cost
the server most of its CPU.

A client that stops reading must not hold the server's memory or a socket for ever. A client the hub
drops (its queue passed the bound, or a write has waited ``send_timeout`` seconds on it: the socket's
buffers are full) is cut off: its connection is reset, not closed politely, which would keep up to
megabytes of kernel buffer per connection for minutes, waiting for a reader that may never come. It
resumes with ``Last-Event-ID`` from the last event it received. ASGI has no way to cut a connection,
so ``ConnectionCut``, wrapped around the app where the server runs it, hands each request one.
Without it, a dropped client's stream ends after its current write, which waits until it reads or
goes: its memory is bounded (a write), its socket is not.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from taskapi.api.hub import ChangeHub, Message, Replay, StreamsFull, Subscription, matching
from taskapi.api.schemas import ErrorResponse
from taskapi.domain import MAX_ID

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

KEEPALIVE = format_sse_event(comment="keep-alive")


CUT = "taskapi.cut_connection"
"""The scope key under which ``ConnectionCut`` puts the request's way to cut its connection."""


class ConnectionCut:
    """ASGI wrapper of the whole app (outside FastAPI, whose middleware wrap ``send``): gives each HTTP
    request, as ``scope[CUT]``, a function that resets its connection (``SO_LINGER`` 0, then the
    transport's ``abort``: the kernel drops what is unsent at once).

    uvicorn's ``send`` is a method of the request's cycle, whose ``transport`` is the connection's
    (both its HTTP implementations, asyncio's and uvloop's transports); another server gets nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and CUT not in scope:
            transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
            if callable(getattr(transport, "abort", None)):
                scope[CUT] = functools.partial(_reset, transport)
        await self.app(scope, receive, send)


class _Transport(Protocol):
    """What ``_reset`` uses of a transport (uvloop's are not ``asyncio.Transport`` subclasses)."""

    def is_closing(self) -> bool: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...

    def abort(self) -> None: ...


def _reset(transport: _Transport) -> None:
    """Reset the connection: with ``SO_LINGER`` 0 its close drops what is unsent and answers RST, where
    a plain close would keep the unsent bytes, and the socket, until the client reads them."""
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class TaskStream(EventSourceResponse):
    """One client's stream; it leaves the hub however the stream ends (done, hung up, shut down, cut
    off). Its writes are timed for the hub's watch on stalled clients, which cuts the connection: a
    write waiting on the client then ends at once (the server sees the connection lost)."""

    def __init__(self, hub: ChangeHub, subscription: Subscription, body: AsyncIterator[bytes]) -> None:
        super().__init__(body, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.hub = hub
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self.subscription
        subscription.cut = scope.get(CUT)

        async def timed_send(message: AsgiMessage) -> None:
            subscription.writing_since = time.monotonic()
            try:
                await send(message)
            finally:
                subscription.writing_since = None

        try:
            await super().__call__(scope, receive, timed_send)
        except ClientDisconnect:
            pass  # the client hung up: nothing to answer
        finally:
            self.hub.unsubscribe(subscription)


@router.get(
    "/events",
    summary="Live stream of task changes (Server-Sent Events)",
    response_class=Response,  # not EventSourceResponse: FastAPI would take the route for a generator
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "The stream"},
        400: {"model": ErrorResponse, "description": "Invalid filter or Last-Event-ID"},
        401: {"model": ErrorResponse, "description": "Missing or invalid access token"},
        503: {"model": ErrorResponse, "description": "This server holds its most streams; retry later"},
    },
)
async def stream_events(
    request: Request,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this project's tasks")] = None,
    task_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this task")] = None,
    last_event_id: Annotated[
        int | None,
        Header(
            alias="Last-Event-ID", ge=0, le=MAX_ID, description="Resume after this event (sent on reconnect)"
        ),
    ] = None,
) -> TaskStream:
    """Each message is `event: task` with the task's snapshot (the list fields, `error_message`,
    `started_at`, `completed_at`) and `"event"`: what happened (`created`, `claimed`, `completed`,
    `failed`, `cancelled`, ... or `progress`). Messages from the change log carry its `id`;
    reconnecting with `Last-Event-ID` replays what was missed (up to 10,000 changes; past that an
    `event: reset` says to reload). Comments keep the connection alive. A client that falls too far
    behind, or stops reading, is dropped: it reconnects with `Last-Event-ID` and misses nothing. When
    the server already holds its most streams, the answer is 503 with `Retry-After`."""
    hub: ChangeHub = request.app.state.hub
    client = request.client
    try:
        subscription = hub.subscribe(
            project_id, task_id, "" if client is None else f"{client[0]}:{client[1]}"
        )
    except StreamsFull as full:
        raise HTTPException(503, str(full), {"Retry-After": str(hub.options.retry_after)}) from None
    return TaskStream(hub, subscription, _body(hub, subscription, last_event_id))


async def _body(
    hub: ChangeHub, subscription: Subscription, last_event_id: int | None
) -> AsyncIterator[bytes]:
    yield format_sse_event(comment="connected", retry=hub.options.retry_ms)
    replayed: set[int] = set()
    if last_event_id is not None and last_event_id < subscription.start_event_id:
        async for chunk in _resume(hub, subscription, last_event_id, replayed):
            yield chunk
    async for chunk in _live(hub, subscription, replayed, after=last_event_id):
        yield chunk


async def _resume(
    hub: ChangeHub, subscription: Subscription, after: int, replayed: set[int]
) -> AsyncIterator[bytes]:
    """What the client missed, from the log, up to where the hub stood when the client came."""
    options = hub.options
    resume = Replay(hub.source, after, subscription.start_event_id, options.page, options.max_replay)
    async for page in resume.pages():
        items = matching(page, subscription)
        replayed.update(item.event_id for item in items if item.event_id is not None)
        for chunk in _writes(items, options.write_size):
            yield chunk
    if resume.cut_short:
        message = f'{{"message":"more than {options.max_replay} changes were missed; reload the list"}}'
        yield format_sse_event(data_str=message, event="reset", id=str(subscription.start_event_id))


async def _live(
    hub: ChangeHub, subscription: Subscription, replayed: set[int], *, after: int | None
) -> AsyncIterator[bytes]:
    """The hub's messages as they come, all those waiting together; a keep-alive comment when there
    is none for a while. Ends when the hub closes the stream (shutdown) or dropped this client (it
    fell too far behind: it resumes from the log when it reconnects).

    A client resuming at ``after`` has seen every change up to it: the hub may not have read those
    yet when the client came (no replay then), so they are skipped here rather than sent twice."""
    while True:
        messages = await subscription.take(hub.options.keepalive)
        if messages is None:
            return
        if not messages:
            yield KEEPALIVE
            continue
        fresh = [m for m in messages if _unseen(m, replayed, after)] if replayed or after else messages
        for chunk in _writes(fresh, hub.options.write_size):
            yield chunk
            if subscription.ended:
                return


def _unseen(message: Message, replayed: set[int], after: int | None) -> bool:
    event_id = message.event_id
    if event_id is None:
        return True
    return event_id not in replayed and (after is None or event_id > after)


def _writes(messages: Iterable[Message], size: int) -> Iterator[bytes]:
    """The messages' bytes in writes of about ``size`` (whole messages): a write is what a stalled
    connection pins, so it is bounded however many messages wait."""
    parts: list[bytes] = []
    length = 0
    for item in messages:
        parts.append(item.wire)
        length += len(item.wire)
        if length >= size:
            yield b"".join(parts)
            parts, length = [], 0
    if parts:
        yield b"".join(parts)
