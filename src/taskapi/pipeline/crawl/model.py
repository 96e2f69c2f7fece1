"""What ``crawl`` is asked (``CrawlJob``, ``CrawlOptions``) and what it answers (``CrawlOutcome``)."""

from __future__ import annotations

from dataclasses import dataclass

from taskapi.papers.files import StoredFile

NOT_PDF = "not_pdf"
TOO_LARGE = "too_large"
TIMEOUT = "timeout"
CONNECTION = "connection"
BLOCKED_ADDRESS = "blocked_address"
REASONS = (NOT_PDF, TOO_LARGE, TIMEOUT, CONNECTION, BLOCKED_ADDRESS)
"""The failure reasons besides ``http_<status>`` (``http_404``, ``http_403``, ...)."""


def http_reason(status: int) -> str:
    """The reason for an answer that is neither a PDF nor a redirect we could follow."""
    return f"http_{status}"


@dataclass(frozen=True, slots=True)
class CrawlJob:
    """One paper to fetch: its PDF candidates, best first, and its DOI for an Unpaywall lookup when it
    has no candidate."""

    paper_id: int
    candidates: tuple[str, ...]
    doi: str | None = None


@dataclass(frozen=True, slots=True)
class CrawlOutcome:
    """How one job ended.

    ``stored`` set: downloaded (``url`` the candidate it came from, ``content_type`` as served).
    ``reason`` set: failed, ``url`` the last candidate tried. Both ``None``: no URL to try (no
    candidate and no Unpaywall hit), the result's ``skipped_no_url``.
    """

    paper_id: int
    url: str | None
    stored: StoredFile | None
    reason: str | None
    content_type: str | None = None

    @property
    def downloaded(self) -> bool:
        return self.stored is not None

    @property
    def skipped(self) -> bool:
        return self.stored is None and self.reason is None


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    """How to crawl.

    ``timeout_s`` bounds one candidate's download, connect to last byte over every redirect hop (the
    wait for a host's turn is not counted). ``host_interval`` is the minimum time between two request
    starts to one host (``host:port``); ``max_hosts`` how many hosts are downloaded from at once (one
    connection each). ``allow_private`` lifts the address check (tests on 127.0.0.1);
    ``allow_networks`` (CIDR texts) exempts only those networks from it (an intranet repository).
    ``unpaywall_url`` and ``contact_email`` both set enable the Unpaywall lookup.
    """

    max_bytes: int = 50_000_000
    timeout_s: float = 60.0
    allow_private: bool = False
    host_interval: float = 1.0
    max_hosts: int = 8
    user_agent: str = "taskapi"
    unpaywall_url: str | None = None
    contact_email: str | None = None
    allow_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.timeout_s <= 0 or self.host_interval < 0 or self.max_hosts < 1:
            raise ValueError(f"crawl options out of range: {self}")

    @property
    def unpaywall_enabled(self) -> bool:
        return bool(self.unpaywall_url and self.contact_email)
