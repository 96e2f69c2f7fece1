"""uvicorn's HTTP protocol (httptools) with the protective limits it lacks: a deadline for a request's
head and a ceiling on its size, and the concurrency limit answered in the API's error envelope.

uvicorn times out idle keep-alive connections but not a request being received: a client that trickles
its headers a byte at a time (slow loris), or never sends any, holds a connection for ever; and httptools
buffers a header of any length. ``guarded_protocol`` answers the class ``serve`` passes to uvicorn as
its ``http`` protocol:

- a request's line and headers must arrive within ``header_timeout`` seconds of the first read that
  left them incomplete (of the connection, for the first request): past it a partial request is
  answered 408 and the connection closed, a connection that sent nothing is just closed;
- they may take at most ``max_header_bytes`` (the request target and the header lines): more is
  answered 431 and the connection closed. A head still arriving is counted read by read, so at most
  one read of the socket past the ceiling is ever buffered; one that came whole is measured parsed;
- with ``limit_concurrency``, a request beyond it is answered 503 with ``Retry-After`` (uvicorn's own
  check, which answers plain text, is left off).

Every answer is the API's ``{"code", "message", "data"}`` envelope.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

BUSY_RETRY_AFTER = "1"


@dataclass(frozen=True, slots=True)
class HttpLimits:
    header_timeout: float = 10.0
    max_header_bytes: int = 64 * 1024
    limit_concurrency: int | None = None


def envelope(status: HTTPStatus, message: str) -> bytes:
    return json.dumps({"code": int(status), "message": message, "data": None}).encode()


def raw_response(status: HTTPStatus, message: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, for when no request reached the app."""
    body = envelope(status, message)
    head = (
        f"HTTP/1.1 {int(status)} {status.phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def busy(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer to a request beyond the concurrency limit (an ASGI app, as uvicorn's own is)."""
    body = envelope(HTTPStatus.SERVICE_UNAVAILABLE, "Service busy: too many connections, retry shortly")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", BUSY_RETRY_AFTER.encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """See the module; ``limits`` is set on the subclass ``guarded_protocol`` makes."""

    limits = HttpLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limit_concurrency = None  # checked here, to answer in the envelope
        self._head_deadline: asyncio.TimerHandle | None = None
        self._reading_head = False
        self._head_bytes = 0
        self._refused = False

    # -- the deadline -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self._reading_head:
            self.logger.info(
                "closing a connection whose request head took over %s s", self.limits.header_timeout
            )
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, "Request timeout: the headers took too long to arrive")
        else:
            self.transport.close()

    # -- the size ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading_head and not self.transport.is_closing():
            # A head still incomplete after a read: the deadline runs (a head that comes whole, as
            # nearly every one does, costs no timer).
            self._arm_head_deadline()
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_large_head()

    def _refuse_large_head(self) -> None:
        self.logger.info("refusing a request head over %d bytes", self.limits.max_header_bytes)
        self._refuse(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"Request header fields too large: at most {self.limits.max_header_bytes} bytes",
        )

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """Answer (unless a response is under way on this connection) and close; what the parser
        still delivers of this connection is ignored."""
        self._refused = True
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(raw_response(status, message))
        self.transport.close()

    # -- parser callbacks -------------------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._disarm_head_deadline()
        if self._refused:
            return
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:  # a head that came in the read that completed it
            self._refuse_large_head()
            return
        limit = self.limits.limit_concurrency
        if limit is None or (len(self.connections) <= limit and len(self.tasks) < limit):
            super().on_headers_complete()
            return
        self.logger.warning("concurrency limit of %d reached: answering 503", limit)
        app, self.app = self.app, busy  # the cycle uvicorn builds runs ``self.app``
        try:
            super().on_headers_complete()
        finally:
            self.app = app


def guarded_protocol(limits: HttpLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
