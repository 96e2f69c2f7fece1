"""The papers library: each project's papers (``PaperRecord`` in, ``Paper`` out), kept in the task
store's database by ``PapersRepository`` and migrated with ``PAPERS_COMPONENT``."""

from __future__ import annotations

from taskapi.papers._search import EmptyQuery, InvalidQuery
from taskapi.papers.records import Paper, PaperFile, PaperRecord
from taskapi.papers.repository import (
    PAPERS_COMPONENT,
    CrawlTarget,
    Fence,
    FenceLost,
    ImportResult,
    IndexedDocument,
    IndexResult,
    OcrTarget,
    PageText,
    PaperCursor,
    PapersRepository,
    decode_paper_cursor,
    encode_paper_cursor,
    next_paper_cursor,
)
from taskapi.papers.texts import SearchHit

__all__ = [
    "PAPERS_COMPONENT",
    "CrawlTarget",
    "EmptyQuery",
    "Fence",
    "FenceLost",
    "ImportResult",
    "IndexResult",
    "IndexedDocument",
    "InvalidQuery",
    "OcrTarget",
    "PageText",
    "Paper",
    "PaperCursor",
    "PaperFile",
    "PaperRecord",
    "PapersRepository",
    "SearchHit",
    "decode_paper_cursor",
    "encode_paper_cursor",
    "next_paper_cursor",
]
