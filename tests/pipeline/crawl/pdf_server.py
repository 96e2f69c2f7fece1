"""Real HTTP servers on loopback that answer like the places crawl fetches PDFs from.

``PdfServer`` is one host: a ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) on a free port of
``host``, in a thread; several of them (``pdf_servers(n)``) are several hosts. Real PDFs are made at
test time with reportlab (``make_pdf``). Every request is logged as a ``Hit`` (arrival time, path
with query, body bytes actually written, whether the answer was written to its end, whether the
server is done with it); ``connections`` counts accepted connections (a refused address must see
none) and ``peak_active`` the most requests answered at once (politeness: 1).

Routes (``url(path)`` gives the absolute URL):

- ``/pdf/<name>``: the PDF added with ``add_pdf(name)`` (``application/pdf``), else 404;
- ``/landing/<name>``: a 200 HTML landing page linking the PDF;
- ``/redirect?to=<url>[&status=302]``: a redirect to any URL;
- ``/chain/<n>/<name>``: ``n`` relative redirects, then the PDF;
- ``/status/<code>``: that status with a small HTML body;
- ``/slow/<name>[?every=0.2]``: the PDF's length declared, its bytes dripped one every ``every`` s;
- ``/big?size=N[&declared=0]``: ``N`` bytes starting with ``%PDF-`` in 64 KiB writes, its length
  declared unless ``declared=0`` (then the connection closes at the end);
- ``/v2/<doi>``: Unpaywall: the JSON answer set in ``unpaywall[doi]``, else 404.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

CHUNK = 64 * 1024
_PADDING_LINE = b"% taskapi test padding: bytes after %%EOF that PDF readers skip ....\n"


def make_pdf(text: str, pages: int = 1) -> bytes:
    """A real PDF with ``text`` on each page (so two names give two different files)."""
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    for page in range(pages):
        document.drawString(72, 770, f"{text} (page {page + 1})")
        document.showPage()
    document.save()
    return buffer.getvalue()


def padding(size: int) -> bytes:
    """``size`` bytes of PDF comment lines, appended after ``%%EOF`` to make a PDF as big as wanted."""
    return (_PADDING_LINE * (size // len(_PADDING_LINE) + 1))[:size]


@dataclass(slots=True)
class Hit:
    """One request as the server saw it."""

    at: float  # time.monotonic() when the request line was read
    path: str  # with its query
    sent: int = 0  # body bytes written to the socket
    finished: bool = False  # the whole answer was written
    ended: bool = False  # the server is done with it (written, or the client went away)


@dataclass(frozen=True, slots=True)
class _Pdf:
    body: bytes
    pad: int

    @property
    def size(self) -> int:
        return len(self.body) + self.pad


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True

    def __init__(self, owner: PdfServer, host: str) -> None:
        self.owner = owner
        super().__init__((host, 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner.count_connection()
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle kept-alive connection ends its thread after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the hits are the log."""

    def do_GET(self) -> None:
        owner = self.server.owner
        hit = owner.record(self.path)
        try:
            owner.route(self, hit)
            hit.finished = True
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away (as crawl does past max_bytes)
        finally:
            owner.release(hit)

    def send(self, hit: Hit, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        hit.sent += len(data)

    def answer(self, hit: Hit, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.send(hit, body)


class PdfServer:
    """One host serving PDFs, landing pages, redirects, errors, slow and oversize bodies, Unpaywall."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.pdfs: dict[str, _Pdf] = {}
        self.unpaywall: dict[str, Any] = {}
        self.connections = 0  # connections accepted
        self.active = 0  # requests being answered now
        self.peak_active = 0  # the most requests ever answered at once
        self.stopping = threading.Event()
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server = _Server(self, host)
        self.host, self.port = host, int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name=f"pdf server {self.port}"
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def redirect_url(self, to: str, status: int = 302) -> str:
        """The URL of a redirect (``status``) to ``to``."""
        return self.url(f"/redirect?{urlencode({'to': to, 'status': status})}")

    def add_pdf(self, name: str, size: int = 0) -> bytes:
        """Serve a new PDF at ``/pdf/<name>`` (padded to ``size`` bytes if bigger); answers its bytes."""
        body = make_pdf(f"{name} served by {self.base_url}")
        self.pdfs[name] = _Pdf(body, max(0, size - len(body)))
        return body + padding(self.pdfs[name].pad)

    def hits(self, prefix: str = "") -> list[Hit]:
        with self._lock:
            return [hit for hit in self._hits if hit.path.startswith(prefix)]

    def record(self, path: str) -> Hit:
        hit = Hit(time.monotonic(), path)
        with self._lock:
            self._hits.append(hit)
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
        return hit

    def release(self, hit: Hit) -> None:
        with self._lock:
            hit.ended = True
            self.active -= 1

    def count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def start(self) -> PdfServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> PdfServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routes ----------------------------------------------------------------------------------

    def route(self, handler: _Handler, hit: Hit) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        path = unquote(parts.path)
        for pattern, method in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match:
                method(self, handler, hit, match.group(1), query)
                return
        handler.answer(hit, 404, b"<html>no such page</html>", {"Content-Type": "text/html"})

    def _pdf(self, handler: _Handler, hit: Hit, name: str, query: dict[str, str]) -> None:
        pdf = self.pdfs.get(name)
        if pdf is None:
            handler.answer(hit, 404, b"<html>no such paper</html>", {"Content-Type": "text/html"})
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/pdf")
        handler.send_header("Content-Length", str(pdf.size))
        handler.end_headers()
        handler.send(hit, pdf.body)
        for start in range(0, pdf.pad, CHUNK):
            handler.send(hit, padding(min(CHUNK, pdf.pad - start)))

    def _landing(self, handler: _Handler, hit: Hit, name: str, query: dict[str, str]) -> None:
        page = f'<!DOCTYPE html><html><body><a href="/pdf/{name}">Download PDF</a></body></html>'
        handler.answer(hit, 200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def _redirect(self, handler: _Handler, hit: Hit, _: str, query: dict[str, str]) -> None:
        status = int(query.get("status", "302"))
        handler.answer(hit, status, b"", {"Location": query["to"]})

    def _chain(self, handler: _Handler, hit: Hit, rest: str, query: dict[str, str]) -> None:
        hops, name = rest.split("/", 1)
        target = f"/pdf/{name}" if int(hops) <= 1 else f"/chain/{int(hops) - 1}/{name}"
        handler.answer(hit, 302, b"", {"Location": target})

    def _status(self, handler: _Handler, hit: Hit, code: str, query: dict[str, str]) -> None:
        handler.answer(hit, int(code), f"<html>{code}</html>".encode(), {"Content-Type": "text/html"})

    def _slow(self, handler: _Handler, hit: Hit, name: str, query: dict[str, str]) -> None:
        pdf = self.pdfs[name]
        every = float(query.get("every", "0.2"))
        handler.send_response(200)
        handler.send_header("Content-Type", "application/pdf")
        handler.send_header("Content-Length", str(len(pdf.body)))
        handler.end_headers()
        for index in range(len(pdf.body)):
            if index and self.stopping.wait(every):
                handler.close_connection = True
                return
            handler.send(hit, pdf.body[index : index + 1])

    def _big(self, handler: _Handler, hit: Hit, _: str, query: dict[str, str]) -> None:
        size = int(query["size"])
        handler.send_response(200)
        handler.send_header("Content-Type", "application/pdf")
        if query.get("declared", "1") == "1":
            handler.send_header("Content-Length", str(size))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        block = b"%PDF-" + bytes(CHUNK - 5)
        for start in range(0, size, CHUNK):
            handler.send(hit, block[: min(CHUNK, size - start)])
            block = bytes(CHUNK)

    def _unpaywall(self, handler: _Handler, hit: Hit, doi: str, query: dict[str, str]) -> None:
        answer = self.unpaywall.get(doi)
        if answer is None:
            body = {"HTTP_status_code": 404, "error": True, "message": f"'{doi}' isn't in Unpaywall."}
            handler.answer(hit, 404, json.dumps(body).encode(), {"Content-Type": "application/json"})
            return
        handler.answer(hit, 200, json.dumps(answer).encode(), {"Content-Type": "application/json"})


_ROUTES = (
    (r"/pdf/(.+)", PdfServer._pdf),
    (r"/landing/(.+)", PdfServer._landing),
    (r"/redirect()", PdfServer._redirect),
    (r"/chain/(\d+/.+)", PdfServer._chain),
    (r"/status/(\d{3})", PdfServer._status),
    (r"/slow/(.+)", PdfServer._slow),
    (r"/big()", PdfServer._big),
    (r"/v2/(.+)", PdfServer._unpaywall),
)


@contextmanager
def pdf_servers(count: int, host: str = "127.0.0.1") -> Iterator[list[PdfServer]]:
    """``count`` servers (hosts) on ``host``, each on its own port, all stopped when the block ends."""
    with ExitStack() as stack:
        yield [stack.enter_context(PdfServer(host)) for _ in range(count)]


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then released): a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
