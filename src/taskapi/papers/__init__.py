"""The papers library: each project's papers (``PaperRecord`` in, ``Paper`` out), kept in the task
store's database by ``PapersRepository`` and migrated with ``PAPERS_COMPONENT``."""

from __future__ import annotations

from taskapi.papers.records import Paper, PaperFile, PaperRecord
from taskapi.papers.repository import (
    PAPERS_COMPONENT,
    CrawlTarget,
    Fence,
    FenceLost,
    ImportResult,
    PaperCursor,
    PapersRepository,
    decode_paper_cursor,
    encode_paper_cursor,
    next_paper_cursor,
)

__all__ = [
    "PAPERS_COMPONENT",
    "CrawlTarget",
    "Fence",
    "FenceLost",
    "ImportResult",
    "Paper",
    "PaperCursor",
    "PaperFile",
    "PaperRecord",
    "PapersRepository",
    "decode_paper_cursor",
    "encode_paper_cursor",
    "next_paper_cursor",
]
