"""A paper's page texts: which papers ``ocr`` reads, storing what it read, and reading it back.

Storing a paper's pages replaces them all in one short transaction, fenced like ``file_attach``, and
queues the paper for the index (``paper_index_queue``): the next ``index`` run re-reads its body.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from taskapi.papers._base import Fence, RepositoryCore
from taskapi.papers.errors import PaperNotFound
from taskapi.papers.texts import OcrTarget, PageText

ENGINES = ("text", "tesseract")
MAX_PAGES = 100_000
MAX_PAGE_CHARS = 1_000_000
"""Longest page text kept (a dense page is a few thousand characters; a longer one is cut)."""
_NO_LIMIT = 2**62


def clean_page_text(text: str) -> str:
    """``text`` as both stores can keep it: no NUL (PostgreSQL refuses it in text), no lone
    surrogates, at most ``MAX_PAGE_CHARS``."""
    text = text.replace("\x00", "")
    if not text.isascii():
        text = text.encode("utf-8", "ignore").decode("utf-8")
    return text[:MAX_PAGE_CHARS]


def page_params(paper_id: int, pages: Sequence[PageText]) -> list[dict[str, Any]]:
    """The rows of ``pages``, checked: page numbers from 1 without repeats, a known engine, a finite
    confidence or none. A wrong page is a caller's bug: ``ValueError`` before anything is written."""
    if len(pages) > MAX_PAGES:
        raise ValueError(f"a paper has at most {MAX_PAGES} pages, got {len(pages)}")
    rows: dict[int, dict[str, Any]] = {}
    for page in pages:
        if isinstance(page.page, bool) or not isinstance(page.page, int) or page.page < 1:
            raise ValueError(f"page numbers count from 1, got {page.page!r}")
        if page.page in rows:
            raise ValueError(f"page {page.page} is given twice")
        if page.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {page.engine!r}")
        confidence = page.confidence
        if confidence is not None and not math.isfinite(confidence):
            raise ValueError(f"confidence must be a finite number or None, got {confidence!r}")
        rows[page.page] = {
            "paper_id": paper_id,
            "page": page.page,
            "text": clean_page_text(str(page.text)),
            "engine": page.engine,
            "confidence": None if confidence is None else float(confidence),
        }
    return [rows[number] for number in sorted(rows)]


def _target(row: Mapping[str, Any]) -> OcrTarget:
    return OcrTarget(paper_id=int(row["paper_id"]), sha256=row["sha256"], path=row["path"])


class TextMethods(RepositoryCore):
    """The page-text methods of ``PapersRepository``."""

    def ocr_targets(
        self, project_id: int, paper_ids: Sequence[int] | None, *, limit: int | None = None
    ) -> list[OcrTarget]:
        """The papers whose PDF ``ocr`` reads, at most ``limit``: with ``paper_ids`` None every
        non-duplicate paper of the project with a stored PDF and no text yet, by id; else those of
        ``paper_ids`` that are the project's and have a stored PDF (text or not), in that order."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be at least 0, got {limit}")
        bound = _NO_LIMIT if limit is None else limit
        if paper_ids is None:
            with self._store.reading() as tx:
                rows = tx.fetch(self._queries["ocr_targets"], {"project_id": project_id, "limit": bound})
            return [_target(row) for row in rows]
        wanted = list(dict.fromkeys(paper_ids))
        params = {"project_id": project_id, "ids": self._codec.array(wanted)}
        with self._store.reading() as tx:
            by_id = {row["paper_id"]: row for row in tx.fetch(self._queries["ocr_targets_of"], params)}
        return [_target(by_id[paper_id]) for paper_id in wanted if paper_id in by_id][:bound]

    def text_store(self, paper_id: int, pages: Sequence[PageText], *, fence: Fence | None) -> None:
        """Replace the paper's page texts with ``pages`` (none: the paper has no text) and queue it for
        the index. ``PaperNotFound`` if there is no such paper; ``FenceLost`` (nothing written) when
        the task is no longer running at this attempt."""
        rows = page_params(paper_id, pages)
        with self._store.transaction() as tx:
            self._guard(tx, fence, None)
            if tx.execute(self._queries["text_enqueue"], {"paper_id": paper_id}) == 0:
                raise PaperNotFound(paper_id)
            tx.execute(self._queries["text_delete"], {"paper_id": paper_id})
            if rows:
                tx.execute_many(self._queries["text_insert"], rows)

    def paper_text(self, paper_id: int) -> list[PageText]:
        """The paper's page texts in page order; ``[]`` when it has none (or there is no such paper)."""
        with self._store.reading() as tx:
            rows = tx.fetch(self._queries["text_pages"], {"paper_id": paper_id})
        return [
            PageText(
                page=int(row["page"]),
                text=row["text"],
                engine=row["engine"],
                confidence=None if row["confidence"] is None else float(row["confidence"]),
            )
            for row in rows
        ]

    def text_summary(self, paper_id: int) -> dict[str, Any] | None:
        """``{"pages": n, "chars": n, "engines": {"text": n, "tesseract": m}}`` (pages per engine), or
        ``None`` when the paper has no stored text."""
        with self._store.reading() as tx:
            rows = tx.fetch(self._queries["text_summary"], {"paper_id": paper_id})
        if not rows:
            return None
        engines = dict.fromkeys(ENGINES, 0)
        engines.update({str(row["engine"]): int(row["pages"]) for row in rows})
        return {
            "pages": sum(engines.values()),
            "chars": sum(int(row["chars"] or 0) for row in rows),
            "engines": engines,
        }
