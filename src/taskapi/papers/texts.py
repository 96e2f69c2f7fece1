"""The values of the library's text side: a paper's page texts (what ``ocr`` stores), the papers ``ocr``
works on, and what the full-text index answers (``index``, ``GET /api/v1/papers?q=``,
``keyword_expand``).

This module imports nothing of ours: every layer may use these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from taskapi.papers.records import Paper

TextEngine = Literal["text", "tesseract"]
"""Who produced a page's text: the PDF's text layer, or Tesseract reading the rendered page."""
IndexBackend = Literal["sqlite-fts5", "postgres-tsvector"]


@dataclass(frozen=True, slots=True)
class PageText:
    """One page of a paper's extracted text (pages count from 1). ``confidence`` is Tesseract's mean
    word confidence (0..100) for an OCR page, ``None`` for a text-layer page."""

    page: int
    text: str
    engine: str
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class OcrTarget:
    """A paper whose PDF ``ocr`` reads: ``path`` is relative to the file store's root."""

    paper_id: int
    sha256: str
    path: str


@dataclass(frozen=True, slots=True)
class IndexResult:
    """What an ``index`` run did: documents (re)written, documents taken out (papers that became
    duplicates), the engine, and how many of the project's indexed documents have a body (page text)."""

    indexed: int
    removed: int
    backend: IndexBackend
    documents_with_fulltext: int

    def as_result(self) -> dict[str, object]:
        """The ``index`` task's result (PIPELINE.md)."""
        return {
            "indexed": self.indexed,
            "removed": self.removed,
            "backend": self.backend,
            "documents_with_fulltext": self.documents_with_fulltext,
        }


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A paper found by a query: the engine's relevance (higher is better; comparable within one
    answer only) and the passage that matched, HTML-safe, matched words in ``<b>...</b>``."""

    paper: Paper
    score: float
    snippet: str


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    """A paper as the index holds it: title, abstract and body (its pages joined) as indexed, never
    ``None`` (an absent field is ``""``). ``score`` is the query's relevance for ``search_documents``,
    ``0.0`` for ``index_documents``."""

    paper_id: int
    title: str
    abstract: str
    body: str
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class PaperText:
    """A paper's extracted text, page by page, and its length in characters."""

    paper_id: int
    pages: list[PageText]

    @property
    def chars(self) -> int:
        return sum(len(page.text) for page in self.pages)
