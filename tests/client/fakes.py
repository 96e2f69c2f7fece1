"""A proxy-like HTTP server for the client's failure tests: it answers what a test tells it (a proxy's
HTML 502 page, a 503) or forwards to the real server, and counts what it was asked.

Built on the standard library's ``ThreadingHTTPServer`` on a thread and a free port; each rule sees
the request (method, path, body) and its number, and either answers, forwards, or hangs up without
an answer (a connection lost after the request arrived).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Seen:
    number: int  # from 1, in arrival order
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


FORWARD = "forward"
HANG_UP = "hang up"
Rule = Callable[[Seen], Answer | str]


def html_502(seen: Seen) -> Answer:
    return Answer(502, HTML_502, "text/html")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests assert on ``seen``."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = self.server.record(self.command, self.path, dict(self.headers.items()), body)
        action = self.server.rule(seen)
        if action == HANG_UP:
            if seen.method == "POST" and self.server.upstream:
                self._forward(seen)  # it arrives and is done; only the answer is lost
            self.close_connection = True
            return
        if action == FORWARD:
            answer = self._forward(seen)
        else:
            assert isinstance(action, Answer)
            answer = action
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def _forward(self, seen: Seen) -> Answer:
        skip = {"host", "content-length", "connection"}
        headers = {k: v for k, v in seen.headers.items() if k.lower() not in skip}
        response = httpx.request(
            seen.method, self.server.upstream + seen.path, headers=headers, content=seen.body or None
        )
        kind = response.headers.get("content-type", "application/json")
        extra = {k: v for k, v in response.headers.items() if k.lower() in ("x-next-cursor", "retry-after")}
        return Answer(response.status_code, response.content, kind, extra)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, rule: Rule, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rule = rule
        self.upstream = upstream
        self.seen: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()

    def verify_request(self, request: object, client_address: object) -> bool:
        """Called once per accepted connection, whatever comes over it (a TLS hello too)."""
        with self._lock:
            self.connections += 1
        return True

    def record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Seen:
        with self._lock:
            seen = Seen(len(self.seen) + 1, method, path, headers, body)
            self.seen.append(seen)
            return seen


@dataclass
class Fake:
    base_url: str
    server: _Server

    @property
    def seen(self) -> list[Seen]:
        return list(self.server.seen)

    @property
    def connections(self) -> int:
        return self.server.connections


@contextmanager
def fake_server(rule: Rule, upstream: str = "") -> Iterator[Fake]:
    """A server on a free port that applies ``rule`` to every request (forwarding to ``upstream``)."""
    server = _Server(rule, upstream)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Fake(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
