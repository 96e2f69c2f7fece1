"""The papers library: each project's papers (``PaperRecord`` in, ``Paper`` out), kept in the task
store's database by ``PapersRepository`` and migrated with ``PAPERS_COMPONENT``.

Each name is imported on first use (PEP 562): ``taskapi.papers.records`` alone (what the HTTP
client names) loads no store module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskapi._lazy import lazy_names

if TYPE_CHECKING:
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

_HOMES = {
    "CrawlTarget": "taskapi.papers.repository",
    "EmptyQuery": "taskapi.papers._search",
    "Fence": "taskapi.papers.repository",
    "FenceLost": "taskapi.papers.repository",
    "ImportResult": "taskapi.papers.repository",
    "IndexResult": "taskapi.papers.repository",
    "IndexedDocument": "taskapi.papers.repository",
    "InvalidQuery": "taskapi.papers._search",
    "OcrTarget": "taskapi.papers.repository",
    "PAPERS_COMPONENT": "taskapi.papers.repository",
    "PageText": "taskapi.papers.repository",
    "Paper": "taskapi.papers.records",
    "PaperCursor": "taskapi.papers.repository",
    "PaperFile": "taskapi.papers.records",
    "PaperRecord": "taskapi.papers.records",
    "PapersRepository": "taskapi.papers.repository",
    "SearchHit": "taskapi.papers.texts",
    "decode_paper_cursor": "taskapi.papers.repository",
    "encode_paper_cursor": "taskapi.papers.repository",
    "next_paper_cursor": "taskapi.papers.repository",
}

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


__getattr__ = lazy_names(__name__, _HOMES, globals())
