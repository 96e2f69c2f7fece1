"""The live stream's shared logic: what a (re)connection asks for, what each message means, and what a
failure leads to; the sync and async clients add only the I/O.

A watch remembers the id of the last change it received and sends it as ``Last-Event-ID`` whenever it
reconnects (after the server restarted, a proxy cut the connection, the network dropped), and the
server replays what was missed from its change log, so no change is lost or repeated. Reconnections
back off (bounded) and give up after ``give_up_after`` seconds without a working stream. A stream that
stays silent longer than ``SILENCE`` (the server sends a comment every 15 s) is taken for dead.

With a deadline, each connection's read timeout ends at the deadline, and a connection opened well
before it is renewed after a message (a cheap resume), so a wait ends within a fraction of a second
of its deadline even on a stream that falls silent right after a message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from httpx_sse import ServerSentEvent, SSEError

from taskapi.client import _decode as d
from taskapi.client._calls import STREAM, Call, data_only
from taskapi.client._errors import (
    ApiError,
    ChangesMissed,
    ClientError,
    ConnectionFailed,
    Forbidden,
    ProtocolError,
    ServiceUnavailable,
    Unauthorized,
    transport_error,
)
from taskapi.client._retry import RetryPolicy
from taskapi.domain import check_id

SILENCE = 45.0
"""Seconds without a byte after which a stream is taken for dead (three of the server's keep-alives)."""
RENEW_AFTER = 0.25
"""How far a connection's read timeout may outlast the deadline before it is renewed."""


class StreamEnded(ClientError):
    """The server closed the stream (it is shutting down, or dropped a client that fell behind)."""


@dataclass(frozen=True, slots=True)
class Connect:
    """One connection's request."""

    params: dict[str, str]
    headers: dict[str, str]
    timeout: httpx.Timeout


class StreamState:
    """A watch in progress: its filters, the last change id seen, its deadline, its failures."""

    def __init__(
        self,
        *,
        project_id: int | None,
        task_id: int | None,
        last_event_id: int | None,
        timeout: float | None,
        policy: RetryPolicy,
        give_up_after: float,
        url: str,
    ) -> None:
        self.params = d.params_of(
            {
                "project_id": None if project_id is None else check_id("project_id", project_id),
                "task_id": None if task_id is None else check_id("task_id", task_id),
            }
        )
        self.last_event_id = last_event_id
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.policy = policy
        self.give_up_after = give_up_after
        self.url = url
        self._failures = 0
        self._failing_since: float | None = None
        self._read_timeout = SILENCE

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def connect(self) -> Connect:
        """The next connection's request: resume after the last change seen, read until the deadline."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        remaining = self.remaining()
        self._read_timeout = SILENCE if remaining is None else max(0.01, min(remaining, SILENCE))
        timeout = httpx.Timeout(10.0, read=self._read_timeout)
        return Connect(self.params, headers, timeout)

    def opened(self, status: int, headers: httpx.Headers, content: bytes) -> None:
        """Check the answer to a connection: a stream, or the error it stands for."""
        if status != 200:
            Call("GET", STREAM, data_only(d.nothing)).answer(status, headers, content, self.url, resent=False)
            raise ProtocolError(self.url, status, "not a stream")
        kind = headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            raise ProtocolError(self.url, status, f"content type {kind!r} instead of an event stream")
        self._failures = 0
        self._failing_since = None

    def message(self, sse: ServerSentEvent) -> d.TaskChange | None:
        """A task change (and where a resume starts), or ``None`` for a message of another kind."""
        if sse.event == "reset":
            resume = int(sse.id) if sse.id else 0
            self.last_event_id = resume
            raise ChangesMissed(resume, f"the stream lost changes before event {resume}: {sse.data}")
        if sse.event != "task":
            return None
        try:
            change = d.change_of(sse.data, sse.id)
        except d.Malformed as exc:
            raise ProtocolError(self.url, 200, str(exc)) from None
        if change.event_id is not None:
            if self.last_event_id is not None and change.event_id <= self.last_event_id:
                return None  # already had (a server may send a change again around a resume)
            self.last_event_id = change.event_id
        return change

    def reachable(self) -> None:
        """The server answered (a poll worked): the stream alone is failing; do not give up on it."""
        self._failing_since = None

    def stale(self) -> bool:
        """Whether this connection's read timeout outlasts the deadline enough to renew it."""
        remaining = self.remaining()
        if remaining is None:
            return False
        # The read timeout restarts with every byte: after a message, silence ends at now + read timeout.
        return self._read_timeout - remaining > RENEW_AFTER

    def failure(self, exc: BaseException) -> ClientError:
        """What a failure while connecting or reading means (httpx's errors become ours)."""
        if isinstance(exc, httpx.TransportError):
            return transport_error(exc, self.url)
        if isinstance(exc, SSEError):
            return ProtocolError(self.url, 200, str(exc))
        if isinstance(exc, ClientError):
            return exc
        raise exc

    def failed(self, exc: ClientError, *, polling: bool = False) -> float:
        """Seconds to wait before reconnecting after ``exc``; raises ``exc`` when it will not pass by
        itself (a refused token, a TLS failure, a 4xx) or when the stream has failed for too long.
        A caller that falls back to ``polling`` meanwhile also outlives a stream that a proxy or an
        older server cannot give (any answer but a refused token or a TLS failure)."""
        if not (transient(exc) or (polling and not refused(exc))):
            raise exc
        now = time.monotonic()
        self._failing_since = self._failing_since or now
        if now - self._failing_since > self.give_up_after:
            raise exc
        self._failures += 1
        if isinstance(exc, ChangesMissed):
            self.last_event_id = None  # start afresh: the caller reads the state itself again
        delay = min(self.policy.max_delay, self.policy.first_delay * 2.0 ** (self._failures - 1))
        remaining = self.remaining()
        return delay if remaining is None else min(delay, remaining)


def refused(exc: ClientError) -> bool:
    """A failure that no wait will cure: a refused token, a failed TLS handshake."""
    return isinstance(exc, Unauthorized | Forbidden) or (isinstance(exc, ConnectionFailed) and exc.tls)


def transient(exc: ClientError) -> bool:
    """Whether a stream failure may pass by itself: a broken or refused connection (not TLS), an
    unavailable service, a proxy's 5xx page while the server restarts, a stream the server ended."""
    if isinstance(exc, ConnectionFailed):
        return not exc.tls
    if isinstance(exc, ProtocolError):
        return exc.status >= 500
    if isinstance(exc, ApiError):
        return isinstance(exc, ServiceUnavailable) or exc.status >= 500
    return isinstance(exc, StreamEnded)
