"""``crawl``: fetch papers' open-access PDFs into the file store, safely (only public addresses, at
every redirect hop), boundedly (``max_bytes``, ``timeout_s``) and politely (one connection per host,
a minimum interval between requests to it).

``guard`` checks addresses, ``gates`` keeps the per-host turns, ``fetch`` downloads one URL,
``unpaywall`` finds a DOI's open PDFs, ``schedule`` runs many jobs across hosts.
"""

from taskapi.pipeline.crawl.model import (
    BLOCKED_ADDRESS,
    CONNECTION,
    NOT_PDF,
    REASONS,
    TIMEOUT,
    TOO_LARGE,
    CrawlJob,
    CrawlOptions,
    CrawlOutcome,
    http_reason,
)
from taskapi.pipeline.crawl.schedule import crawl

__all__ = [
    "BLOCKED_ADDRESS",
    "CONNECTION",
    "NOT_PDF",
    "REASONS",
    "TIMEOUT",
    "TOO_LARGE",
    "CrawlJob",
    "CrawlOptions",
    "CrawlOutcome",
    "crawl",
    "http_reason",
]
