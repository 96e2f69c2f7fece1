"""One PDF's pages as text: the text layer where it has enough, Tesseract where it has not.

``engine`` decides per page: ``text`` keeps the text layer whatever it holds, ``auto`` renders and reads
with Tesseract every page whose text layer has fewer than ``min_chars_per_page`` visible characters
(a scan, a figure-only page) and keeps the layer if Tesseract sees even less, ``tesseract`` reads
every page. A page Tesseract cannot read keeps its
text layer and says why (``missing``); only a document that does not open at all fails as a whole.
This module knows nothing of the library: the handler stores what it answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pypdfium2 import PdfDocument, PdfPage  # type: ignore[import-untyped]

from taskapi.pipeline.ocr.extract import (
    PdfUnreadable,
    clean_text,
    open_pdf,
    opened_page,
    render_page,
    text_layer,
    visible_chars,
)
from taskapi.pipeline.ocr.tesseract import OCR_UNAVAILABLE, OcrFailed, Tesseract

AUTO, TEXT, TESSERACT = "auto", "text", "tesseract"
ENGINES = (AUTO, TEXT, TESSERACT)
PAGE_ENGINES = (TEXT, TESSERACT)
"""What produced a stored page: its text layer or Tesseract."""
MAX_DETAIL_CHARS = 300


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a document (the task's params)."""

    engine: str = AUTO
    min_chars_per_page: int = 50
    dpi: int = 200
    max_pages: int = 300


@dataclass(frozen=True, slots=True)
class PageRead:
    """One page's text. ``page`` counts from 1; ``engine`` is ``text`` or ``tesseract``; ``confidence``
    is Tesseract's mean word confidence (0 to 100), None for the text layer. ``missing`` is why a page
    did not get what it needed (``ocr_unavailable``, ``ocr_timeout``, ``ocr_error``, ``render_failed``,
    ``page_unreadable``), with ``detail``; None for a page read as wanted."""

    page: int
    text: str
    engine: str
    confidence: float | None = None
    missing: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentRead:
    """The pages read (at most ``max_pages``) and how many the document has."""

    pages: tuple[PageRead, ...]
    page_count: int

    @property
    def pages_beyond_limit(self) -> int:
        return self.page_count - len(self.pages)


def _no_progress() -> None:
    return None


def read_document(
    path: Path, options: ReadOptions, ocr: Tesseract, on_page: Callable[[], None] = _no_progress
) -> DocumentRead:
    """Read the first ``options.max_pages`` pages of the PDF at ``path``, calling ``on_page()`` after
    each (the handler reports progress there, and a cancel stops the reading there). Raises
    ``PdfUnreadable`` when the document does not open (encrypted, broken, empty)."""
    with open_pdf(path) as document:
        count = len(document)
        pages = []
        for index in range(min(count, options.max_pages)):
            pages.append(read_page(document, index, options, ocr))
            on_page()
    return DocumentRead(pages=tuple(pages), page_count=count)


def read_page(document: PdfDocument, index: int, options: ReadOptions, ocr: Tesseract) -> PageRead:
    """Page ``index`` (0-based) of ``document``, read as ``options`` says."""
    number = index + 1
    try:
        with opened_page(document, index) as page:
            layer = text_layer(page)
            if not needs_ocr(layer, options):
                return PageRead(number, layer, TEXT)
            problem = ocr.problem()
            if problem is not None:
                return PageRead(number, layer, TEXT, missing=OCR_UNAVAILABLE, detail=problem)
            return _ocr_page(page, number, layer, options, ocr)
    except PdfUnreadable as exc:
        return PageRead(number, "", TEXT, missing=exc.reason, detail=_short(exc.detail))


def needs_ocr(layer: str, options: ReadOptions) -> bool:
    """Whether a page whose text layer is ``layer`` goes to Tesseract."""
    if options.engine == TEXT:
        return False
    return options.engine == TESSERACT or visible_chars(layer) < options.min_chars_per_page


def _ocr_page(page: PdfPage, number: int, layer: str, options: ReadOptions, ocr: Tesseract) -> PageRead:
    """Tesseract's reading of the page; its text layer, and why, when Tesseract could not read it."""
    try:
        image, dpi = render_page(page, options.dpi)
        read = ocr.read(image, dpi)
    except (PdfUnreadable, OcrFailed) as exc:
        return PageRead(number, layer, TEXT, missing=exc.reason, detail=_short(exc.detail))
    text = clean_text(read.text).strip()
    if options.engine == AUTO and visible_chars(text) < visible_chars(layer):
        return PageRead(number, layer, TEXT)  # Tesseract saw less than the little the layer has
    return PageRead(number, text, TESSERACT, confidence=read.confidence)


def _short(detail: str) -> str:
    return detail[:MAX_DETAIL_CHARS]
