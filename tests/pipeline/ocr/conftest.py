"""The ``ocr`` handler's harness: a real worker (its ``def`` handler in a child process) with the
pipeline's resources on each store, and papers whose PDFs are in the file store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from taskapi.domain import Task, utcnow
from taskapi.papers import PaperRecord, PapersRepository
from taskapi.papers.files import LocalFileStore
from taskapi.papers.records import PaperFile
from taskapi.pipeline.resources import FACTORY
from taskapi.service import TaskService
from taskapi.store.base import Store
from taskapi.worker import ResourceSpec, Worker, load_handlers
from tests.worker.helpers import fast_options, wait_until

OCR = "taskapi.pipeline.handlers.ocr"


def store_url(store: Store) -> str:
    path = getattr(store, "path", None)
    return f"sqlite:///{path}" if path else str(getattr(store, "url"))  # noqa: B009


def ocr_worker(store: Store, data_dir: Path, module: str = OCR) -> Worker:
    """A worker running only ``module``'s ``ocr`` handler, with the pipeline's resources."""
    spec = ResourceSpec(FACTORY, {"database_url": store_url(store), "data_dir": str(data_dir)})
    handlers = load_handlers((module,), builtin=False)
    return Worker(store, handlers, modules=[module], options=fast_options(concurrency=1), resources=spec)


@contextmanager
def working(worker: Worker) -> Iterator[Worker]:
    thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.request_stop(force=True)
        thread.join(15)


def finished(service: TaskService, task_id: int, timeout: float = 60.0) -> Task:
    def ended() -> Task | None:
        task = service.get(task_id)
        return task if task.status.is_final else None

    task = wait_until(ended, timeout=timeout, what=f"task {task_id} to end")
    assert task is not None
    return task


def paper_with_pdf(
    papers: PapersRepository, data_dir: Path, title: str, pdf: Path | None, project_id: int = 1
) -> int:
    """A new paper of ``project_id``, with ``pdf`` stored and attached (none if ``pdf`` is None)."""
    result = papers.import_records(project_id, [PaperRecord(title=title)])
    paper_id = result.ids[0]
    if pdf is not None:
        stored = LocalFileStore(data_dir).put_file(pdf)
        file = PaperFile(
            sha256=stored.sha256,
            bytes=stored.size,
            url=None,
            content_type="application/pdf",
            path=stored.path,
            fetched_at=utcnow(),
        )
        papers.file_attach(paper_id, file)
    return paper_id
