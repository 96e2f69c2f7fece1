"""Unpaywall: where an open copy of a DOI's PDF is, for papers that came without a candidate.

``GET {UNPAYWALL_URL}/{doi}?email=<contact>`` answers the DOI's open-access locations:
``best_oa_location.url_for_pdf`` first, then the other ``oa_locations``' ``url_for_pdf``; 404 means no
open copy is known. The Unpaywall URL is the operator's and trusted (not address-checked, no crawl
guard); the PDF URLs it answers are the sources' kind of data and go through the guard like any other.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from taskapi.pipeline.crawl.gates import HostGates
from taskapi.pipeline.crawl.model import CONNECTION, TIMEOUT, http_reason

LOOKUP_INTERVAL = 0.1
"""Seconds between two lookups: Unpaywall asks for at most 100,000 a day, in bursts of ten a second."""
MAX_ANSWER_BYTES = 1 << 20
"""An Unpaywall answer is a few kB; a longer one is not read."""
MAX_LOCATIONS = 16

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lookup:
    """A lookup's answer: PDF URLs, best first (none for a 404), or why the lookup failed; ``url`` is
    the lookup's URL without its query (the contact address stays out of results)."""

    candidates: tuple[str, ...]
    reason: str | None
    url: str


def pdf_urls(answer: object) -> tuple[str, ...]:
    """The ``url_for_pdf`` of ``best_oa_location`` then of each ``oa_locations`` entry, without
    repeats; any field missing or of another type is skipped."""
    if not isinstance(answer, dict):
        return ()
    locations: list[Any] = [answer.get("best_oa_location")]
    others = answer.get("oa_locations")
    if isinstance(others, list):
        locations += others
    urls = (place.get("url_for_pdf") for place in locations if isinstance(place, dict))
    found = [url.strip() for url in urls if isinstance(url, str) and url.strip()]
    return tuple(dict.fromkeys(found))[:MAX_LOCATIONS]


class Unpaywall:
    """Lookups through one client, one at a time (``LOOKUP_INTERVAL`` apart)."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, email: str, timeout_s: float) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._email = email
        self._timeout_s = timeout_s
        self._gates = HostGates(LOOKUP_INTERVAL)

    async def lookup(self, doi: str) -> Lookup:
        url = f"{self._base}/{quote(doi, safe='/')}"
        try:
            async with self._gates.turn(self._base), asyncio.timeout(self._timeout_s):
                status, body = await self._get(url)
        except (TimeoutError, httpx.TimeoutException):
            return Lookup((), TIMEOUT, url)
        except httpx.HTTPError as exc:
            log.warning("Unpaywall lookup of %s failed: %s: %s", doi, type(exc).__name__, exc)
            return Lookup((), CONNECTION, url)
        if status == 404:
            return Lookup((), None, url)
        if status != 200:
            return Lookup((), http_reason(status), url)
        try:
            return Lookup(pdf_urls(json.loads(body)), None, url)
        except ValueError:  # not JSON (or cut at the limit): nothing usable in it
            log.warning("Unpaywall answered %s with something that is not JSON", doi)
            return Lookup((), None, url)

    async def _get(self, url: str) -> tuple[int, bytes]:
        """The status and at most ``MAX_ANSWER_BYTES`` of the body."""
        async with self._client.stream("GET", url, params={"email": self._email}) as response:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    break
            return response.status_code, body


def unpaywall_client(user_agent: str, timeout_s: float) -> httpx.AsyncClient:
    """The client of lookups: the operator's service, so the environment's proxy settings apply."""
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent, "Accept": "application/json"},
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=True,
    )
