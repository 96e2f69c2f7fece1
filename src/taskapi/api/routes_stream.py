"""The live stream: ``GET /api/v1/tasks/events`` as Server-Sent Events, fed by the process's change hub.

Registered before the task routes, so that ``/tasks/events`` is not taken for ``/tasks/{id}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from taskapi.api.hub import ChangeHub, Replay, Subscription, matching
from taskapi.api.schemas import ErrorResponse
from taskapi.domain import MAX_ID

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


@router.get(
    "/events",
    summary="Live stream of task changes (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses={
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
) -> AsyncIterator[ServerSentEvent]:
    """Each message is `event: task` with the task's snapshot (the list fields, `error_message`,
    `started_at`, `completed_at`) and `"event"`: what happened (`created`, `claimed`, `completed`,
    `failed`, `cancelled`, ... or `progress`). Messages from the change log carry its `id`;
    reconnecting with `Last-Event-ID` replays what was missed (up to 10,000 changes; past that an
    `event: reset` says to reload). Comments keep the connection alive."""
    hub: ChangeHub = request.app.state.hub
    subscription = hub.subscribe(project_id, task_id)
    try:
        yield ServerSentEvent(comment="connected", retry=hub.options.retry_ms)
        replayed: set[int | None] = set()
        if last_event_id is not None and last_event_id < subscription.start_event_id:
            async for event in _resume(hub, subscription, last_event_id, replayed):
                yield event
        async for event in _live(hub, subscription, replayed):
            yield event
    finally:
        hub.unsubscribe(subscription)


async def _resume(
    hub: ChangeHub, subscription: Subscription, after: int, replayed: set[int | None]
) -> AsyncIterator[ServerSentEvent]:
    """What the client missed, from the log, up to where the hub stood when the client came."""
    options = hub.options
    resume = Replay(hub.source, after, subscription.start_event_id, options.page, options.max_replay)
    async for page in resume.pages():
        for item in matching(page, subscription):
            replayed.add(item.event_id)
            yield item.sse
    if resume.cut_short:
        message = f"more than {options.max_replay} changes were missed; reload the list"
        yield ServerSentEvent(event="reset", data={"message": message}, id=str(subscription.start_event_id))


async def _live(
    hub: ChangeHub, subscription: Subscription, replayed: set[int | None]
) -> AsyncIterator[ServerSentEvent]:
    """The hub's messages as they come, a keep-alive comment when there is none for a while. Ends
    when the hub closes the stream (shutdown) or dropped this client (it fell too far behind)."""
    while True:
        try:
            item = await asyncio.wait_for(subscription.queue.get(), hub.options.keepalive)
        except TimeoutError:
            yield ServerSentEvent(comment="keep-alive")
            continue
        if item is None or subscription.closed or subscription.dropped:
            return
        if item.event_id is not None and item.event_id in replayed:
            continue
        yield item.sse
