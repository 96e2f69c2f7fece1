"""The ``ocr`` handler run by a real worker on each store: the result's figures, the pages stored with
their engines, failures listed while the task completes, a cancel in the middle of a document, and a
host without Tesseract."""

from __future__ import annotations

from pathlib import Path

from taskapi.domain import TaskStatus
from taskapi.papers import PapersRepository
from taskapi.service import TaskService
from taskapi.store.base import Store
from tests.pipeline.ocr.conftest import finished, ocr_worker, paper_with_pdf, working
from tests.pipeline.ocr.pdfs import ABSTRACT, SCANNED, SCANNED_WORDS, make_pdf, truncated
from tests.worker.helpers import wait_until

NO_TESSERACT = "tests.pipeline.ocr.no_tesseract"


def test_ocr_reads_the_projects_pdfs_and_lists_the_ones_that_do_not_open(
    library_store: Store, tmp_path: Path
) -> None:
    papers, data = PapersRepository(library_store), tmp_path / "data"
    text = make_pdf(tmp_path / "text.pdf", [("text", ABSTRACT), ("text", ABSTRACT[1:])])
    mixed = make_pdf(tmp_path / "mixed.pdf", [("text", ABSTRACT), ("scan", SCANNED)])
    locked = make_pdf(tmp_path / "locked.pdf", [("text", ABSTRACT)], user_password="pw")
    cut = truncated(make_pdf(tmp_path / "whole.pdf", [("text", ABSTRACT)] * 4), tmp_path / "cut.pdf")
    ids = {name: paper_with_pdf(papers, data, name, pdf) for name, pdf in [
        ("text", text), ("mixed", mixed), ("locked", locked), ("cut", cut), ("no file", None)
    ]}  # fmt: skip
    service = TaskService(library_store)
    task = service.create(1, "ocr", {})
    with working(ocr_worker(library_store, data)):
        done = finished(service, task.id)
    assert done.status is TaskStatus.COMPLETED, done.error_message
    result = done.result or {}
    stored = {name: papers.paper_text(ids[name]) for name in ids}
    counts = ("papers_processed", "pages_total", "pages_text_layer", "pages_ocr")
    assert [result[key] for key in counts] == [2, 4, 3, 1]
    assert result["engine"] == "tesseract"
    assert sorted((f["paper_id"], f["reason"]) for f in result["failed"]) == sorted(
        [(ids["locked"], "encrypted"), (ids["cut"], "broken_pdf")]
    )
    assert result["failed_count"] == 2
    assert result["chars_extracted"] == sum(len(p.text) for pages in stored.values() for p in pages)
    assert [(p.page, p.engine) for p in stored["text"]] == [(1, "text"), (2, "text")]
    assert stored["text"][0].text == "\n".join(ABSTRACT) and stored["text"][0].confidence is None
    [first, scan] = stored["mixed"]
    assert (first.engine, scan.engine) == ("text", "tesseract")
    assert {w.lower() for w in scan.text.split()} >= SCANNED_WORDS
    assert scan.confidence is not None and scan.confidence > 70
    assert stored["locked"] == stored["cut"] == stored["no file"] == []
    assert (done.progress, done.total) == (4, 4)


def test_a_run_again_reads_only_papers_without_text_and_chosen_ids_are_read_again(
    library_store: Store, tmp_path: Path
) -> None:
    papers, data = PapersRepository(library_store), tmp_path / "data"
    first = paper_with_pdf(papers, data, "one", make_pdf(tmp_path / "a.pdf", [("text", ABSTRACT)]))
    service = TaskService(library_store)
    with working(ocr_worker(library_store, data)):
        finished(service, service.create(1, "ocr", {}).id)
        second = paper_with_pdf(papers, data, "two", make_pdf(tmp_path / "b.pdf", [("text", ABSTRACT)] * 2))
        again = finished(service, service.create(1, "ocr", {}).id).result or {}
        chosen = service.create(1, "ocr", {"paper_ids": [first], "engine": "tesseract"})
        forced = finished(service, chosen.id).result or {}
    assert (again["papers_processed"], again["pages_total"]) == (1, 2)  # only the new paper
    assert len(papers.paper_text(second)) == 2
    assert (forced["papers_processed"], forced["pages_ocr"], forced["engine"]) == (1, 1, "tesseract")
    assert [p.engine for p in papers.paper_text(first)] == ["tesseract"]


def test_a_project_without_pdfs_completes_with_zeros(library_store: Store, tmp_path: Path) -> None:
    papers, data = PapersRepository(library_store), tmp_path / "data"
    paper_with_pdf(papers, data, "no pdf yet", None, project_id=2)
    paper_with_pdf(papers, data, "another project's", make_pdf(tmp_path / "x.pdf", [("text", ABSTRACT)]))
    service = TaskService(library_store)
    with working(ocr_worker(library_store, data)):
        done = finished(service, service.create(2, "ocr", {}).id)
    assert done.status is TaskStatus.COMPLETED
    assert done.result == {
        "papers_processed": 0,
        "pages_total": 0,
        "pages_text_layer": 0,
        "pages_ocr": 0,
        "chars_extracted": 0,
        "engine": "text",
        "failed": [],
        "failed_count": 0,
    }


def test_a_cancel_in_the_middle_of_a_document_stops_it_and_stores_no_text(
    library_store: Store, tmp_path: Path
) -> None:
    papers, data = PapersRepository(library_store), tmp_path / "data"
    scans = make_pdf(tmp_path / "scans.pdf", [("scan", [f"Scanned page {n}", *SCANNED]) for n in range(15)])
    paper = paper_with_pdf(papers, data, "fifteen scanned pages", scans)
    service = TaskService(library_store)
    task = service.create(1, "ocr", {})
    with working(ocr_worker(library_store, data)) as worker:
        wait_until(lambda: service.get(task.id).progress >= 1, timeout=30, what="the first page read")
        service.cancel(task.id)
        done = finished(service, task.id)
        wait_until(lambda: worker.stats.stopped >= 1, what="the worker to stop the handler")
    assert done.status is TaskStatus.CANCELLED
    assert done.total == 15 and done.progress < 15
    assert papers.paper_text(paper) == []


def test_without_tesseract_text_layer_pages_are_stored_and_the_others_reported(
    library_store: Store, tmp_path: Path
) -> None:
    papers, data = PapersRepository(library_store), tmp_path / "data"
    mixed = make_pdf(tmp_path / "mixed.pdf", [("text", ABSTRACT), ("scan", SCANNED), ("scan", SCANNED)])
    paper = paper_with_pdf(papers, data, "mixed", mixed)
    service = TaskService(library_store)
    with working(ocr_worker(library_store, data, NO_TESSERACT)):
        auto = finished(service, service.create(1, "ocr", {}).id)
        forced = finished(service, service.create(1, "ocr", {"engine": "tesseract"}).id)
    result = auto.result or {}
    assert auto.status is TaskStatus.COMPLETED
    assert (result["pages_total"], result["pages_text_layer"], result["pages_ocr"]) == (3, 1, 0)
    assert result["engine"] == "text"
    assert result["ocr_unavailable_pages"] == 2
    assert result["skipped"]["papers"] == [{"paper_id": paper, "pages": [2, 3]}]
    assert "not installed" in result["skipped"]["message"]
    assert [(p.page, p.engine) for p in papers.paper_text(paper)] == [(1, "text"), (2, "text"), (3, "text")]
    assert forced.status is TaskStatus.FAILED
    assert "engine 'tesseract'" in forced.error_message and "not installed" in forced.error_message
