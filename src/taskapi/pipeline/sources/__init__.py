"""The scholarly sources of the ``search`` task: Semantic Scholar, arXiv, OpenAlex and Crossref.

One small async client per source (``httpx``), each mapping the source's own field names into
``PaperRecord`` in one place and paging as an async iterator::

    async with open_source(config, pacer) as source:
        async for records in source.pages(SearchQuery("machine learning", limit=100)):
            ...

Every request waits for its turn from the ``Pacer`` (the source's minimum interval, shared by every
worker when the pacer is store-backed) and is retried on 429, 5xx, timeouts and dropped connections,
honouring ``Retry-After`` within bounds; what cannot be answered raises ``SourceError``, whose text is
fit for ``by_source.<name>.error``.
"""

from __future__ import annotations

from taskapi.pipeline.sources._retry import backoff_seconds, retry_after_seconds
from taskapi.pipeline.sources.arxiv import Arxiv, arxiv_search_query, parse_feed, record_from_entry
from taskapi.pipeline.sources.base import Source
from taskapi.pipeline.sources.crossref import Crossref, record_from_crossref
from taskapi.pipeline.sources.model import (
    MAX_RESPONSE_BYTES,
    SOURCE_NAMES,
    SearchQuery,
    SourceConfig,
    SourceError,
)
from taskapi.pipeline.sources.openalex import OpenAlex, record_from_openalex
from taskapi.pipeline.sources.pacing import LocalPacer, Pacer
from taskapi.pipeline.sources.semantic_scholar import SemanticScholar, record_from_s2

_CLIENTS: dict[str, type[Source]] = {c.name: c for c in (SemanticScholar, Arxiv, OpenAlex, Crossref)}

__all__ = [
    "MAX_RESPONSE_BYTES",
    "SOURCE_NAMES",
    "Arxiv",
    "Crossref",
    "LocalPacer",
    "OpenAlex",
    "Pacer",
    "SearchQuery",
    "SemanticScholar",
    "Source",
    "SourceConfig",
    "SourceError",
    "arxiv_search_query",
    "backoff_seconds",
    "open_source",
    "parse_feed",
    "record_from_crossref",
    "record_from_entry",
    "record_from_openalex",
    "record_from_s2",
    "retry_after_seconds",
]


def open_source(config: SourceConfig, pacer: Pacer) -> Source:
    """The client of ``config.name`` (one of ``SOURCE_NAMES``), owning its HTTP client until closed."""
    try:
        client = _CLIENTS[config.name]
    except KeyError:
        known = ", ".join(SOURCE_NAMES)
        raise ValueError(f"unknown source {config.name!r}: expected one of {known}") from None
    return client(config, pacer)
