"""The change hub: one reader of the store's change log per process, fanned out to every stream client.

However many clients hold ``GET /api/v1/tasks/events``, the database sees one reader: the hub reads
the log (``changes(after, limit)``) and the running tasks' progress, builds each message once, and
offers it to every matching client's bounded queue. It reads when woken (in-process signals; NOTIFY on
PostgreSQL) and otherwise every ``poll_interval`` (so writers in other processes are seen too).

Commit order is not id order on PostgreSQL: an event id can become visible after a larger one. The
service's change feed (``TaskService.changes``) answers only up to such a gap while it may still fill
(it settles within seconds), so a reader that continues from the last id it got skips none; the hub
does exactly that. A client whose queue is full is dropped, never waited for: it reconnects with
``Last-Event-ID`` and resumes from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi.sse import format_sse_event
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from taskapi.api.schemas import render_time
from taskapi.domain import Task

log = logging.getLogger("taskapi.api.hub")

Unsubscribe = Callable[[], None]
WakeSource = Callable[[Callable[[], None]], Unsubscribe]
"""Subscribes a wake-up callback (called from any thread) somewhere; answers how to unsubscribe."""


class ChangeEvent(Protocol):
    """One row of the store's change log (``taskapi.domain.TaskEvent``), as far as the hub needs it."""

    @property
    def id(self) -> int: ...

    @property
    def task_id(self) -> int: ...

    @property
    def kind(self) -> str: ...


class ChangeSource(Protocol):
    """What the hub reads (``TaskService`` provides it)."""

    def changes(self, after_event_id: int, limit: int, /) -> Sequence[ChangeEvent]:
        """Events after ``after_event_id``, by id, never past an id that may still commit."""
        ...

    def get_many(self, task_ids: Sequence[int], /) -> Sequence[Task]: ...

    def running_progress(self) -> Sequence[tuple[int, int, int]]: ...

    def latest_event_id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class HubOptions:
    poll_interval: float = 0.25
    min_interval: float = 0.1  # between passes: at most ten batches a second per client
    progress_interval: float = 0.5
    keepalive: float = 15.0
    backlog: int = 64  # batches (a page of the log, or a round of progress) a client may fall behind
    page: int = 500
    max_replay: int = 10_000
    retry_ms: int = 2_000


@dataclass(frozen=True, slots=True)
class Message:
    """One stream message, built and encoded once, shared by every client it is offered to."""

    data: str
    wire: bytes
    project_id: int
    task_id: int
    event_id: int | None


def snapshot(task: Task, event: str) -> dict[str, Any]:
    """The task as the list endpoint shows it, plus its error and times, plus what happened."""
    return {
        "id": task.id,
        "project_id": task.project_id,
        "task_type": task.task_type,
        "status": task.status.value,
        "progress": task.progress,
        "total": task.total,
        "created_at": render_time(task.created_at),
        "started_at": None if task.started_at is None else render_time(task.started_at),
        "completed_at": None if task.completed_at is None else render_time(task.completed_at),
        "error_message": task.error_message,
        "event": event,
    }


def message(data: dict[str, Any], event_id: int | None) -> Message:
    text = json.dumps(data, separators=(",", ":"))
    wire = format_sse_event(data_str=text, event="task", id=None if event_id is None else str(event_id))
    return Message(text, wire, int(data["project_id"]), int(data["id"]), event_id)


@dataclass(eq=False)
class Subscription:
    """One client: its filters, its bounded queue, and where the hub's log position was when it came."""

    project_id: int | None
    task_id: int | None
    queue: asyncio.Queue[list[Message] | None]
    start_event_id: int
    dropped: bool = False
    closed: bool = False

    def matches(self, item: Message) -> bool:
        return (self.project_id is None or item.project_id == self.project_id) and (
            self.task_id is None or item.task_id == self.task_id
        )

    def offer(self, batch: list[Message]) -> bool:
        """Queue the batch's messages for this client, without waiting; a full queue drops this
        client (it resumes from the log). Answers whether this offer dropped it."""
        if self.dropped or self.closed:
            return False
        mine = (
            batch
            if self.project_id is None and self.task_id is None
            else [m for m in batch if self.matches(m)]
        )
        if not mine:
            return False
        try:
            self.queue.put_nowait(mine)
        except asyncio.QueueFull:
            self.dropped = True
            return True
        return False

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):  # then the reader finds ``closed`` at its next item
            self.queue.put_nowait(None)


class ChangeHub:
    """Reads the change log for the whole process; ``subscribe`` gives each client its queue."""

    def __init__(
        self, source: ChangeSource, options: HubOptions | None = None, wake_sources: Sequence[WakeSource] = ()
    ) -> None:
        self.source = source
        self.options = options or HubOptions()
        self._wake_sources = tuple(wake_sources)
        self._unsubscribes: list[Unsubscribe] = []
        self._subscriptions: set[Subscription] = set()
        self._head: int | None = None  # highest event id read from the log
        self._progress: dict[int, tuple[int, int]] = {}
        self._running: dict[int, Task] = {}
        self._progress_due = 0.0
        self._woken = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._store_down = False
        self._closing = False
        self.passes = 0
        self.dropped = 0

    # -- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the log's head before the app serves (a change made after start-up is news to every
        client), then read in the background."""
        self._loop = asyncio.get_running_loop()
        try:
            self._head = await asyncio.to_thread(self.source.latest_event_id)
        except Exception as exc:  # the store is down: the first pass that reaches it takes the head
            log.warning("live stream: cannot read the change log's head yet: %s", exc)
        # In threads: a PostgreSQL listener waits for its LISTEN to be in place, and its stop joins.
        self._unsubscribes = [
            await asyncio.to_thread(subscribe, self.wake) for subscribe in self._wake_sources
        ]
        self._task = asyncio.create_task(self._run(), name="taskapi-change-hub")

    async def stop(self) -> None:
        """End every stream, stop listening and reading."""
        self.close_streams()
        for unsubscribe in self._unsubscribes:
            await asyncio.to_thread(unsubscribe)
        self._unsubscribes = []
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def close_streams_threadsafe(self) -> None:
        """End every stream from any thread (a signal handler at server shutdown: uvicorn waits for
        open responses before it runs the app's shutdown, so streams must end first)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.close_streams)

    def close_streams(self) -> None:
        self._closing = True
        for subscription in list(self._subscriptions):
            subscription.close()

    def wake(self, *_: object) -> None:
        """Read now rather than at the next poll; safe from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._woken.set)

    # -- clients ------------------------------------------------------------------------------------

    @property
    def clients(self) -> int:
        return len(self._subscriptions)

    @property
    def head(self) -> int | None:
        return self._head

    def subscribe(self, project_id: int | None, task_id: int | None) -> Subscription:
        queue: asyncio.Queue[list[Message] | None] = asyncio.Queue(self.options.backlog)
        subscription = Subscription(project_id, task_id, queue, self._head or 0)
        if self._closing:
            subscription.close()
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    # -- reading ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        last = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.options.poll_interval)
            # Wakes closer than min_interval share a pass: a client's cost is per batch, so this
            # bounds the stream's CPU however fast changes come (at most min_interval of latency).
            await asyncio.sleep(max(0.0, last + self.options.min_interval - time.monotonic()))
            self._woken.clear()
            last = time.monotonic()
            try:
                await self.run_once()
                if self._store_down:
                    log.info("live stream: the store answers again")
                    self._store_down = False
            except Exception as exc:  # an outage must not end the hub; it reads again at the next poll
                if not self._store_down:
                    log.warning("live stream: cannot read changes: %s", exc)
                    self._store_down = True

    async def run_once(self) -> None:
        """One pass: the log's new entries, and progress when it is due."""
        self.passes += 1
        if self._head is None:
            self._head = await asyncio.to_thread(self.source.latest_event_id)
        await self._read_forward()
        if self._subscriptions and time.monotonic() >= self._progress_due:
            self._progress_due = time.monotonic() + self.options.progress_interval
            await self._read_progress()

    async def _read_forward(self) -> None:
        """Every new page of the log, each sent out before the head moves past it (a failed read of
        the tasks leaves the page to the next pass)."""
        assert self._head is not None
        while True:
            page = await asyncio.to_thread(self.source.changes, self._head, self.options.page)
            if page and self._subscriptions:
                self._fan_out(await asyncio.to_thread(build_messages, self.source, page))
            if page:
                self._head = page[-1].id
            if len(page) < self.options.page:
                return

    def _fan_out(self, batch: list[Message]) -> None:
        """Offer one batch to every client: one queue entry each, however many messages it holds."""
        if not batch:
            return
        for subscription in list(self._subscriptions):
            if subscription.offer(batch):
                self.dropped += 1
                log.info("live stream: a client fell %d batches behind and was dropped", self.options.backlog)

    async def _read_progress(self) -> None:
        rows = await asyncio.to_thread(self.source.running_progress)
        current = {task_id: (progress, total) for task_id, progress, total in rows}
        changed = [
            task_id
            for task_id, value in current.items()
            if self._progress.get(task_id, (0, value[1])) != value
        ]
        self._progress = current
        self._running = {i: t for i, t in self._running.items() if i in current}
        unknown = [task_id for task_id in changed if task_id not in self._running]
        for start in range(0, len(unknown), self.options.page):
            chunk = unknown[start : start + self.options.page]
            for found in await asyncio.to_thread(self.source.get_many, chunk):
                self._running[found.id] = found
        batch = []
        for task_id in changed:
            task = self._running.get(task_id)
            if task is not None:
                progress, total = current[task_id]
                data = snapshot(task, "progress") | {
                    "status": "running",
                    "progress": progress,
                    "total": total,
                }
                batch.append(message(data, None))
        self._fan_out(batch)


class HubCollector(Collector):
    """The hub's own figures for ``/metrics``: clients held, clients dropped, passes over the log."""

    def __init__(self, hub: ChangeHub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "taskapi_stream_clients", "Clients holding the live stream", value=self.hub.clients
        )
        yield CounterMetricFamily(
            "taskapi_stream_dropped_clients",
            "Stream clients dropped because their queue was full (they resume from the log)",
            value=self.hub.dropped,
        )
        yield CounterMetricFamily(
            "taskapi_stream_passes",
            "Passes of the change hub over the store's change log",
            value=self.hub.passes,
        )


def build_messages(source: ChangeSource, events: Sequence[ChangeEvent]) -> list[Message]:
    """Messages for log events, in log order, each with the task's current snapshot (one read for all).
    Events of tasks that no longer exist (pruned) are left out."""
    tasks = {task.id: task for task in source.get_many(sorted({e.task_id for e in events}))}
    return [message(snapshot(tasks[e.task_id], e.kind), e.id) for e in events if e.task_id in tasks]


@dataclass
class Replay:
    """The log's events in ``(after, until]`` for a resuming client, a page at a time, at most
    ``limit`` events; ``cut_short`` tells afterwards whether there were more (the client is told)."""

    source: ChangeSource
    after: int
    until: int
    page: int
    limit: int
    cut_short: bool = False

    async def pages(self) -> AsyncIterator[list[Message]]:
        read, after = 0, self.after
        while after < self.until:
            if read >= self.limit:
                self.cut_short = True
                return
            size = min(self.page, self.limit - read)
            page = await asyncio.to_thread(self.source.changes, after, size)
            events = [e for e in page if e.id <= self.until]
            if not events:
                return
            read += len(events)
            after = events[-1].id
            yield await asyncio.to_thread(build_messages, self.source, events)
            if len(page) < size:
                return


def matching(messages: Iterable[Message], subscription: Subscription) -> list[Message]:
    return [m for m in messages if subscription.matches(m)]
