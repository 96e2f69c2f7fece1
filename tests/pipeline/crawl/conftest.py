"""Fixtures of the crawl tests: a file store in the test's directory, PDF servers, a crawl runner."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from taskapi.papers.files import LocalFileStore
from taskapi.pipeline.crawl import CrawlJob, CrawlOptions, CrawlOutcome, crawl
from tests.pipeline.crawl.pdf_server import PdfServer, pdf_servers

FAST = CrawlOptions(timeout_s=5.0, allow_private=True, host_interval=0.0, max_bytes=1_000_000)
"""Options of most tests: servers on loopback allowed, no politeness wait."""


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "data")


@pytest.fixture
def server() -> Iterator[PdfServer]:
    with PdfServer() as started:
        yield started


@pytest.fixture
def servers() -> Iterator[list[PdfServer]]:
    with pdf_servers(3) as started:
        yield started


def run_crawl(
    jobs: Sequence[CrawlJob], store: LocalFileStore, options: CrawlOptions = FAST, **changes: Any
) -> list[CrawlOutcome]:
    """Crawl ``jobs`` to the end; the outcomes in the order ``on_outcome`` heard them."""
    outcomes: list[CrawlOutcome] = []

    async def keep(outcome: CrawlOutcome) -> None:
        outcomes.append(outcome)

    asyncio.run(crawl(jobs, store, replace(options, **changes), keep))
    return outcomes


def one(url: str, store: LocalFileStore, **changes: Any) -> CrawlOutcome:
    """The outcome of crawling one paper (id 1) with the single candidate ``url``."""
    (outcome,) = run_crawl([CrawlJob(1, (url,))], store, **changes)
    return outcome
