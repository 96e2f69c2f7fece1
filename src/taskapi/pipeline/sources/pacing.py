"""Who may send the next request to a source, and when.

A source's minimum interval is its rule for the whole deployment, so the clients never sleep on their
own account: before every request they ask a ``Pacer`` for their turn, and a 429 pushes the next turn
back for everyone. The store-backed pacer (one atomic update per request) makes that hold across
workers and hosts; ``LocalPacer`` is the same rule inside one event loop, for tests and single
processes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Pacer(Protocol):
    """The next allowed request time per source."""

    async def wait_turn(self, source: str, interval: float) -> None:
        """Return when ``source`` may be sent a request; the one after waits ``interval`` more."""
        ...

    async def push_back(self, source: str, seconds: float) -> None:
        """No request to ``source`` for ``seconds`` from now, whoever sends it (a 429 answered)."""
        ...


class LocalPacer:
    """``Pacer`` for one event loop: a lock per source and the monotonic clock.

    The lock makes callers take turns in arrival order; the waiting loop re-reads the next allowed
    time after each sleep, so a ``push_back`` that arrives meanwhile is honoured too.
    """

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait_turn(self, source: str, interval: float) -> None:
        lock = self._locks.setdefault(source, asyncio.Lock())
        async with lock:
            while (delay := self._next.get(source, 0.0) - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            self._next[source] = time.monotonic() + max(interval, 0.0)

    async def push_back(self, source: str, seconds: float) -> None:
        later = time.monotonic() + max(seconds, 0.0)
        self._next[source] = max(self._next.get(source, 0.0), later)
