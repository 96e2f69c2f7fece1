"""Politeness per host: one request at a time, and a minimum interval between two request starts.

Every request crawl sends (each redirect hop, each Unpaywall lookup) takes its host's turn for the
time of that one request and no longer, so a hop never holds one host while it waits for another:
no two downloads can wait on each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx


def host_key(url: httpx.URL) -> str:
    """What politeness counts as one host: the name (lower-case) and the port."""
    return f"{url.host.lower()}:{url.port or (443 if url.scheme == 'https' else 80)}"


@dataclass(slots=True)
class _Gate:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0


class HostGates:
    """The turns of every host crawl talks to (in this process)."""

    def __init__(self, interval: float, intervals: dict[str, float] | None = None) -> None:
        self._interval = interval
        self._intervals = dict(intervals or {})
        self._gates: dict[str, _Gate] = {}

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s host for one request: wait for the request before it to end and for the
        interval since its start to pass."""
        gate = self._gates.setdefault(key, _Gate())
        loop = asyncio.get_running_loop()
        async with gate.lock:
            delay = gate.next_start - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            gate.next_start = loop.time() + self._intervals.get(key, self._interval)
            yield
