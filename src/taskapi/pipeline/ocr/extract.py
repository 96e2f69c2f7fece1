"""The PDF side of ``ocr``, with pypdfium2 (PDFium, Apache/BSD; not PyMuPDF, which is AGPL): open a
document, read a page's text layer, render a page for Tesseract.

Every PDF comes from outside, so every figure is bounded: the text kept per page, the pixels of a
render (a page declaring itself 200 inches wide is rendered at a lower resolution, not at 20 GB), and
a document that does not open is a ``PdfUnreadable`` with a short reason, never a crash.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image
from pypdfium2 import PdfDocument, PdfiumError, PdfPage, raw  # type: ignore[import-untyped]

MAX_PAGE_CHARS = 200_000
"""Characters kept of one page's text (a dense page holds about 10,000)."""
MAX_RENDER_SIDE = 10_000
"""Pixels of a render's longer side, at most."""
MAX_RENDER_PIXELS = 50_000_000
"""Pixels of a render, at most (A4 at 600 dpi is 35 million; grey, one byte each)."""
POINTS_PER_INCH = 72.0

ENCRYPTED = "encrypted"
BROKEN = "broken_pdf"
UNREADABLE = "unreadable_file"
EMPTY = "empty_pdf"
PAGE_UNREADABLE = "page_unreadable"
RENDER_FAILED = "render_failed"

_LOAD_REASONS = {
    raw.FPDF_ERR_PASSWORD: ENCRYPTED,
    raw.FPDF_ERR_SECURITY: ENCRYPTED,
    raw.FPDF_ERR_FILE: UNREADABLE,
}
# NUL and the other C0 controls but tab and newline: PostgreSQL refuses NUL in text, and none of them
# is text a reader wants (PDFium marks soft hyphens and breaks with some of them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")


class PdfUnreadable(Exception):
    """A document (or one page of it) that cannot be read; ``reason`` is one short word for a result."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@contextmanager
def open_pdf(path: Path) -> Iterator[PdfDocument]:
    """The document at ``path``, closed afterwards. PDFium reads the file as it needs it, so a large
    PDF is not loaded whole. ``PdfUnreadable`` when it does not open: ``encrypted`` (a user password),
    ``broken_pdf`` (not a PDF, truncated beyond repair), ``unreadable_file``, or ``empty_pdf``."""
    try:
        document = PdfDocument(path)
    except PdfiumError as exc:
        reason = _LOAD_REASONS.get(getattr(exc, "err_code", None), BROKEN)
        raise PdfUnreadable(reason, str(exc)) from None
    except OSError as exc:
        raise PdfUnreadable(UNREADABLE, f"{type(exc).__name__}: {exc.strerror or exc}") from None
    try:
        if len(document) == 0:
            raise PdfUnreadable(EMPTY, "the document has no pages")
        yield document
    finally:
        document.close()


def page_count(path: Path) -> int:
    """How many pages the PDF at ``path`` has (cheap: PDFium reads the page tree, not the pages)."""
    with open_pdf(path) as document:
        return len(document)


@contextmanager
def opened_page(document: PdfDocument, index: int) -> Iterator[PdfPage]:
    """Page ``index`` (0-based), closed afterwards; ``PdfUnreadable(page_unreadable)`` if it does not load."""
    try:
        page = document[index]
    except PdfiumError as exc:
        raise PdfUnreadable(PAGE_UNREADABLE, str(exc)) from None
    try:
        yield page
    finally:
        page.close()


def clean_text(text: str) -> str:
    """Line breaks as ``\\n``, control characters out, at most ``MAX_PAGE_CHARS`` characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)[:MAX_PAGE_CHARS]


def text_layer(page: PdfPage) -> str:
    """The page's own text (empty for a scan), as PDFium orders it, cleaned and capped."""
    try:
        textpage = page.get_textpage()
    except PdfiumError as exc:
        raise PdfUnreadable(PAGE_UNREADABLE, str(exc)) from None
    try:
        count = textpage.count_chars()
        # Only the first characters are asked for: a hostile page of millions costs no more.
        raw = textpage.get_text_range(0, min(count, MAX_PAGE_CHARS)) if count > 0 else ""
    finally:
        textpage.close()
    return clean_text(raw)


def visible_chars(text: str) -> int:
    """Characters that are not white space: what ``min_chars_per_page`` counts."""
    return sum(1 for char in text if not char.isspace())


def render_scale(width_pt: float, height_pt: float, dpi: int) -> float:
    """``dpi`` as PDFium's scale, lowered until the render fits ``MAX_RENDER_SIDE`` and
    ``MAX_RENDER_PIXELS``; 0 for a page without a usable size."""
    if not (math.isfinite(width_pt) and math.isfinite(height_pt)) or width_pt <= 0 or height_pt <= 0:
        return 0.0
    # PDFium rounds sizes up: one pixel of margin a side, one per cent of the area.
    scale = min(dpi / POINTS_PER_INCH, (MAX_RENDER_SIDE - 1) / max(width_pt, height_pt))
    return min(scale, math.sqrt(0.99 * MAX_RENDER_PIXELS / (width_pt * height_pt)))


def render_page(page: PdfPage, dpi: int) -> tuple[Image.Image, float]:
    """The page as a grey image for Tesseract, and the resolution it was rendered at: ``dpi``, or less
    for a page too large for it (see ``render_scale``)."""
    width, height = page.get_size()
    scale = render_scale(width, height, dpi)
    if scale <= 0 or round(width * scale) < 1 or round(height * scale) < 1:
        raise PdfUnreadable(RENDER_FAILED, f"the page has no usable size ({width} x {height} pt)")
    try:
        bitmap = page.render(scale=scale, grayscale=True)
    except PdfiumError as exc:
        raise PdfUnreadable(RENDER_FAILED, str(exc)) from None
    try:
        image: Image.Image = bitmap.to_pil().copy()  # our own pixels: the bitmap's are freed below
    finally:
        bitmap.close()
    return image, scale * POINTS_PER_INCH
