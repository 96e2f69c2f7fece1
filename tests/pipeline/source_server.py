"""A replay of the scholarly sources on 127.0.0.1, for tests and benchmarks: the production clients
talk HTTP to it exactly as they would to the real services.

One thread runs a real HTTP server answering each source under its own prefix, in the source's real
response shape (the recorded shapes of ``fixtures/sources/``; ``sources/shapes.py`` renders them):

- ``url("s2")`` (or ``"semantic_scholar"``), ``/s2/graph/v1``: ``/paper/search`` paged by ``offset``
  (400 past its 1,000-record window), ``/paper/search/bulk`` paged by ``token``, 1,000 a page;
- ``url("arxiv")``, ``/arxiv/api``: ``/query``, an Atom feed paged by ``start``/``max_results``;
- ``url("openalex")``, ``/openalex``: ``/works`` paged by ``cursor`` until ``meta.next_cursor`` is null;
- ``url("crossref")``, ``/crossref``: ``/works``; ``cursor=*`` opens a scroll whose id stays the same;
- ``url("unpaywall")``, ``/unpaywall/v2``: ``/{doi}?email=``, what ``set_unpaywall`` gave, else 404;
- ``url("files")``, ``/files``: what ``set_file`` gave (the works' PDF URLs point here), else 404.

Each query has ``total`` works (``set_total``), generated deterministically (``work(query, i)``): the
same work has the same DOI, arXiv id and title in every source, so one search finds it several times.
Use::

    with SourceServer() as server:
        server.set_total(10_000, source="s2")          # ten bulk pages of 1,000
        server.fail_next("openalex", status=429, retry_after="1", times=2)
        server.respond_next("arxiv", body=ARXIV_ERROR_FEED)
        server.require_key("openalex", "secret")
        env = server.settings_env()                    # TASKAPI_*_URL for a real ``taskapi serve``
        ...
        server.requests("openalex")                    # path, query, headers, monotonic time, status
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from tests.pipeline.sources.shapes import (
    Work,
    arxiv_entry,
    crossref_work,
    make_work,
    openalex_work,
    plain_query,
    s2_paper,
)

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
PREFIXES = {
    "s2": "/s2/graph/v1",
    "arxiv": "/arxiv/api",
    "openalex": "/openalex",
    "crossref": "/crossref",
    "unpaywall": "/unpaywall/v2",
    "files": "/files",
}
ALIASES = {"semantic_scholar": "s2"}
SETTINGS = {
    "s2": "TASKAPI_SEMANTIC_SCHOLAR_URL",
    "arxiv": "TASKAPI_ARXIV_URL",
    "openalex": "TASKAPI_OPENALEX_URL",
    "crossref": "TASKAPI_CROSSREF_URL",
    "unpaywall": "TASKAPI_UNPAYWALL_URL",
}
DEFAULT_TOTAL = 25

ARXIV_ERROR_FEED = (FIXTURES / "arxiv_error.xml").read_bytes()
_LAUGHS = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
BILLION_LAUGHS = (
    f'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY lol0 "lol">{_LAUGHS}]>'
    '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol9;</title></entry></feed>'
).encode()
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&xxe;</title></entry></feed>'
)
MALFORMED_XML = b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>cut off'
MALFORMED_JSON = b'{"data": [{"paperId": '
JSON = "application/json"
ATOM = "application/atom+xml; charset=utf-8"


@dataclass(frozen=True)
class ServedRequest:
    """One request as the server saw it; ``at`` is ``time.monotonic()`` on arrival."""

    source: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    status: int


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0


def _json(status: int, value: object) -> _Answer:
    return _Answer(status, json.dumps(value).encode())


def _encode(position: int, query: str) -> str:
    return base64.urlsafe_b64encode(f"{position}\n{query}".encode()).decode()


def _decode(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().split("\n", 1)[0])
    except ValueError:
        return -1


class SourceServer:
    """The replay server (see the module's docstring); a context manager that starts and stops it."""

    def __init__(self, *, total: int = DEFAULT_TOTAL) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple[str | None, str | None], int] = {(None, None): total}
        self._scripts: dict[str, deque[tuple[_Answer, list[int]]]] = {}
        self._keys: dict[str, str] = {}
        self._unpaywall: dict[str, dict[str, Any]] = {}
        self._files: dict[str, _Answer] = {}
        self._scrolls: dict[str, int] = {}
        self._log: list[ServedRequest] = []
        self.errors: list[str] = []
        """Tracebacks of the server's own failures (a test may assert there are none)."""
        self._stopping = threading.Event()
        self._http = _Server(self)
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.01,), daemon=True)
        self.root = f"http://127.0.0.1:{self._http.server_address[1]}"

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stopping.set()  # wakes delayed answers
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    # -- configuration -------------------------------------------------------------------------------
    def url(self, source: str) -> str:
        """The base URL of ``source`` (``s2`` or ``semantic_scholar``, ``arxiv``, ``openalex``,
        ``crossref``, ``unpaywall``, ``files``): what the ``TASKAPI_*_URL`` setting takes."""
        return self.root + PREFIXES[ALIASES.get(source, source)]

    def settings_env(self) -> dict[str, str]:
        """``TASKAPI_*_URL`` for every source, to run a real ``taskapi serve`` against this server."""
        return {name: self.url(source) for source, name in SETTINGS.items()}

    def set_total(self, total: int, *, source: str | None = None, query: str | None = None) -> None:
        """How many works a source (default: every source) has for a query (default: any query)."""
        with self._lock:
            self._totals[(ALIASES.get(source, source) if source else None, query)] = total

    def work(self, query: str, index: int) -> Work:
        return make_work(query, index, self.url("files"))

    def require_key(self, source: str, key: str) -> None:
        """Refuse requests without ``key``: S2 wants ``x-api-key`` (else 403), OpenAlex ``api_key`` (401)."""
        self._keys[ALIASES.get(source, source)] = key

    def respond_next(
        self,
        source: str,
        *,
        status: int = 200,
        body: bytes | str | dict[str, Any] = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
        drip: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests to ``source`` with this instead: ``delay`` s late, and
        with ``drip`` > 0 the body ten bytes at a time, ``drip`` s apart (a server that never stalls
        long enough for a read timeout, yet never finishes)."""
        name = ALIASES.get(source, source)
        if isinstance(body, dict):
            body = json.dumps(body)
        raw = body.encode() if isinstance(body, str) else body
        kind = content_type or (ATOM if name == "arxiv" and raw.lstrip().startswith(b"<") else JSON)
        answer = _Answer(status, raw, kind, dict(headers or {}), delay, drip)
        with self._lock:
            self._scripts.setdefault(name, deque()).append((answer, [times]))

    def fail_next(
        self,
        source: str,
        *,
        status: int = 500,
        retry_after: str | None = None,
        times: int = 1,
        body: bytes | str | dict[str, Any] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Fail the next ``times`` requests: ``status`` (429, 500, 401...), ``Retry-After`` if given."""
        default = {"message": "Too Many Requests"} if status == 429 else {"error": f"scripted {status}"}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.respond_next(
            source,
            status=status,
            body=default if body is None else body,
            headers=headers,
            times=times,
            delay=delay,
        )

    def set_unpaywall(
        self, doi: str, pdf_urls: list[str] | None = None, *, body: dict[str, Any] | None = None
    ) -> None:
        """Unpaywall knows ``doi``: best location the first of ``pdf_urls``, all of them as
        ``oa_locations`` (or exactly ``body``). Other DOIs answer 404."""
        if body is None:
            body = json.loads((FIXTURES / "unpaywall.json").read_text())
            locations = [{**body["oa_locations"][0], "url": u, "url_for_pdf": u} for u in pdf_urls or []]
            body.update(doi=doi, best_oa_location=locations[0] if locations else None, oa_locations=locations)
            body["is_oa"] = bool(locations)
        self._unpaywall[doi.lower()] = body

    def set_file(
        self, url_or_path: str, body: bytes, *, content_type: str = "application/pdf", status: int = 200
    ) -> None:
        """Serve ``body`` at a ``/files/...`` URL (a ``Work.pdf_url``, or a path under ``/files``)."""
        path = url_or_path.removeprefix(self.url("files")).removeprefix(PREFIXES["files"])
        self._files["/" + path.lstrip("/")] = _Answer(status, body, content_type)

    def requests(self, source: str | None = None) -> list[ServedRequest]:
        """Every request so far (to ``source`` only, if given), in arrival order."""
        name = ALIASES.get(source, source) if source else None
        with self._lock:
            return [r for r in self._log if name is None or r.source == name]

    # -- serving -------------------------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        source, rest = self._source_of(parts.path)
        answer = self._scripted(source) or self._route(source, unquote(rest), query, headers)
        with self._lock:
            self._log.append(ServedRequest(source, parts.path, query, headers, arrived, answer.status))
        if answer.delay:
            self._stopping.wait(answer.delay)
        handler.send_response(answer.status)
        for name, value in {"Content-Type": answer.content_type, **answer.headers}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        step = 10 if answer.drip else len(answer.body) or 1
        for start in range(0, len(answer.body), step):
            if start and self._stopping.wait(answer.drip):
                return
            handler.wfile.write(answer.body[start : start + step])

    def _source_of(self, path: str) -> tuple[str, str]:
        for source, prefix in PREFIXES.items():
            if path == prefix or path.startswith(prefix + "/"):
                return source, path[len(prefix) :]
        return "unknown", path

    def _scripted(self, source: str) -> _Answer | None:
        with self._lock:
            script = self._scripts.get(source)
            if not script:
                return None
            answer, left = script[0]
            left[0] -= 1
            if left[0] <= 0:
                script.popleft()
            return answer

    def _total(self, source: str, query: str) -> int:
        with self._lock:
            for key in ((source, query), (source, None), (None, query), (None, None)):
                if key in self._totals:
                    return self._totals[key]
        return DEFAULT_TOTAL

    def _route(self, source: str, rest: str, query: dict[str, str], headers: dict[str, str]) -> _Answer:
        key = self._keys.get(source)
        if key and source == "s2" and headers.get("x-api-key") != key:
            return _json(403, {"message": "Forbidden"})
        if key and source == "openalex" and query.get("api_key") != key:
            return _json(401, {"error": "Unauthorized", "message": "A valid api_key is required."})
        routes = {
            ("s2", "/paper/search"): self._s2_search,
            ("s2", "/paper/search/bulk"): self._s2_bulk,
            ("arxiv", "/query"): self._arxiv,
            ("openalex", "/works"): self._openalex,
            ("crossref", "/works"): self._crossref,
        }
        if (source, rest) in routes:
            try:
                return routes[(source, rest)](query)
            except ValueError as exc:
                return _json(400, {"error": f"bad parameter: {exc}"})
        if source == "unpaywall":
            return self._unpaywall_answer(rest.strip("/").lower(), query)
        if source == "files" and rest in self._files:
            return self._files[rest]
        return _Answer(404, b"not found", "text/plain")

    def _works(self, source: str, query: str, start: int, count: int) -> list[Work]:
        end = min(start + count, self._total(source, query))
        return [self.work(query, i) for i in range(max(start, 0), end)]

    # -- the sources' shapes -------------------------------------------------------------------------
    def _s2_search(self, q: dict[str, str]) -> _Answer:
        offset, limit, query = int(q.get("offset", "0")), int(q.get("limit", "100")), q.get("query", "")
        if limit > 100 or offset + limit >= 1000:
            return _json(400, {"error": "Requested data for this limit and/or offset is not available"})
        total = self._total("s2", query)
        body: dict[str, Any] = {"total": total, "offset": offset}
        if offset + limit < min(total, 999):
            body["next"] = offset + limit
        body["data"] = [s2_paper(w) for w in self._works("s2", query, offset, limit)]
        return _json(200, body)

    def _s2_bulk(self, q: dict[str, str]) -> _Answer:
        query, position = q.get("query", ""), _decode(q["token"]) if "token" in q else 0
        if position < 0:
            return _json(400, {"error": "Invalid token"})
        total = self._total("s2", query)
        body: dict[str, Any] = {"total": str(total)}  # a string, as the real bulk search sometimes sends
        if position + 1000 < total:
            body["token"] = _encode(position + 1000, query)
        body["data"] = [s2_paper(w) for w in self._works("s2", query, position, 1000)]
        return _json(200, body)

    def _arxiv(self, q: dict[str, str]) -> _Answer:
        start, size, search = (
            int(q.get("start", "0")),
            int(q.get("max_results", "10")),
            q.get("search_query", ""),
        )
        if size > 2000:
            return _Answer(400, ARXIV_ERROR_FEED, ATOM)
        plain = plain_query(search)
        total = self._total("arxiv", plain)
        entries = "".join(arxiv_entry(w) for w in self._works("arxiv", plain, start, size))
        feed = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">'
            f"<id>https://arxiv.org/api/replay</id><title>arXiv Query: {escape(search)}</title>"
            f"<opensearch:itemsPerPage>{size}</opensearch:itemsPerPage>"
            f"<opensearch:totalResults>{total}</opensearch:totalResults>"
            f"<opensearch:startIndex>{start}</opensearch:startIndex>{entries}</feed>"
        )
        return _Answer(200, feed.encode(), ATOM)

    def _openalex(self, q: dict[str, str]) -> _Answer:
        per_page, query, cursor = int(q.get("per_page", "25")), q.get("search", ""), q.get("cursor")
        if not 1 <= per_page <= 200:
            return _json(
                400, {"error": "Invalid query parameters error.", "message": "per_page must be 1..200"}
            )
        position = 0 if cursor in (None, "*") else _decode(cursor or "")
        works = self._works("openalex", query, position, per_page)
        following = _encode(position + len(works), query) if works else None
        meta: dict[str, Any] = {
            "count": self._total("openalex", query),
            "db_response_time_ms": 7,
            "page": None,
        }
        meta |= {"per_page": per_page, "next_cursor": following, "groups_count": None}
        return _json(200, {"meta": meta, "results": [openalex_work(w) for w in works], "group_by": []})

    def _crossref(self, q: dict[str, str]) -> _Answer:
        rows, query, cursor = int(q.get("rows", "20")), q.get("query.bibliographic", ""), q.get("cursor", "*")
        with self._lock:
            if cursor == "*":
                cursor = f"DnF1ZXJ5VGhlbkZldGNo{len(self._scrolls)}"
                self._scrolls[cursor] = 0
            position = self._scrolls.get(cursor)
            if position is not None:
                self._scrolls[cursor] = position + rows
        if position is None:
            return _json(
                400, {"status": "failed", "message": [{"type": "cursor", "message": "Unknown cursor"}]}
            )
        works = self._works("crossref", query, position, rows)
        message: dict[str, Any] = {"facets": {}, "next-cursor": cursor}
        message["total-results"] = self._total("crossref", query)
        message |= {"items": [crossref_work(w) for w in works], "items-per-page": rows}
        message["query"] = {"start-index": 0, "search-terms": query}
        envelope = {
            "status": "ok",
            "message-type": "work-list",
            "message-version": "1.0.0",
            "message": message,
        }
        return _json(200, envelope)

    def _unpaywall_answer(self, doi: str, query: dict[str, str]) -> _Answer:
        if not query.get("email"):
            return _json(422, {"HTTP_status_code": 422, "error": True, "message": "Please add an email"})
        if doi in self._unpaywall:
            return _json(200, self._unpaywall[doi])
        return _json(404, {"HTTP_status_code": 404, "error": True, "message": f"'{doi}' isn't in Unpaywall"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: _Server

    def do_GET(self) -> None:
        self.server.replay.handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the replay keeps its own log
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, replay: SourceServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replay = replay

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that left is fine
            self.replay.errors.append(traceback.format_exc())
