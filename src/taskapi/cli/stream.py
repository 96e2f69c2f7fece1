"""The live stream for the CLI's live views against a server: ``StreamFeed`` reads
``AsyncTaskClient.watch()`` (which reconnects with ``Last-Event-ID`` by itself) on a thread of its own
and hands the commands, on their thread, each change in order.

On its own thread because the views must also act when nothing arrives (``list --watch`` redraws at
most once per interval, after a burst of changes); with ``asyncio`` there, because a stream waiting
for its next message can then be cancelled at once when the view ends.

``Connected`` comes first on each connection: when it does not resume (``resumed`` false), the view
reads the tasks' state then, and every change after that reading is still to come on the stream.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from taskapi.cli.watch import Reading, Source
from taskapi.client import AsyncTaskClient, ChangesMissed, TaskChange

POLL = 0.5
"""Longest wait on the queue at once: Ctrl-C is noticed between two waits."""


@dataclass(frozen=True, slots=True)
class Connected:
    """A connection of the stream is open; ``resumed``: it goes on after the last change received."""

    resumed: bool


Item = Connected | TaskChange


class StreamFeed:
    """The changes of a project's tasks, of one task, or of all tasks, as they come; ``get`` answers
    the next, raises what ended the stream (a refused token, an unreachable server...), or answers
    ``None`` once ``timeout`` passed. ``close()`` ends it."""

    def __init__(
        self, server: str, token: str | None, *, project_id: int | None, task_id: int | None
    ) -> None:
        self._items: queue.Queue[Item | BaseException] = queue.Queue()
        self._server, self._token = server, token
        self._project_id, self._task_id = project_id, task_id
        self._loop = asyncio.new_event_loop()
        self._reading = self._loop.create_task(self._read())
        self._thread = threading.Thread(target=self._run, name="taskapi-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._reading)
        except asyncio.CancelledError:
            pass  # closed
        finally:
            self._loop.close()

    async def _read(self) -> None:
        async with AsyncTaskClient(self._server, token=self._token) as client:
            while True:
                try:
                    async for change in client.watch(
                        project_id=self._project_id,
                        task_id=self._task_id,
                        on_connect=lambda resumed: self._items.put(Connected(resumed)),
                    ):
                        self._items.put(change)
                    return
                except ChangesMissed:
                    continue  # more was missed than the server replays: start afresh (a new reading)
                except Exception as exc:  # handed to the reader, who maps it to its exit code
                    self._items.put(exc)
                    return

    def get(self, timeout: float) -> Item | None:
        try:
            item = self._items.get(timeout=min(timeout, POLL))
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._reading.cancel)
            self._thread.join(5)


def beats(feed: StreamFeed, interval: float) -> Iterator[None]:
    """A beat when something changed (the first once the stream is connected), at most one every
    ``interval`` seconds: a burst of changes costs one reading."""
    last: float | None = None
    changed = False
    while True:
        now = time.monotonic()
        due = now if last is None else last + interval
        if changed and now >= due:
            last, changed = now, False
            yield
            continue
        item = feed.get(due - now if changed else POLL)
        changed = changed or item is not None


def streamed(source: Source, open_feed: Callable[[], StreamFeed]) -> Generator[list[Reading]]:
    """What ``source`` reads first (a task already ended needs no stream), then, from the stream, a
    fresh reading on each connection that does not resume and each change in order. The stream is
    opened after the first reading and closed when the generator is."""
    yield source.poll()
    feed = open_feed()
    try:
        while True:
            item = feed.get(POLL)
            if isinstance(item, Connected):
                if not item.resumed:
                    yield source.poll()
            elif item is not None:
                yield source.absorb(item)
    finally:
        feed.close()
