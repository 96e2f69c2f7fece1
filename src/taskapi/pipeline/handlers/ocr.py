"""``ocr``: the text of every page of the project's PDFs, text layer first, Tesseract for scans.

A ``def`` handler (CPU-bound: it runs in the worker's child process, where a cancel interrupts it even
in the middle of a page). Pages are counted up front (PDFium reads the page tree only) so progress is
in pages, reported after every page. Each paper's pages are stored in one write fenced by the task's
attempt: a cancelled or rescued run stores nothing late, and a run again reads only the papers that
still have no text. A PDF that does not open (encrypted, truncated, not a PDF, missing on disk) is an
entry of ``failed``, as is a page Tesseract could not read (that page keeps its text layer); the task
itself completes. With ``engine: auto`` and no Tesseract on this host, text-layer pages are still
stored and the result says which pages needed Tesseract (``ocr_unavailable_pages``, ``skipped``);
``engine: tesseract`` without it fails the task, saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskapi.papers.files import FileStore
from taskapi.papers.repository import Fence, FenceLost, OcrTarget, PageText, PapersRepository
from taskapi.pipeline.ocr import (
    TESSERACT,
    DocumentRead,
    PdfUnreadable,
    Tesseract,
    page_count,
    read_document,
)
from taskapi.pipeline.ocr.tally import OcrTally
from taskapi.pipeline.params_ocr import OcrParams, validate_ocr
from taskapi.pipeline.resources import resources_of
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import handler

FILE_MISSING = "file_missing"


class TesseractUnavailable(RuntimeError):
    """``engine: tesseract`` was asked for on a host where Tesseract cannot run."""


@dataclass(frozen=True, slots=True)
class _Planned:
    """A paper to read: its PDF on disk and the pages that will be read, or why it cannot be."""

    target: OcrTarget
    path: Path | None
    pages: int = 0
    reason: str | None = None
    detail: str | None = None


class _Progress:
    """Pages done of the run's total, reported after every page (also where a cancel is noticed)."""

    def __init__(self, ctx: TaskContext, total: int) -> None:
        self._ctx = ctx
        self.total = total
        self.done = 0
        ctx.progress(0, total)

    def page(self) -> None:
        self.done += 1
        self._ctx.progress(self.done, self.total)

    def settle(self, done: int) -> None:
        """Mark the pages planned so far as done (a paper that read fewer pages than planned)."""
        if done != self.done:
            self.done = done
            self._ctx.progress(done, self.total)


@handler("ocr", validate=validate_ocr)
def ocr(ctx: TaskContext) -> dict[str, Any]:
    """Extract the text of the chosen papers' PDFs (default: every non-duplicate paper with a file and
    no text yet), with the deployment's Tesseract (``TASKAPI_TESSERACT_CMD``, default ``tesseract``)."""
    return run_ocr(ctx, tesseract_cmd=resources_of(ctx).tesseract_cmd)


def run_ocr(ctx: TaskContext, *, tesseract_cmd: str) -> dict[str, Any]:
    """The ``ocr`` step with Tesseract as ``tesseract_cmd`` (a test points it at a missing program)."""
    params = OcrParams.read(ctx.params)
    resources = resources_of(ctx)
    tesseract = Tesseract(tesseract_cmd, params.lang)
    if params.engine == TESSERACT:
        problem = tesseract.problem()
        if problem is not None:
            raise TesseractUnavailable(f"engine 'tesseract' was asked for, but {problem}")
    plan = []
    for target in resources.papers.ocr_targets(ctx.project_id, params.paper_ids):
        plan.append(_plan(target, resources.files, params.max_pages))
        ctx.check_cancelled()
    run = _OcrRun(ctx, params, tesseract, resources.papers, total=sum(item.pages for item in plan))
    for item in plan:
        run.read_and_store(item)
    return run.tally.as_result(tesseract.problem() if run.tally.unavailable_pages else None)


def _plan(target: OcrTarget, files: FileStore, max_pages: int) -> _Planned:
    """Where the paper's PDF is and how many of its pages will be read (PDFium reads the page tree)."""
    path = files.local_path(target.sha256)
    if path is None:
        return _Planned(target, None, reason=FILE_MISSING, detail=f"no file {target.sha256} in the store")
    try:
        return _Planned(target, path, pages=min(page_count(path), max_pages))
    except PdfUnreadable as exc:
        return _Planned(target, path, reason=exc.reason, detail=exc.detail)


class _OcrRun:
    """One run: reads the planned papers one by one, stores each paper's pages, counts."""

    def __init__(
        self, ctx: TaskContext, params: OcrParams, tesseract: Tesseract, papers: PapersRepository, total: int
    ) -> None:
        self._options = params.read_options()
        self._tesseract = tesseract
        self._papers = papers
        self._fence = Fence(ctx.task_id, ctx.attempt)
        self._progress = _Progress(ctx, total)
        self._planned_done = 0
        self.tally = OcrTally(params.engine)

    def read_and_store(self, item: _Planned) -> None:
        self._planned_done += item.pages
        paper_id = item.target.paper_id
        if item.path is None or item.reason is not None:
            self.tally.paper_failed(paper_id, item.reason or FILE_MISSING, item.detail)
            return
        try:
            document = read_document(item.path, self._options, self._tesseract, self._progress.page)
        except PdfUnreadable as exc:  # it opened when counted: changed on disk since?
            self.tally.paper_failed(paper_id, exc.reason, exc.detail)
        else:
            self._store(paper_id, document)
            self.tally.paper_read(paper_id, document)
        self._progress.settle(self._planned_done)

    def _store(self, paper_id: int, document: DocumentRead) -> None:
        pages = [PageText(p.page, p.text, p.engine, p.confidence) for p in document.pages]
        try:
            self._papers.text_store(paper_id, pages, fence=self._fence)
        except FenceLost:
            raise TaskCancelled("the task is no longer running at this attempt") from None
