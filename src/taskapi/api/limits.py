"""Refuse request bodies over a size limit with a 413 in the envelope, before they fill memory.

Starlette's own limiter answers in plain text or FastAPI's ``{"detail"}`` shape, which the contract
forbids; this one answers in the envelope, checks ``Content-Length`` first and counts chunked bodies.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif _declared_length(scope) > self.max_bytes:
            await refuse(send, self.max_bytes)
        else:
            await _CountedRequest(self.max_bytes, receive, send).run(self.app, scope)


class _CountedRequest:
    """One request whose streamed body is counted; past the limit it is answered 413 and cut off."""

    def __init__(self, max_bytes: int, receive: Receive, send: Send) -> None:
        self.max_bytes = max_bytes
        self.received = 0
        self.refused = False
        self._receive = receive
        self._send = send

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            if not self.refused:  # after a refusal the app's complaints about the cut body are moot
                raise

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                self.refused = True
                await refuse(self._send, self.max_bytes)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if not self.refused:  # once refused, the app's own answer (if any) is dropped
            await self._send(message)


async def refuse(send: Send, max_bytes: int) -> None:
    message = f"Request body too large: the limit is {max_bytes} bytes"
    body = json.dumps({"code": 413, "message": message, "data": None}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int:
    """The request's ``Content-Length``, or 0 when absent or not a number (then bodies are counted)."""
    declared: bytes = dict(scope["headers"]).get(b"content-length", b"")
    return int(declared) if declared.isdigit() else 0
