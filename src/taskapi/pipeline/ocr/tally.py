"""The figures of an ``ocr`` run, counted paper by paper, and the task's result made from them.

Every page read is counted once: ``pages_total = pages_text_layer + pages_ocr + ocr_unavailable_pages
+ pages_failed``. ``failed`` lists the papers whose PDF did not open (``{"paper_id", "reason",
"detail"}``) and the pages Tesseract could not read (the same with ``page``; the paper's other pages are
stored, that page with its text layer); ``failed_count`` stays exact when the list is cut.
"""

from __future__ import annotations

from typing import Any

from taskapi.pipeline.ocr.document import TESSERACT, DocumentRead
from taskapi.pipeline.ocr.tesseract import OCR_UNAVAILABLE

MAX_LISTED = 10_000
"""Entries of ``failed`` (and papers of ``skipped``) listed at most; the counts stay exact."""


class OcrTally:
    """What a run did so far; ``engine`` is the task's param (``auto``, ``text``, ``tesseract``)."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.papers_processed = 0
        self.pages_total = 0
        self.pages_text_layer = 0
        self.pages_ocr = 0
        self.pages_failed = 0
        self.pages_beyond_max_pages = 0
        self.unavailable_pages = 0
        self.chars = 0
        self.failures = 0
        self.failed: list[dict[str, Any]] = []
        self.unavailable: list[dict[str, Any]] = []

    def paper_failed(self, paper_id: int, reason: str, detail: str | None, page: int | None = None) -> None:
        self.failures += 1
        if len(self.failed) < MAX_LISTED:
            entry: dict[str, Any] = {"paper_id": paper_id, "reason": reason, "detail": detail}
            if page is not None:
                entry["page"] = page
            self.failed.append(entry)

    def paper_read(self, paper_id: int, document: DocumentRead) -> None:
        """Count a paper whose pages were stored."""
        self.papers_processed += 1
        self.pages_beyond_max_pages += document.pages_beyond_limit
        unavailable: list[int] = []
        for page in document.pages:
            self.pages_total += 1
            self.chars += len(page.text)
            if page.engine == TESSERACT:
                self.pages_ocr += 1
            elif page.missing == OCR_UNAVAILABLE:
                unavailable.append(page.page)
            elif page.missing is not None:
                self.pages_failed += 1
                self.paper_failed(paper_id, page.missing, page.detail, page=page.page)
            else:
                self.pages_text_layer += 1
        if unavailable:
            self.unavailable_pages += len(unavailable)
            if len(self.unavailable) < MAX_LISTED:
                self.unavailable.append({"paper_id": paper_id, "pages": unavailable})

    def engine_used(self) -> str:
        """``tesseract`` when Tesseract read any page (or was asked for every page), else ``text``."""
        return TESSERACT if self.pages_ocr or self.engine == TESSERACT else "text"

    def as_result(self, unavailable_because: str | None = None) -> dict[str, Any]:
        """The task's result; ``unavailable_because`` says why pages that needed Tesseract lacked it."""
        result: dict[str, Any] = {
            "papers_processed": self.papers_processed,
            "pages_total": self.pages_total,
            "pages_text_layer": self.pages_text_layer,
            "pages_ocr": self.pages_ocr,
            "chars_extracted": self.chars,
            "engine": self.engine_used(),
            "failed": self.failed,
            "failed_count": self.failures,
        }
        if self.pages_failed:
            result["pages_failed"] = self.pages_failed
        if self.pages_beyond_max_pages:
            result["pages_beyond_max_pages"] = self.pages_beyond_max_pages
        if self.unavailable_pages:
            result["ocr_unavailable_pages"] = self.unavailable_pages
            result["skipped"] = {
                "reason": OCR_UNAVAILABLE,
                "message": f"{self.unavailable_pages} pages needed Tesseract and kept their text layer: "
                f"{unavailable_because or 'Tesseract is not available'}",
                "papers": self.unavailable,
            }
        return result
