"""What every source client shares: owning its HTTP client (an async context manager) and turning the
source's own paging into pages of at most ``limit`` records in all, however the source behaves."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Self

from taskapi.papers.records import PaperRecord
from taskapi.pipeline.sources._http import SourceHttp
from taskapi.pipeline.sources.model import SearchQuery, SourceConfig
from taskapi.pipeline.sources.pacing import Pacer

SCAN_FACTOR = 10
"""At most this many times the pages ``limit`` needs are fetched: a source that keeps sending
``next`` with nothing usable (or records we drop) stops there."""


@dataclass(slots=True)
class Budget:
    """How many records the search still wants; read by a source to size its next request."""

    remaining: int


class Source(ABC):
    """A scholarly source's client. Use as ``async with open_source(config, pacer) as source``, then
    ``async for page in source.pages(query)``; leaving the block closes the HTTP client."""

    name: ClassVar[str]
    page_size: ClassVar[int]
    """The most records one request asks for."""

    def __init__(self, config: SourceConfig, pacer: Pacer) -> None:
        self.config = config
        self.base_url = config.url.rstrip("/")
        self.total: int | None = None
        """How many matches the source reported (``None`` before the first page or if it did not say)."""
        self.http = self._open_http(config, pacer)

    @abstractmethod
    def _open_http(self, config: SourceConfig, pacer: Pacer) -> SourceHttp:
        """This source's HTTP client: its Accept, connection count and API key placement."""

    @abstractmethod
    def _raw_pages(self, query: SearchQuery, budget: Budget) -> AsyncGenerator[list[PaperRecord], None]:
        """The source's pages, mapped, until its last page; sized by ``budget.remaining``."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def pages(self, query: SearchQuery) -> AsyncIterator[list[PaperRecord]]:
        """Each page's usable records (normalised, not empty, with a PDF candidate when only open
        access is wanted), stopping at ``query.limit`` records, the last page, or the scan bound."""
        budget = Budget(max(query.limit, 0))
        if budget.remaining == 0:
            return
        max_pages = SCAN_FACTOR * math.ceil(query.limit / self.page_size_for(query))
        async with aclosing(self._raw_pages(query, budget)) as raw_pages:
            fetched = 0
            async for raw in raw_pages:
                fetched += 1
                kept = [r for r in raw if _usable(r, query)][: budget.remaining]
                budget.remaining -= len(kept)
                if kept:
                    yield kept
                if budget.remaining <= 0 or fetched >= max_pages:
                    return

    def page_size_for(self, query: SearchQuery) -> int:
        """The most records one request of this search asks for."""
        return self.page_size

    def request_size(self, query: SearchQuery, budget: Budget) -> int:
        """Records to ask for next: what is still wanted, or a full page when records get dropped."""
        page = self.page_size_for(query)
        return page if query.open_access_only else max(1, min(page, budget.remaining))


def _usable(record: PaperRecord, query: SearchQuery) -> bool:
    if record.is_empty:
        return False
    return bool(record.pdf_candidates) or not query.open_access_only
