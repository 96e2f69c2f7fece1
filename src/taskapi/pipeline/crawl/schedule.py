"""Many jobs across many hosts: ``crawl``.

Work is queued in lanes, one lane per host (``host:port``) of the URL a job tries next, plus one lane
for Unpaywall lookups; at most ``max_hosts`` lanes run at once, each one job at a time, so downloads
to different hosts overlap and one host never sees two connections from us. A job whose candidate
fails moves to the lane of its next candidate's host; one found by a lookup moves to its first PDF
URL's lane. (A redirect to another host takes that host's turn for that hop only: see ``gates``.)

``on_outcome`` is awaited once per job as soon as it ends, one call at a time. If it raises, the
in-flight downloads are cancelled (their temporary files removed) and the exception propagates as
itself; a cancel of the caller does the same.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx

from taskapi.papers.files import FileStore
from taskapi.pipeline.crawl.fetch import Fetcher, download_client
from taskapi.pipeline.crawl.gates import HostGates, host_key
from taskapi.pipeline.crawl.guard import Guard
from taskapi.pipeline.crawl.model import CrawlJob, CrawlOptions, CrawlOutcome
from taskapi.pipeline.crawl.unpaywall import Unpaywall, unpaywall_client

MAX_CANDIDATES = 16
"""Candidates tried per paper at most (the sources' data is not trusted to be short)."""
LOOKUP_LANE = "<unpaywall>"
INVALID_LANE = "<invalid>"

OnOutcome = Callable[[CrawlOutcome], Awaitable[None]]


@dataclass(slots=True)
class _Work:
    """A job on its way: the candidates left, whether Unpaywall was asked, the last failure."""

    job: CrawlJob
    candidates: tuple[str, ...]
    next: int = 0
    looked_up: bool = False
    failed_url: str | None = None
    reason: str | None = None

    def outcome(self) -> CrawlOutcome:
        return CrawlOutcome(self.job.paper_id, self.failed_url, None, self.reason)


def _lane_of(url: str) -> str:
    try:
        return host_key(httpx.URL(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return INVALID_LANE  # refused at once by the fetcher


class _Lanes:
    """Work queued per lane; a runner per lane with work, at most ``limit`` at once."""

    def __init__(
        self, group: asyncio.TaskGroup, limit: int, step: Callable[[_Work], Awaitable[None]]
    ) -> None:
        self._group = group
        self._limit = limit
        self._step = step
        self._queues: dict[str, deque[_Work]] = {}
        self._running: set[str] = set()
        self._waiting: deque[str] = deque()

    def put(self, lane: str, work: _Work) -> None:
        self._queues.setdefault(lane, deque()).append(work)
        if lane not in self._running and lane not in self._waiting:
            self._waiting.append(lane)
        self._start()

    def _start(self) -> None:
        while self._waiting and len(self._running) < self._limit:
            lane = self._waiting.popleft()
            self._running.add(lane)
            self._group.create_task(self._run(lane), name=f"crawl lane {lane}")

    async def _run(self, lane: str) -> None:
        queue = self._queues[lane]
        while queue:
            await self._step(queue.popleft())
        del self._queues[lane]
        self._running.discard(lane)
        self._start()


class _Crawl:
    """One ``crawl`` call's state: the fetcher, the lookup, the lanes, the outcome callback."""

    def __init__(self, fetcher: Fetcher, unpaywall: Unpaywall | None, on_outcome: OnOutcome) -> None:
        self._fetcher = fetcher
        self._unpaywall = unpaywall
        self._on_outcome = on_outcome
        self._emitting = asyncio.Lock()
        self._stopping = False

    async def run(self, jobs: Sequence[CrawlJob], max_lanes: int) -> None:
        async with asyncio.TaskGroup() as group:
            self._lanes = _Lanes(group, max_lanes, self._step)
            for job in jobs:
                given = (c.strip() for c in job.candidates if isinstance(c, str))
                candidates = tuple(dict.fromkeys(c for c in given if c))
                await self._route(_Work(job, candidates[:MAX_CANDIDATES]))

    def _next_lane(self, work: _Work) -> str | None:
        if work.next < len(work.candidates):
            return _lane_of(work.candidates[work.next])
        if self._unpaywall and work.job.doi and not work.looked_up and not work.job.candidates:
            return LOOKUP_LANE
        return None

    async def _route(self, work: _Work) -> None:
        """Queue the work's next step, or report it when it has none left."""
        lane = self._next_lane(work)
        if lane is None:
            await self._emit(work.outcome())
        else:
            self._lanes.put(lane, work)

    async def _step(self, work: _Work) -> None:
        if work.next < len(work.candidates):
            await self._attempt(work)
        else:
            await self._look_up(work)

    async def _attempt(self, work: _Work) -> None:
        url = work.candidates[work.next]
        work.next += 1
        fetched = await self._fetcher.fetch(url)
        if fetched.stored is not None:
            outcome = CrawlOutcome(work.job.paper_id, url, fetched.stored, None, fetched.content_type)
            await self._emit(outcome)
            return
        work.failed_url, work.reason = url, fetched.reason
        await self._route(work)

    async def _look_up(self, work: _Work) -> None:
        assert self._unpaywall is not None and work.job.doi is not None  # _next_lane's condition
        work.looked_up = True
        found = await self._unpaywall.lookup(work.job.doi)
        work.candidates, work.next = found.candidates, 0
        if found.reason is not None:
            work.failed_url, work.reason = found.url, found.reason
        await self._route(work)

    async def _emit(self, outcome: CrawlOutcome) -> None:
        async with self._emitting:
            if self._stopping:  # on_outcome raised: the task group is cancelling this lane too
                return
            try:
                await self._on_outcome(outcome)
            except BaseException:
                self._stopping = True
                raise


async def crawl(
    jobs: Sequence[CrawlJob], files: FileStore, options: CrawlOptions, on_outcome: OnOutcome
) -> None:
    """Fetch every job's PDF into ``files``; ``on_outcome`` hears of each job once, as soon as it ends.

    An exception of ``on_outcome`` (or a cancel) stops everything and propagates unchanged.
    """
    guard = Guard.build(options.allow_private, options.allow_networks)
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(download_client(options, guard))
        fetcher = Fetcher(client, files, HostGates(options.host_interval), options)
        unpaywall = None
        if options.unpaywall_url and options.contact_email:
            lookups = await stack.enter_async_context(unpaywall_client(options.user_agent, options.timeout_s))
            unpaywall = Unpaywall(lookups, options.unpaywall_url, options.contact_email, options.timeout_s)
        try:
            await _Crawl(fetcher, unpaywall, on_outcome).run(jobs, options.max_hosts)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:  # the one error (on_outcome's) as itself, not in a group
                raise group.exceptions[0] from None
            raise
