"""What the source tests share: a fast config pointed at the replay server, and running a search."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from taskapi.papers.records import PaperRecord
from taskapi.pipeline.sources import LocalPacer, Pacer, SearchQuery, SourceConfig, SourceError, open_source
from tests.pipeline.source_server import FIXTURES, ServedRequest, SourceServer

CONTACT = "team@example.org"


def fast_config(server: SourceServer, name: str, **overrides: Any) -> SourceConfig:
    """``name``'s config on the replay server, with no interval and millisecond backoff: fast tests."""
    settings: dict[str, Any] = {
        "min_interval": 0.0,
        "timeout": 5.0,
        "max_retries": 2,
        "backoff_base": 0.01,
        "max_backoff": 1.0,
        "contact_email": CONTACT,
    }
    return SourceConfig(name=name, url=server.url(name), **(settings | overrides))


def search(config: SourceConfig, query: SearchQuery, pacer: Pacer | None = None) -> list[list[PaperRecord]]:
    """Every page ``pages(query)`` yields, through the production client."""

    async def run() -> list[list[PaperRecord]]:
        async with open_source(config, pacer or LocalPacer()) as source:
            return [page async for page in source.pages(query)]

    return asyncio.run(run())


def records(config: SourceConfig, query: SearchQuery) -> list[PaperRecord]:
    return [record for page in search(config, query) for record in page]


def search_error(config: SourceConfig, query: SearchQuery) -> str:
    """The text of the ``SourceError`` the search ends with (fails the test if it ends without one)."""
    with pytest.raises(SourceError) as caught:
        search(config, query)
    return str(caught.value)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(Path(FIXTURES / name).read_text())


def gaps(requests: list[ServedRequest]) -> list[float]:
    """Seconds between consecutive requests' arrivals, as the server saw them."""
    return [later.at - earlier.at for earlier, later in pairwise(requests)]
