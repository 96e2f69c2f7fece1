"""One candidate URL to one stored PDF, or the reason it is not one.

Redirects are followed here, hop by hop (at most ``MAX_HOPS``), each hop a request of its own: its
URL's scheme is checked, its connection goes through the address guard, it takes its host's turn.
The body is streamed into the file store and never read past ``max_bytes`` (a declared length over
it is refused before the first byte); it is kept only when it starts with ``%PDF-``, since landing
pages answer 200 with HTML. ``timeout_s`` bounds the whole download, all hops and the body, so a
server that drips its body slowly ends as ``timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from taskapi.papers.files import FileStore, FileWriter, StoredFile
from taskapi.pipeline.crawl.gates import HostGates, host_key
from taskapi.pipeline.crawl.guard import BlockedAddress, Guard, GuardedTransport
from taskapi.pipeline.crawl.model import (
    BLOCKED_ADDRESS,
    CONNECTION,
    NOT_PDF,
    TIMEOUT,
    TOO_LARGE,
    CrawlOptions,
    http_reason,
)

MAX_HOPS = 10
PDF_MAGIC = b"%PDF-"
ACCEPT = "application/pdf,application/octet-stream;q=0.9,*/*;q=0.5"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one candidate gave: ``stored`` (with the served ``content_type``) or a ``reason``."""

    stored: StoredFile | None
    reason: str | None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class _Redirect:
    request: httpx.Request
    status: int


def parse_url(url: str) -> httpx.URL:
    """``url`` if crawl may request it: http(s) with a host; else ``BlockedAddress``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BlockedAddress(f"not a URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BlockedAddress(f"only http(s) URLs with a host are fetched, not {parsed.scheme or 'no'} scheme")
    return parsed


def download_client(options: CrawlOptions, guard: Guard) -> httpx.AsyncClient:
    """The client of every download: guarded connections, no automatic redirects, no environment,
    bodies asked uncompressed (``identity``: a compressed body could expand past ``max_bytes`` in
    one chunk; one sent compressed anyway does not start with ``%PDF-``)."""
    connections = options.max_hosts + 4
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"User-Agent": options.user_agent, "Accept": ACCEPT, "Accept-Encoding": "identity"}
    return httpx.AsyncClient(
        transport=GuardedTransport(guard, limits),
        headers=headers,
        timeout=httpx.Timeout(options.timeout_s),
        follow_redirects=False,
        trust_env=False,
    )


class _PdfBody:
    """The body as it streams in: written to the store, counted against the limit, its first bytes
    checked."""

    def __init__(self, writer: FileWriter, max_bytes: int) -> None:
        self._writer = writer
        self._max_bytes = max_bytes
        self._head = b""
        self.size = 0

    def add(self, chunk: bytes) -> str | None:
        """Take one chunk; a reason to stop reading now, else ``None``."""
        self.size += len(chunk)
        if self.size > self._max_bytes:
            return TOO_LARGE
        if len(self._head) < len(PDF_MAGIC):
            self._head += chunk[: len(PDF_MAGIC) - len(self._head)]
            if not PDF_MAGIC.startswith(self._head):
                return NOT_PDF
        self._writer.write(chunk)
        return None

    def finish(self) -> str | None:
        return None if self._head == PDF_MAGIC else NOT_PDF


def _media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return value[:100] or None


def _declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


class Fetcher:
    """Downloads candidates into the file store, politely (``HostGates``) and safely (the guarded client)."""

    def __init__(
        self, client: httpx.AsyncClient, files: FileStore, gates: HostGates, options: CrawlOptions
    ) -> None:
        self._client = client
        self._files = files
        self._gates = gates
        self._options = options

    async def fetch(self, url: str) -> Fetched:
        """Download ``url`` (following its redirects); a failure of the download is an answer, never an
        exception (a failing file store, a full disk, does raise: every job would fail alike)."""
        try:
            return await self._follow(url)
        except (BlockedAddress, httpx.InvalidURL) as exc:  # httpx raises the latter for a bad Location
            log.info("crawl refused %s: %s", url, exc)
            return Fetched(None, BLOCKED_ADDRESS)
        except (TimeoutError, httpx.TimeoutException):
            return Fetched(None, TIMEOUT)
        except httpx.HTTPError as exc:  # connect, read, protocol errors, a malformed Location
            log.info("crawl could not fetch %s: %s: %s", url, type(exc).__name__, exc)
            return Fetched(None, CONNECTION)

    async def _follow(self, url: str) -> Fetched:
        loop = asyncio.get_running_loop()
        request = self._client.build_request("GET", parse_url(url))
        remaining = self._options.timeout_s
        status = 0
        for _ in range(MAX_HOPS + 1):
            async with self._gates.turn(host_key(request.url)):
                started = loop.time()
                try:
                    async with asyncio.timeout(remaining):
                        step = await self._hop(request)
                finally:
                    remaining -= loop.time() - started
            if isinstance(step, Fetched):
                return step
            request, status = step.request, step.status
            parse_url(str(request.url))  # a redirect to another scheme is refused like a candidate
        return Fetched(None, http_reason(status))  # too many redirects: the last redirect's status

    async def _hop(self, request: httpx.Request) -> Fetched | _Redirect:
        response = await self._client.send(request, stream=True)
        try:
            if response.next_request is not None:
                return _Redirect(response.next_request, response.status_code)
            if not response.is_success:
                return Fetched(None, http_reason(response.status_code))
            return await self._store(response)
        finally:
            await response.aclose()

    async def _store(self, response: httpx.Response) -> Fetched:
        declared = _declared_length(response)
        if declared is not None and declared > self._options.max_bytes:
            return Fetched(None, TOO_LARGE)
        with self._files.writer() as writer:
            body = _PdfBody(writer, self._options.max_bytes)
            async for chunk in response.aiter_raw():
                reason = body.add(chunk)
                if reason is not None:
                    return Fetched(None, reason)
            reason = body.finish()
            if reason is not None:
                return Fetched(None, reason)
            return Fetched(writer.commit(), None, _media_type(response))
