"""``ocr``: the text of every page of a PDF, from its text layer, or from Tesseract where the layer has
too little (a scan).

``extract`` reads PDFs with pypdfium2 (open, text layer, render), ``tesseract`` runs Tesseract on a page
image, ``document`` decides per page and reads a whole document. Nothing here touches the library.
"""

from taskapi.pipeline.ocr.document import (
    AUTO,
    ENGINES,
    PAGE_ENGINES,
    TESSERACT,
    TEXT,
    DocumentRead,
    PageRead,
    ReadOptions,
    needs_ocr,
    read_document,
    read_page,
)
from taskapi.pipeline.ocr.extract import (
    BROKEN,
    EMPTY,
    ENCRYPTED,
    MAX_PAGE_CHARS,
    PAGE_UNREADABLE,
    RENDER_FAILED,
    UNREADABLE,
    PdfUnreadable,
    open_pdf,
    page_count,
    render_page,
    render_scale,
    text_layer,
)
from taskapi.pipeline.ocr.tesseract import (
    OCR_ERROR,
    OCR_TIMEOUT,
    OCR_UNAVAILABLE,
    OcrFailed,
    OcrText,
    Tesseract,
    mean_word_confidence,
)

__all__ = [
    "AUTO",
    "BROKEN",
    "EMPTY",
    "ENCRYPTED",
    "ENGINES",
    "MAX_PAGE_CHARS",
    "OCR_ERROR",
    "OCR_TIMEOUT",
    "OCR_UNAVAILABLE",
    "PAGE_ENGINES",
    "PAGE_UNREADABLE",
    "RENDER_FAILED",
    "TESSERACT",
    "TEXT",
    "UNREADABLE",
    "DocumentRead",
    "OcrFailed",
    "OcrText",
    "PageRead",
    "PdfUnreadable",
    "ReadOptions",
    "Tesseract",
    "mean_word_confidence",
    "needs_ocr",
    "open_pdf",
    "page_count",
    "read_document",
    "read_page",
    "render_page",
    "render_scale",
    "text_layer",
]
