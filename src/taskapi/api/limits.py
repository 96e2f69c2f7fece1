"""Refuse request bodies over a size limit with a 413 in the envelope, before they fill memory; and a
query string that is not UTF-8 with a 400.

Starlette's own limiter answers in plain text or FastAPI's ``{"detail"}`` shape, which the contract
forbids; this one answers in the envelope, checks ``Content-Length`` first and counts chunked bodies.

uvicorn's HTTP parser refuses bytes outside ASCII in a request's target, but the ASGI standard lets a
server pass them on, and Starlette decodes a query string as UTF-8 wherever it builds the request's
URL (a next page's link, every error handler): such a request would crash into a 500 without a body.
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
            return
        headers = dict(scope["headers"])
        declared: bytes = headers.get(b"content-length", b"")
        if not _is_utf8(scope.get("query_string", b"")):
            await _answer(send, 400, _NOT_UTF8)
        elif declared.isdigit() and int(declared) > self.max_bytes:
            await refuse(send, self.max_bytes)
        elif not declared and b"transfer-encoding" not in headers:  # no body (HTTP/1.1): none to count
            await self.app(scope, receive, send)
        else:  # chunked, or a length not to be trusted: count what arrives
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
    await _answer(send, 413, {"code": 413, "message": message, "data": None})


_NOT_UTF8 = {
    "code": 400,
    "message": "Invalid request: the query string is not valid UTF-8",
    "data": {
        "errors": [{"location": "query", "field": "query", "message": "the query string is not valid UTF-8"}]
    },
}


def _is_utf8(raw: bytes) -> bool:
    if raw.isascii():
        return True
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


async def _answer(send: Send, status: int, envelope: dict[str, object]) -> None:
    body = json.dumps(envelope).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
