"""The change hub: one reader of the store's change log per process, fanned out to every stream client.

However many clients hold ``GET /api/v1/tasks/events``, the database sees one reader: the hub reads
the log (``changes(after, limit)``) and the running tasks' progress, builds each message once, and
offers it to every matching client's bounded queue. It reads when woken (in-process signals; NOTIFY on
PostgreSQL) and otherwise every ``poll_interval`` (so writers in other processes are seen too).

Hostile or broken clients are bounded: at most ``max_clients`` streams per process (the next is
refused with a 503: the rest of the API keeps its sockets and CPU); a client whose queue would pass
``backlog`` batches or ``client_buffer`` bytes, or whose write has waited ``send_timeout`` seconds,
is dropped and its connection cut (``routes_stream``). Messages are shared between clients.

Commit order is not id order on PostgreSQL: an event id can become visible after a larger one. The
service's change feed (``TaskService.changes``) answers only up to such a gap while it may still fill
(it settles within seconds), so a reader that continues from the last id it got skips none; the hub
does exactly that. A client whose queue is full is dropped, never waited for: it reconnects with
``Last-Event-ID`` and resumes from the log, missing nothing.
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
    max_clients: int = 1_000  # streams held at once by this process; the next is answered 503
    client_buffer: int = 4 << 20  # bytes queued for one client before it is dropped
    send_timeout: float = 30.0  # seconds a write may wait for the client to read; then it is cut off
    write_size: int = 64 << 10  # bytes per write at most: what a stalled connection holds on to
    retry_after: int = 5  # seconds, in the Retry-After of a refused stream


class StreamsFull(Exception):
    """The process holds ``max_clients`` streams: a new one is refused (503), not queued."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The live stream is at its limit of {limit} clients on this server; retry later "
            "(the task list answers meanwhile)"
        )


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


Queued = tuple[list[Message], int] | None
"""A client's queue entry: a batch of messages and its size on the wire, or ``None``: the stream ends."""


@dataclass(eq=False)
class Subscription:
    """One client: its filters, its bounded queue, and where the hub's log position was when it came.

    The queue is bounded twice: ``backlog`` entries (its ``maxsize``) and ``max_bytes`` on the wire
    (``queued_bytes``); an empty queue takes any one batch, so a page bigger than the byte bound still
    reaches a client that keeps up."""

    project_id: int | None
    task_id: int | None
    queue: asyncio.Queue[Queued]
    start_event_id: int
    max_bytes: int = 4 << 20
    client: str = ""  # the peer's address, for the log
    queued_bytes: int = 0
    dropped: bool = False
    reason: str = ""  # why it was dropped: ``behind`` (its queue was full), ``stalled`` (a write timed out)
    closed: bool = False
    cut: Callable[[], None] | None = None  # cuts its connection (set by its stream when it can)
    writing_since: float | None = None  # when its stream's current write began (``time.monotonic``)

    @property
    def ended(self) -> bool:
        return self.dropped or self.closed

    def matches(self, item: Message) -> bool:
        return (self.project_id is None or item.project_id == self.project_id) and (
            self.task_id is None or item.task_id == self.task_id
        )

    def offer(self, batch: list[Message], size: int) -> bool:
        """Queue the batch's messages for this client (``size``: the batch's bytes), without waiting;
        a full queue drops this client (it resumes from the log). Answers whether this offer dropped it."""
        if self.ended:
            return False
        if self.project_id is None and self.task_id is None:
            mine = batch
        else:
            mine = [m for m in batch if self.matches(m)]
            size = sum(len(m.wire) for m in mine)
        if not mine:
            return False
        if self.queue.full() or (self.queued_bytes and self.queued_bytes + size > self.max_bytes):
            self.end("behind")
            return True
        self.queue.put_nowait((mine, size))
        self.queued_bytes += size
        return False

    async def take(self, timeout: float) -> list[Message] | None:
        """Every message waiting for this client, in order, as soon as there is one; ``[]`` after
        ``timeout`` seconds without; ``None`` once the stream is over (shut down, or dropped)."""
        try:
            async with asyncio.timeout(timeout):
                first = await self.queue.get()
        except TimeoutError:
            return None if self.ended else []
        return self.take_nowait(first)

    def take_nowait(self, *taken: Queued) -> list[Message] | None:
        """Every message waiting for this client now (after ``taken``, taken already), maybe none;
        ``None`` once the stream is over."""
        entries = list(taken)
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                entries.append(self.queue.get_nowait())
        if self.ended:
            return None
        messages: list[Message] = []
        for entry in entries:
            if entry is None:
                return None
            messages += entry[0]
            self.queued_bytes -= entry[1]
        return messages

    def end(self, reason: str) -> None:
        """Drop this client: what it had queued is let go at once, its reader finds the end, and its
        connection is cut (its writer is most likely waiting on it: what is on its way is lost, and
        the client resumes from the last event it got)."""
        self.dropped, self.reason = True, reason
        self._finish()
        if self.cut is not None:
            self.cut()

    def close(self) -> None:
        self.closed = True
        self._finish()

    def _finish(self) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                self.queue.get_nowait()
        self.queued_bytes = 0
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
        self.dropped = {"behind": 0, "stalled": 0}  # clients dropped, by reason
        self.refused = 0  # streams refused at max_clients

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

    @property
    def queued_bytes(self) -> int:
        """Bytes queued for all clients (an upper bound: clients share the messages themselves)."""
        return sum(subscription.queued_bytes for subscription in self._subscriptions)

    def subscribe(self, project_id: int | None, task_id: int | None, client: str = "") -> Subscription:
        """A new client's queue; ``StreamsFull`` when ``max_clients`` streams are already held."""
        if not self._closing and len(self._subscriptions) >= self.options.max_clients:
            self.refused += 1
            raise StreamsFull(self.options.max_clients)
        queue: asyncio.Queue[Queued] = asyncio.Queue(self.options.backlog)
        subscription = Subscription(
            project_id, task_id, queue, self._head or 0, self.options.client_buffer, client
        )
        if self._closing:
            subscription.close()
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def drop(self, subscription: Subscription, reason: str) -> None:
        """End a client's stream for ``reason`` (unless it already ended): counted and logged, once."""
        if subscription.ended:
            return
        subscription.end(reason)
        self._dropped(subscription)

    def _dropped(self, subscription: Subscription) -> None:
        self.dropped[subscription.reason] = self.dropped.get(subscription.reason, 0) + 1
        o = self.options
        why = (
            f"read nothing for {o.send_timeout} s: dropped, its connection cut"
            if subscription.reason == "stalled"
            else f"fell behind ({o.backlog} batches or {o.client_buffer} bytes queued): dropped, cut"
        )
        log.warning("live stream: %s %s; it resumes from the log", subscription.client or "a client", why)

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
        """One pass: clients whose write has waited too long are cut off; then the log's new entries,
        and progress when it is due."""
        self.passes += 1
        self._drop_stalled()
        if self._head is None:
            self._head = await asyncio.to_thread(self.source.latest_event_id)
        await self._read_forward()
        if self._subscriptions and time.monotonic() >= self._progress_due:
            self._progress_due = time.monotonic() + self.options.progress_interval
            await self._read_progress()

    def _drop_stalled(self) -> None:
        """Drop the clients whose current write began over ``send_timeout`` seconds ago. A watch at
        each pass rather than a timer on every write: writes are many, passes a few a second."""
        oldest = time.monotonic() - self.options.send_timeout
        for subscription in list(self._subscriptions):
            since = subscription.writing_since
            if since is not None and since < oldest:
                self.drop(subscription, "stalled")

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
        size = sum(len(m.wire) for m in batch)
        for subscription in list(self._subscriptions):
            if subscription.offer(batch, size):
                self._dropped(subscription)

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
    """The hub's own figures for ``/metrics``: clients held, dropped and refused, bytes queued for
    them, passes over the log."""

    def __init__(self, hub: ChangeHub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        yield GaugeMetricFamily(
            "taskapi_stream_clients", "Clients holding the live stream", value=hub.clients
        )
        dropped = CounterMetricFamily(
            "taskapi_stream_dropped_clients",
            "Stream clients dropped and cut off (they resume from the log): behind, their queue was "
            "full; stalled, a write waited too long for them to read",
            labels=["reason"],
        )
        for reason, count in hub.dropped.items():
            dropped.add_metric([reason], count)
        yield dropped
        yield CounterMetricFamily(
            "taskapi_stream_refused", "Streams refused (503): the process held its most", value=hub.refused
        )
        yield GaugeMetricFamily(
            "taskapi_stream_queued_bytes", "Bytes queued for stream clients", value=hub.queued_bytes
        )
        yield CounterMetricFamily(
            "taskapi_stream_passes", "Passes of the change hub over the store's change log", value=hub.passes
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
