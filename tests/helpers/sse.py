"""A Server-Sent Events client for tests: reads a stream on a thread, parses it, and lets the test wait
for what it expects (with a deadline) instead of sleeping."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseStream:
    """``GET url`` as an event stream; ``events`` and ``comments`` fill as they arrive."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int | None = None
    content_type: str = ""
    events: list[SseEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    ended: bool = False
    error: BaseException | None = None
    _arrivals: queue.Queue[None] = field(default_factory=queue.Queue)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _response: httpx.Response | None = None

    def start(self) -> SseStream:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client,
                client.stream("GET", self.url, headers=dict(self.headers)) as response,
            ):
                self._response = response
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self._arrivals.put(None)
                self._parse(response)
        except Exception as exc:  # the test sees it through ``error``
            if not self._stop.is_set():
                self.error = exc
        finally:
            self.ended = True
            self._arrivals.put(None)

    def _parse(self, response: httpx.Response) -> None:
        fields: dict[str, list[str]] = {}
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line == "":
                if "data" in fields or "event" in fields:
                    data = "\n".join(fields.get("data", []))
                    event_id = fields["id"][-1] if "id" in fields else None
                    self.events.append(SseEvent(fields.get("event", ["message"])[-1], data, event_id))
                    self._arrivals.put(None)
                fields = {}
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
                self._arrivals.put(None)
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "retry":
                    self.retry = int(value)
                else:
                    fields.setdefault(name, []).append(value)

    def wait(self, condition: Callable[[SseStream], bool], *, timeout: float = 10.0, what: str = "") -> None:
        """Block until ``condition(self)`` holds; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(
                    f"timed out after {timeout} s waiting for {what or 'the stream'}: {self.summary()}"
                )
            with contextlib.suppress(queue.Empty):
                self._arrivals.get(timeout=min(left, 0.5))

    def task_events(self) -> list[dict[str, Any]]:
        return [e.json() for e in self.events if e.event == "task"]

    def summary(self) -> str:
        tail = [(e.event, e.id, e.data[:120]) for e in self.events[-5:]]
        state = f"status={self.status} ended={self.ended} error={self.error!r}"
        return f"{state} events={len(self.events)} last={tail}"

    def close(self) -> None:
        """Hang up, as a browser tab closing would."""
        self._stop.set()
        if self._response is not None:
            self._response.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def open_stream(
    base_url: str, path: str = "/api/v1/tasks/events", headers: Mapping[str, str] | None = None
) -> SseStream:
    """A stream that has answered (status known) before this returns."""
    stream = SseStream(f"{base_url}{path}", dict(headers or {})).start()
    stream.wait(lambda s: s.status is not None or s.ended, what="the stream to answer")
    return stream
