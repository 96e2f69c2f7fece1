"""The extraction alone, on PDFs made here: text layers read back, scanned words read by the real
Tesseract with a confidence, the engines and the threshold, and clear reasons for PDFs that do not open."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

from taskapi.pipeline.ocr import (
    AUTO,
    BROKEN,
    ENCRYPTED,
    MAX_PAGE_CHARS,
    OCR_TIMEOUT,
    OCR_UNAVAILABLE,
    TESSERACT,
    TEXT,
    UNREADABLE,
    PdfUnreadable,
    ReadOptions,
    Tesseract,
    mean_word_confidence,
    open_pdf,
    page_count,
    read_document,
    render_page,
    render_scale,
)
from taskapi.pipeline.ocr.extract import MAX_RENDER_PIXELS, MAX_RENDER_SIDE, clean_text
from tests.pipeline.ocr.pdfs import (
    ABSTRACT,
    SCANNED,
    SCANNED_WORDS,
    make_pdf,
    not_a_pdf,
    truncated,
)

MISSING_TESSERACT = "/nonexistent/bin/tesseract"


def words(text: str) -> set[str]:
    return {w.strip(".,").lower() for w in text.split()}


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Page 1: a text layer; page 2: a scan; page 3: a figure page whose layer says only "Figure 1"."""
    return make_pdf(tmp_path / "mixed.pdf", [("text", ABSTRACT), ("scan", SCANNED), ("text", ["Figure 1"])])


def test_text_layer_pages_are_read_back_as_written_without_tesseract(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "paper.pdf", [("text", ABSTRACT), ("text", ABSTRACT[:2])])
    # Tesseract is not even installed for this reader: a text-layer page never needs it.
    read = read_document(pdf, ReadOptions(), Tesseract(MISSING_TESSERACT))
    assert read.page_count == 2
    assert [p.page for p in read.pages] == [1, 2]
    assert read.pages[0].text == "\n".join(ABSTRACT)
    assert read.pages[1].text == "\n".join(ABSTRACT[:2])
    assert all(p.engine == TEXT and p.confidence is None and p.missing is None for p in read.pages)


def test_a_scanned_page_is_read_by_tesseract_with_its_mean_word_confidence(mixed: Path) -> None:
    read = read_document(mixed, ReadOptions(), Tesseract())
    text_page, scan, figure = read.pages
    assert text_page.engine == TEXT and text_page.text.startswith("Graph neural networks")
    assert scan.engine == TESSERACT
    assert words(scan.text) >= SCANNED_WORDS, scan.text
    assert scan.confidence is not None and 70 <= scan.confidence <= 100
    # The figure page's layer has 7 characters, fewer than 50: Tesseract reads it too.
    assert figure.engine == TESSERACT and "figure" in words(figure.text)


def test_the_text_engine_never_runs_tesseract(mixed: Path) -> None:
    read = read_document(mixed, ReadOptions(engine=TEXT), Tesseract(MISSING_TESSERACT))
    assert [p.engine for p in read.pages] == [TEXT, TEXT, TEXT]
    assert [p.missing for p in read.pages] == [None, None, None]  # not even asked whether it exists
    assert read.pages[1].text == "" and read.pages[2].text == "Figure 1"


def test_the_tesseract_engine_reads_every_page_even_with_a_text_layer(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "paper.pdf", [("text", ABSTRACT)])
    [page] = read_document(pdf, ReadOptions(engine=TESSERACT), Tesseract()).pages
    assert page.engine == TESSERACT and page.confidence is not None
    assert {"graph", "neural", "networks", "robustness", "citation"} <= words(page.text)


@pytest.mark.parametrize(("min_chars", "engine"), [(50, TESSERACT), (7, TEXT), (0, TEXT)])
def test_min_chars_per_page_decides_which_pages_tesseract_reads(
    mixed: Path, min_chars: int, engine: str
) -> None:
    """The figure page's layer has 7 visible characters ("Figure 1"): below the threshold it is read
    by Tesseract, at or above it the layer is kept. A threshold of 0 never asks Tesseract."""
    read = read_document(mixed, ReadOptions(min_chars_per_page=min_chars), Tesseract())
    assert read.pages[2].engine == engine
    assert read.pages[0].engine == TEXT


def test_with_tesseract_missing_the_pages_needing_it_keep_their_layer_and_say_why(mixed: Path) -> None:
    read = read_document(mixed, ReadOptions(engine=AUTO), Tesseract(MISSING_TESSERACT))
    first, scan, figure = read.pages
    assert first.engine == TEXT and first.missing is None
    assert scan.missing == figure.missing == OCR_UNAVAILABLE
    assert scan.text == "" and figure.text == "Figure 1"
    assert "not installed" in (scan.detail or "")


def test_a_language_that_is_not_installed_is_named() -> None:
    assert Tesseract(lang="eng").problem() is None
    problem = Tesseract(lang="eng+xyz").problem()
    assert problem is not None and "xyz" in problem


def test_a_page_tesseract_takes_too_long_on_keeps_its_layer_with_the_reason(mixed: Path) -> None:
    slow = Tesseract(timeout=0.001)
    read = read_document(mixed, ReadOptions(), slow)
    assert read.pages[1].missing == OCR_TIMEOUT and read.pages[1].engine == TEXT
    assert read.pages[2].text == "Figure 1"


def test_max_pages_bounds_the_pages_read(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "long.pdf", [("text", [f"Page {n} " + ABSTRACT[0]]) for n in range(1, 8)])
    read = read_document(pdf, ReadOptions(max_pages=3), Tesseract(MISSING_TESSERACT))
    assert [p.page for p in read.pages] == [1, 2, 3]
    assert read.page_count == 7 and read.pages_beyond_limit == 4


def test_progress_is_reported_after_every_page(mixed: Path) -> None:
    seen: list[int] = []
    read_document(mixed, ReadOptions(engine=TEXT), Tesseract(), lambda: seen.append(len(seen) + 1))
    assert seen == [1, 2, 3]


def test_an_encrypted_pdf_fails_as_encrypted(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "locked.pdf", [("text", ABSTRACT)], user_password="s3cret")
    with pytest.raises(PdfUnreadable) as failure:
        read_document(pdf, ReadOptions(), Tesseract())
    assert failure.value.reason == ENCRYPTED
    assert "password" in failure.value.detail.lower()


def test_a_truncated_pdf_and_a_fake_one_fail_as_broken(tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", [("text", ABSTRACT)] * 3)
    for pdf in (truncated(whole, tmp_path / "cut.pdf"), not_a_pdf(tmp_path / "fake.pdf")):
        with pytest.raises(PdfUnreadable) as failure:
            page_count(pdf)
        assert failure.value.reason == BROKEN, pdf


def test_a_missing_file_fails_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(PdfUnreadable) as failure:
        page_count(tmp_path / "absent.pdf")
    assert failure.value.reason == UNREADABLE


def test_renders_of_huge_pages_are_bounded(tmp_path: Path) -> None:
    """A page claiming 100 x 100 inches at 600 dpi would be 60,000 px a side: it is rendered smaller."""
    path = tmp_path / "poster.pdf"
    c = canvas.Canvas(str(path), pagesize=(7200, 7200))
    c.drawString(100, 100, "A poster")
    c.showPage()
    c.save()
    with open_pdf(path) as document:
        image, dpi = render_page(document[0], 600)
    assert max(image.size) <= MAX_RENDER_SIDE and image.size[0] * image.size[1] <= MAX_RENDER_PIXELS
    assert dpi < 600 and image.mode == "L"
    assert render_scale(612, 792, 200) == pytest.approx(200 / 72)  # a letter page is as asked
    assert render_scale(0, 792, 200) == 0 and render_scale(float("nan"), 792, 200) == 0
    assert render_scale(1e9, 1e9, 600) * 1e9 <= MAX_RENDER_SIDE


def test_page_text_is_cleaned_and_capped() -> None:
    assert clean_text("a\r\nb\rc\x00d\x0ce\tf") == "a\nb\ncde\tf"
    assert len(clean_text("x" * (MAX_PAGE_CHARS + 10))) == MAX_PAGE_CHARS


def test_mean_word_confidence_counts_only_words() -> None:
    tsv = "\n".join(
        [
            "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext",
            "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t",
            "5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t90.5\tGraph",
            "5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t70.5\tnets",
            "5\t1\t1\t1\t1\t3\t0\t0\t10\t10\t95\t ",
            "5\t1\t1\t1\t1\t4\t0\t0\t10\t10\tnot-a-number\tx",
        ]
    )
    assert mean_word_confidence(tsv) == 80.5
    assert mean_word_confidence("") is None
