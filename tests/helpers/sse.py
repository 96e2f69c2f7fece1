"""Server-Sent Events clients for tests: one that reads a stream on a thread, parses it, and lets the
test wait for what it expects (with a deadline) instead of sleeping; one that stops reading (a raw
socket with a tiny receive buffer), as a frozen tab or a hostile client would.

Both are real TCP connections to a real server; ``metric`` reads one figure of its ``/metrics``.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families


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


# -- a client that stops reading ---------------------------------------------------------------------

TCP_ESTABLISHED = 1
COMPLETE_TASK_EVENT = re.compile(rb"event: task\ndata: [^\n]*\nid: (\d+)\n\n")


class StalledClient:
    """``GET path`` on a raw socket whose receive buffer is tiny (``SO_RCVBUF`` before connecting): it
    reads the response up to the stream's first comment, then reads nothing more, so the server's
    writes soon wait on it. ``cut()`` says whether the server has ended the connection, seen from this
    side without reading (the kernel's TCP state); ``read_to_end()`` then takes what did arrive."""

    def __init__(self, base_url: str, path: str = "/api/v1/tasks/events", receive_buffer: int = 1024) -> None:
        url = urlsplit(base_url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        self.local_port: int = self.sock.getsockname()[1]
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        self.received = self._read_until(b": connected")
        self.status = int(self.received.split(b" ", 2)[1])

    def _read_until(self, marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError(f"the server closed before {marker!r}: {data!r}")
            data += chunk
        return data

    def tcp_state(self) -> int:
        """The connection's state in the kernel (``TCP_ESTABLISHED`` until the server ends it)."""
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        state: int = struct.unpack("B", info[:1])[0]
        return state

    def cut(self) -> bool:
        return self.tcp_state() != TCP_ESTABLISHED

    def read_to_end(self, timeout: float = 30.0) -> bytes:
        """Everything that reached this side, up to the server's end of the connection (a reset or an
        orderly close); fails past ``timeout`` seconds of silence."""
        self.sock.settimeout(timeout)
        chunks = [self.received]
        with contextlib.suppress(ConnectionResetError):
            while chunk := self.sock.recv(65536):
                chunks.append(chunk)
        self.received = b"".join(chunks)
        return self.received

    def event_ids(self) -> list[int]:
        """The ids of the complete task events received (what the client would resume after)."""
        return [int(found) for found in COMPLETE_TASK_EVENT.findall(self.received)]

    def close(self) -> None:
        self.sock.close()


def metric(base_url: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """One sample of the server's ``/metrics`` (``name`` as exposed, e.g. with ``_total``)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(sample.value)
    raise AssertionError(f"{name} {dict(labels or {})} is not in /metrics")
