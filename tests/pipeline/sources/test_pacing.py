"""The pacer: a source's minimum interval kept between requests, a 429 pushing the next turn back for
everyone, and the clients asking for a turn before every request, retries included."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

from taskapi.pipeline.sources import LocalPacer, SearchQuery
from tests.pipeline.source_server import SourceServer
from tests.pipeline.sources.support import fast_config, gaps, records, search


def test_local_pacer_keeps_the_interval_between_concurrent_callers() -> None:
    async def run() -> list[float]:
        pacer, turns = LocalPacer(), []

        async def take() -> None:
            await pacer.wait_turn("arxiv", 0.05)
            turns.append(time.monotonic())

        await asyncio.gather(*(take() for _ in range(4)))
        return turns

    turns = asyncio.run(run())
    assert all(later - earlier >= 0.05 for earlier, later in pairwise(turns))


def test_local_pacer_keeps_sources_apart() -> None:
    async def run() -> float:
        pacer = LocalPacer()
        await pacer.wait_turn("arxiv", 10.0)
        started = time.monotonic()
        await pacer.wait_turn("crossref", 10.0)
        return time.monotonic() - started

    assert asyncio.run(run()) < 1, "arXiv's interval does not hold Crossref back"


def test_push_back_delays_the_next_turn_even_for_a_waiting_caller() -> None:
    async def run() -> float:
        pacer = LocalPacer()
        await pacer.wait_turn("openalex", 0.05)
        waiting = asyncio.ensure_future(pacer.wait_turn("openalex", 0.05))
        await pacer.push_back("openalex", 0.3)
        started = time.monotonic()
        await waiting
        return time.monotonic() - started

    assert asyncio.run(run()) >= 0.25


JITTER = 0.03
"""The server stamps arrivals: a request sent on time may arrive this much late (a first connection's
accept and thread start, a loaded machine), which shortens the gap after it as seen by the server."""


def test_a_source_keeps_its_min_interval_between_requests(server: SourceServer) -> None:
    server.set_total(400)
    found = records(fast_config(server, "openalex", min_interval=0.1), SearchQuery("graphs", limit=400))

    assert len(found) == 400
    seen = gaps(server.requests("openalex"))
    assert len(seen) == 3
    assert min(seen) >= 0.1 - JITTER, seen
    assert sum(seen) >= 0.3 - JITTER, seen


class RecordingPacer(LocalPacer):
    """The local pacer, noting each call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, float]] = []

    async def wait_turn(self, source: str, interval: float) -> None:
        self.calls.append(("wait_turn", source, interval))
        await super().wait_turn(source, interval)

    async def push_back(self, source: str, seconds: float) -> None:
        self.calls.append(("push_back", source, seconds))
        await super().push_back(source, seconds)


def test_every_request_waits_its_turn_and_a_429_pushes_back(server: SourceServer) -> None:
    server.fail_next("crossref", status=429, retry_after="0.1")
    server.fail_next("crossref", status=500)
    pacer = RecordingPacer()
    search(fast_config(server, "crossref", min_interval=0.01), SearchQuery("graphs", limit=5), pacer)

    assert len(server.requests("crossref")) == 3
    assert pacer.calls == [
        ("wait_turn", "crossref", 0.01),
        ("push_back", "crossref", 0.1),
        ("wait_turn", "crossref", 0.01),
        ("wait_turn", "crossref", 0.01),
    ], "a 5xx waits on its own; only a 429 pushes back the others"
