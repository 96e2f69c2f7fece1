"""What the search handler hands a source (``SourceConfig``, ``SearchQuery``) and what a source raises
when it cannot answer (``SourceError``). Imports nothing of ours."""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE_NAMES = ("semantic_scholar", "arxiv", "openalex", "crossref")
MAX_RESPONSE_BYTES = 20_000_000
"""Largest body read from a source (a page of 1,000 Semantic Scholar records is about 3 MB)."""


@dataclass(frozen=True)
class SourceConfig:
    """One source's deployment settings, built by the composition root from the settings.

    ``min_interval`` is the source's own rule (seconds between two requests, for the whole deployment:
    the ``Pacer`` enforces it); ``max_retries`` bounds retries of one request on 429, 5xx, timeouts and
    dropped connections; waits grow ``backoff_base * 2**retry`` up to ``max_backoff``, which also caps
    a ``Retry-After``. ``api_key`` is kept out of ``repr`` so a logged config never shows it.
    """

    name: str
    url: str
    api_key: str | None = field(default=None, repr=False)
    contact_email: str | None = None
    min_interval: float = 1.0
    timeout: float = 30.0
    max_retries: int = 4
    backoff_base: float = 1.0
    max_backoff: float = 60.0
    max_response_bytes: int = MAX_RESPONSE_BYTES


@dataclass(frozen=True)
class SearchQuery:
    """One search of one source: the query text, at most ``limit`` records, an optional publication
    year range (either bound may be open) and whether only records with an open PDF are wanted."""

    query: str
    limit: int
    year_from: int | None = None
    year_to: int | None = None
    open_access_only: bool = False


class SourceError(Exception):
    """A source could not answer. ``str()`` is what ``by_source.<name>.error`` shows: short, says what
    happened, never holds a secret. ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
