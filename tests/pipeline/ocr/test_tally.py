"""The ``ocr`` result from what the papers gave: every page counted once, failures listed with their page."""

from __future__ import annotations

from taskapi.pipeline.ocr import DocumentRead, PageRead
from taskapi.pipeline.ocr.tally import OcrTally


def document(*pages: PageRead, page_count: int | None = None) -> DocumentRead:
    return DocumentRead(pages=pages, page_count=len(pages) if page_count is None else page_count)


def test_every_page_is_counted_once_and_page_failures_are_listed_with_their_page() -> None:
    tally = OcrTally("auto")
    tally.paper_read(
        1,
        document(
            PageRead(1, "layer text", "text"),
            PageRead(2, "scanned", "tesseract", confidence=91.0),
            PageRead(3, "", "text", missing="ocr_timeout", detail="took longer than 120 s"),
            PageRead(4, "abc", "text", missing="ocr_unavailable", detail="not installed"),
            page_count=9,
        ),
    )
    tally.paper_failed(2, "encrypted", "Incorrect password error")
    result = tally.as_result("Tesseract is not installed (no program 'tesseract')")
    parts = ("pages_text_layer", "pages_ocr", "pages_failed", "ocr_unavailable_pages")
    assert result["pages_total"] == 4 == sum(result[key] for key in parts)
    assert (result["pages_text_layer"], result["pages_ocr"], result["pages_failed"]) == (1, 1, 1)
    assert result["chars_extracted"] == len("layer text") + len("scanned") + len("abc")
    assert result["engine"] == "tesseract"
    assert result["pages_beyond_max_pages"] == 5
    assert result["failed"] == [
        {"paper_id": 1, "reason": "ocr_timeout", "detail": "took longer than 120 s", "page": 3},
        {"paper_id": 2, "reason": "encrypted", "detail": "Incorrect password error"},
    ]
    assert result["failed_count"] == 2 and result["papers_processed"] == 1
    assert result["skipped"]["papers"] == [{"paper_id": 1, "pages": [4]}]
    assert "not installed" in result["skipped"]["message"]


def test_the_engine_says_text_when_tesseract_read_nothing() -> None:
    tally = OcrTally("auto")
    tally.paper_read(1, document(PageRead(1, "layer", "text")))
    result = tally.as_result()
    assert result["engine"] == "text"
    assert "skipped" not in result and "ocr_unavailable_pages" not in result and "pages_failed" not in result
    assert OcrTally("tesseract").as_result()["engine"] == "tesseract"
