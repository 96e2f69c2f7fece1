"""One source's HTTP: its own ``httpx`` client, its turn from the pacer before every request, retries
on 429/5xx/timeouts/dropped connections (``Retry-After`` honoured, bounded), bounded bodies, and
errors that say what happened without a secret in them.

The API key stays out of every URL httpx logs or puts in an exception: a key sent as a query
parameter is added by ``_ApiKeyParam`` below the client, to requests for the configured host only.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

import httpx

from taskapi.pipeline.sources._retry import backoff_seconds, retry_after_seconds
from taskapi.pipeline.sources.model import SourceConfig, SourceError
from taskapi.pipeline.sources.pacing import Pacer

ERROR_BODY_BYTES = 65_536
"""Most of an error answer read for its message."""
MAX_DETAIL_CHARS = 200

Params = Mapping[str, str | int]
ErrorDetail = Callable[[bytes], str | None]
"""Reads a source's own message out of an error answer's body (``None``: none worth showing)."""


def user_agent(contact_email: str | None) -> str:
    """``taskapi/<version> (mailto:<contact>)``: what we are and whom to tell when we misbehave."""
    try:
        version = metadata.version("taskapi")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        version = "0"
    return f"taskapi/{version} (mailto:{contact_email})" if contact_email else f"taskapi/{version}"


def json_error_detail(body: bytes) -> str | None:
    """The ``message`` / ``error`` of a JSON error answer (Crossref: the first of its ``message`` list)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    for key in ("message", "error"):
        detail = value.get(key)
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            detail = detail[0].get("message")
        if isinstance(detail, str) and detail.strip():
            return " ".join(detail.split())[:MAX_DETAIL_CHARS]
    return None


@cache
def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every client: loading the CA bundle costs ~50 ms a client."""
    return httpx.create_ssl_context()


class _ApiKeyParam(httpx.AsyncBaseTransport):
    """Adds ``param=key`` to requests for the configured host on their way to the network, so the
    request the client logs (httpx logs URLs at INFO) and a redirect to another host never carry it."""

    def __init__(self, inner: httpx.AsyncBaseTransport, param: str, key: str, base: httpx.URL) -> None:
        self._inner, self._param, self._key = inner, param, key
        self._origin = (base.scheme, base.host, base.port)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (url.scheme, url.host, url.port) == self._origin:
            request = httpx.Request(
                request.method,
                url.copy_add_param(self._param, self._key),
                headers=request.headers,
                stream=request.stream,
                extensions=request.extensions,
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True, slots=True)
class _Retryable:
    """An attempt worth repeating: a 429 or 5xx (``status``), or no answer at all (``status`` None)."""

    status: int | None
    reason: str
    retry_after: float | None = None


class SourceHttp:
    """GET with pacing, retries and bounds, for one source."""

    def __init__(
        self,
        config: SourceConfig,
        pacer: Pacer,
        *,
        accept: str,
        max_connections: int = 2,
        api_key_header: str | None = None,
        api_key_param: str | None = None,
        error_detail: ErrorDetail = json_error_detail,
    ) -> None:
        self._config, self._pacer, self._error_detail = config, pacer, error_detail
        headers = {"User-Agent": user_agent(config.contact_email), "Accept": accept}
        if config.api_key and api_key_header:
            headers[api_key_header] = config.api_key
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(verify=_tls(), limits=limits)
        if config.api_key and api_key_param:
            transport = _ApiKeyParam(transport, api_key_param, config.api_key, httpx.URL(config.url))
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=config.timeout,
            transport=transport,
            follow_redirects=True,
            max_redirects=3,
        )

    @property
    def name(self) -> str:
        return self._config.name

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, url: str, params: Params) -> dict[str, Any]:
        """The JSON object at ``url``; a body that is not one is a ``SourceError``."""
        body = await self.get(url, params)
        try:
            value = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise SourceError(f"bad JSON from {self.name}: {str(exc)[:MAX_DETAIL_CHARS]}") from None
        if not isinstance(value, dict):
            raise SourceError(f"bad JSON from {self.name}: expected an object, got {type(value).__name__}")
        return value

    async def get(self, url: str, params: Params) -> bytes:
        """The body of a 2xx answer, after at most ``max_retries`` retries."""
        retries = max(self._config.max_retries, 0)
        retry = 0
        while True:
            await self._pacer.wait_turn(self.name, self._config.min_interval)
            outcome = await self._attempt(url, params)
            if isinstance(outcome, bytes):
                return outcome
            if retry == retries:
                raise self._gave_up(outcome, retries)
            await self._wait(outcome, retry)
            retry += 1

    async def _attempt(self, url: str, params: Params) -> bytes | _Retryable:
        """One exchange, all of it (connecting, waiting, reading) within ``timeout``: httpx's own
        timeouts bound each step, so a server dripping a byte at a time would hold a request for long."""
        try:
            async with asyncio.timeout(self._config.timeout):
                return await self._exchange(url, params)
        except (httpx.TimeoutException, TimeoutError):
            return _Retryable(None, f"no answer within {self._config.timeout:g} s")
        except httpx.UnsupportedProtocol:
            raise SourceError(f"{self.name}: the configured URL is not http(s)") from None
        except httpx.TransportError as exc:
            return _Retryable(None, f"connection failed ({type(exc).__name__})")
        except httpx.HTTPError as exc:  # an undecodable body, too many redirects
            raise SourceError(f"bad response from {self.name} ({type(exc).__name__})") from None

    async def _exchange(self, url: str, params: Params) -> bytes | _Retryable:
        async with self._client.stream("GET", url, params=params) as response:
            status = response.status_code
            if 200 <= status < 300:
                return await _read_bounded(response, self._config.max_response_bytes, self.name)
            body = await _read_head(response, ERROR_BODY_BYTES)
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status == 429:
            return _Retryable(429, "rate limited", retry_after)
        if status >= 500:
            return _Retryable(status, "server error", retry_after)
        raise self._status_error(status, body)

    async def _wait(self, failure: _Retryable, retry: int) -> None:
        """A 429 pushes the source back for everyone (through the pacer); other failures wait here."""
        cap = self._config.max_backoff
        delay = failure.retry_after
        if delay is None:
            delay = backoff_seconds(retry, self._config.backoff_base, cap)
        delay = min(delay, cap)
        if failure.status == 429:
            await self._pacer.push_back(self.name, delay)
        else:
            await asyncio.sleep(delay)

    def _gave_up(self, failure: _Retryable, retries: int) -> SourceError:
        where = f"HTTP {failure.status} from {self.name}" if failure.status else self.name
        message = f"{where}: {failure.reason}, gave up after {retries} retries"
        if failure.status == 429:
            message += " (source unavailable)"
        return SourceError(message, status=failure.status)

    def _status_error(self, status: int, body: bytes) -> SourceError:
        if status in (401, 403):
            word = "unauthorized" if status == 401 else "forbidden"
            message = f"HTTP {status} from {self.name}: {word} (api key missing or invalid)"
            return SourceError(message, status=status)
        detail = self._error_detail(body)
        message = f"HTTP {status} from {self.name}" + (f": {detail}" if detail else "")
        return SourceError(self._scrub(message), status=status)

    def _scrub(self, text: str) -> str:
        """An answer may echo the request back: never let the key through."""
        key = self._config.api_key
        return text.replace(key, "***") if key else text


async def _read_bounded(response: httpx.Response, limit: int, name: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise SourceError(f"response from {name} over {limit} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:  # counted decoded: a small gzip bomb is stopped too
            raise SourceError(f"response from {name} over {limit} bytes")
    return bytes(body)


async def _read_head(response: httpx.Response, limit: int) -> bytes:
    """The first ``limit`` bytes of a body; the rest is dropped with the connection."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])
