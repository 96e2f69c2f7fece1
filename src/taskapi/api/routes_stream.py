"""The live stream: ``GET /api/v1/tasks/events`` as Server-Sent Events, fed by the process's change hub.

Registered before the task routes, so that ``/tasks/events`` is not taken for ``/tasks/{id}``.

The response is ``fastapi.sse.EventSourceResponse`` over bytes encoded by ``fastapi.sse``, not a
generator of ``ServerSentEvent``: each message is encoded once by the hub for every client, and all
the messages waiting for a client go out in one write. With hundreds of clients, a write per message
per client (and FastAPI's two tasks per stream) would cost the server most of its CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from taskapi.api.hub import ChangeHub, Message, Replay, Subscription, matching
from taskapi.api.schemas import ErrorResponse
from taskapi.domain import MAX_ID

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

KEEPALIVE = format_sse_event(comment="keep-alive")


class TaskStream(EventSourceResponse):
    """One client's stream; it leaves the hub however the stream ends (done, hung up, shut down)."""

    def __init__(self, hub: ChangeHub, subscription: Subscription, body: AsyncIterator[bytes]) -> None:
        super().__init__(body, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.hub = hub
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            pass  # the client hung up: nothing to answer
        finally:
            self.hub.unsubscribe(self.subscription)


@router.get(
    "/events",
    summary="Live stream of task changes (Server-Sent Events)",
    response_class=Response,  # not EventSourceResponse: FastAPI would take the route for a generator
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "The stream"},
        400: {"model": ErrorResponse, "description": "Invalid filter or Last-Event-ID"},
        401: {"model": ErrorResponse, "description": "Missing or invalid access token"},
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
    `event: reset` says to reload). Comments keep the connection alive."""
    hub: ChangeHub = request.app.state.hub
    subscription = hub.subscribe(project_id, task_id)
    return TaskStream(hub, subscription, _body(hub, subscription, last_event_id))


async def _body(
    hub: ChangeHub, subscription: Subscription, last_event_id: int | None
) -> AsyncIterator[bytes]:
    yield format_sse_event(comment="connected", retry=hub.options.retry_ms)
    replayed: set[int] = set()
    if last_event_id is not None and last_event_id < subscription.start_event_id:
        async for chunk in _resume(hub, subscription, last_event_id, replayed):
            yield chunk
    async for chunk in _live(hub, subscription, replayed):
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
        if items:
            yield b"".join(item.wire for item in items)
    if resume.cut_short:
        message = f'{{"message":"more than {options.max_replay} changes were missed; reload the list"}}'
        yield format_sse_event(data_str=message, event="reset", id=str(subscription.start_event_id))


async def _live(hub: ChangeHub, subscription: Subscription, replayed: set[int]) -> AsyncIterator[bytes]:
    """The hub's messages as they come, all those waiting in one write; a keep-alive comment when
    there is none for a while. Ends when the hub closes the stream (shutdown) or dropped this client
    (it fell too far behind: it resumes from the log when it reconnects)."""
    while True:
        try:
            first = await asyncio.wait_for(subscription.queue.get(), hub.options.keepalive)
        except TimeoutError:
            yield KEEPALIVE
            continue
        batches = [first, *_waiting(subscription)]
        if None in batches or subscription.closed or subscription.dropped:
            return
        chunk = b"".join(
            m.wire for batch in batches if batch is not None for m in batch if m.event_id not in replayed
        )
        if chunk:
            yield chunk


def _waiting(subscription: Subscription) -> list[list[Message] | None]:
    batches: list[list[Message] | None] = []
    with contextlib.suppress(asyncio.QueueEmpty):
        while True:
            batches.append(subscription.queue.get_nowait())
    return batches
