"""The built-in search, dedup and crawl handlers run by a real worker on each store, against the
replay of the sources: what a user sees in the task's result and in the library."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from taskapi.domain import Task, TaskStatus
from taskapi.papers import PaperRecord, PapersRepository
from taskapi.pipeline.params import SOURCE_NAMES
from taskapi.pipeline.resources import FACTORY
from taskapi.service import TaskService
from taskapi.store.base import Store
from taskapi.worker import ResourceSpec, Worker, load_handlers, params_validators
from tests.pipeline.crawl.pdf_server import PdfServer
from tests.pipeline.source_server import SourceServer
from tests.worker.helpers import fast_options, wait_until

PIPELINE = ("taskapi.pipeline.handlers.search", "taskapi.pipeline.handlers.dedup")


def store_url(store: Store) -> str:
    path = getattr(store, "path", None)
    return f"sqlite:///{path}" if path else str(getattr(store, "url"))  # noqa: B009


def resources(store: Store, sources: SourceServer, data_dir: Path, interval: float = 0.0) -> ResourceSpec:
    return ResourceSpec(
        FACTORY,
        {
            "database_url": store_url(store),
            "data_dir": str(data_dir),
            "contact_email": "test@example.org",
            "source_timeout": 5.0,
            "sources": {
                name: {"url": sources.url(name), "api_key": None, "min_interval": interval}
                for name in SOURCE_NAMES
            },
        },
    )


def pipeline_worker(store: Store, spec: ResourceSpec, worker_id: str | None = None, **options: Any) -> Worker:
    handlers = load_handlers(PIPELINE, builtin=False)
    return Worker(
        store,
        handlers,
        modules=list(PIPELINE),
        options=fast_options(**options),
        resources=spec,
        worker_id=worker_id,
    )


@contextmanager
def working(*workers: Worker) -> Iterator[None]:
    threads = [threading.Thread(target=asyncio.run, args=(w.run(),), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.request_stop(force=True)
        for thread in threads:
            thread.join(15)


def finished(service: TaskService, task_id: int, timeout: float = 30.0) -> Task:
    def ended() -> Task | None:
        task = service.get(task_id)
        return task if task.status.is_final else None

    task = wait_until(ended, timeout=timeout, what=f"task {task_id} to end")
    assert task is not None
    return task


@pytest.fixture
def sources() -> Iterator[SourceServer]:
    with SourceServer(total=12) as server:
        yield server


def test_one_failing_source_is_reported_and_the_others_still_import(
    library_store: Store, sources: SourceServer, tmp_path: Path
) -> None:
    sources.require_key("openalex", "a-key-we-do-not-have")
    service = TaskService(library_store)
    task = service.create(1, "search", {"query": "robust graphs", "limit": 12})
    with working(pipeline_worker(library_store, resources(library_store, sources, tmp_path))):
        done = finished(service, task.id)
    assert done.status is TaskStatus.COMPLETED, done.error_message
    result = done.result or {}
    assert "401" in result["by_source"]["openalex"]["error"]
    assert result["by_source"]["openalex"]["found"] == 0
    for name in ("semantic_scholar", "arxiv", "crossref"):
        assert result["by_source"][name] == {**result["by_source"][name], "found": 12, "error": None}
    assert result["imported"] == 12
    assert PapersRepository(library_store).project_count(1) == 12


def test_a_search_whose_every_source_fails_fails_saying_why(
    library_store: Store, sources: SourceServer, tmp_path: Path
) -> None:
    sources.fail_next("arxiv", status=401, times=10)
    service = TaskService(library_store)
    task = service.create(1, "search", {"query": "x", "sources": ["arxiv"]})
    with working(pipeline_worker(library_store, resources(library_store, sources, tmp_path))):
        done = finished(service, task.id)
    assert done.status is TaskStatus.FAILED
    assert "every source failed" in done.error_message and "arxiv" in done.error_message


def test_a_search_run_again_after_a_lost_worker_imports_nothing_twice(
    library_store: Store, sources: SourceServer, tmp_path: Path
) -> None:
    service = TaskService(library_store)
    spec = resources(library_store, sources, tmp_path)
    first = service.create(1, "search", {"query": "causal kernels", "limit": 12})
    with working(pipeline_worker(library_store, spec)):
        finished(service, first.id)
    again = service.create(1, "search", {"query": "causal kernels", "limit": 12})
    with working(pipeline_worker(library_store, spec)):
        result = finished(service, again.id).result or {}
    assert result["imported"] == 0 and result["already_present"] == result["papers_found"] == 48
    assert PapersRepository(library_store).project_count(1) == 12


def test_a_cancelled_search_stops_and_writes_nothing_after_the_cancel(
    library_store: Store, sources: SourceServer, tmp_path: Path
) -> None:
    sources.set_total(5_000, source="arxiv")
    service = TaskService(library_store)
    papers = PapersRepository(library_store)
    task = service.create(1, "search", {"query": "slow", "sources": ["arxiv"], "limit": 5_000})
    # arXiv at one request every 0.3 s: the search runs long enough to be cancelled mid-way.
    worker = pipeline_worker(library_store, resources(library_store, sources, tmp_path, 0.3))
    with working(worker):
        wait_until(lambda: papers.project_count(1) > 0, timeout=20, what="the first page imported")
        service.cancel(task.id)
        count_at_cancel = papers.project_count(1)
        requests_at_cancel = len(sources.requests("arxiv"))
        wait_until(lambda: worker.stats.stopped >= 1, what="the worker to stop the cancelled search")
    assert service.get(task.id).status is TaskStatus.CANCELLED
    assert papers.project_count(1) == count_at_cancel
    assert len(sources.requests("arxiv")) <= requests_at_cancel + 1


def test_three_workers_searching_at_once_keep_one_sources_pace(
    library_store: Store, sources: SourceServer, tmp_path: Path
) -> None:
    interval = 0.25
    sources.set_total(600, source="arxiv")
    service = TaskService(library_store)
    spec = resources(library_store, sources, tmp_path, interval)
    tasks = [
        service.create(1, "search", {"query": f"q{n}", "sources": ["arxiv"], "limit": 400}) for n in range(3)
    ]
    workers = [pipeline_worker(library_store, spec, worker_id=f"w{n}", concurrency=1) for n in range(3)]
    with working(*workers):
        for task in tasks:
            assert finished(service, task.id, timeout=60).status is TaskStatus.COMPLETED
    assert len({w.worker_id for w in workers}) == 3
    claimed_by = {service.get(t.id).worker_id for t in tasks}
    assert len(claimed_by) == 3, "each worker ran one search"
    times = sorted(r.at for r in sources.requests("arxiv"))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 6
    # Three workers together send no faster than one would: between any two requests, no more than
    # the pace allows plus a burst of one. The server stamps arrival, and a request a busy machine
    # sends late lands next to the one after it (a burst of two, as a source's token bucket takes);
    # unpaced, three workers would send their six requests within a few intervals' time.
    for first, last in itertools.combinations(range(len(times)), 2):
        assert last - first <= (times[last] - times[first]) / interval + 2, gaps
    assert sum(gaps) >= len(gaps) * interval * 0.9, gaps


def test_dedup_marks_the_copies_and_a_second_run_changes_nothing(
    library_store: Store, tmp_path: Path
) -> None:
    papers = PapersRepository(library_store)
    papers.import_records(
        1,
        [
            # The preprint and the journal version: no identifier in common, one work.
            PaperRecord(
                title="Graph Attention Networks",
                authors=["Petar Velickovic"],
                year=2017,
                arxiv_id="1710.10903",
            ),
            PaperRecord(
                title="Graph attention networks.",
                authors=["P. Veličković"],
                year=2018,
                doi="10.1000/gat.2018",
            ),
            # A near miss that must stay apart.
            PaperRecord(title="Graph Attention Networks: A Survey", authors=["Someone Else"], year=2018),
        ],
    )
    service = TaskService(library_store)
    with (
        SourceServer() as sources,
        working(pipeline_worker(library_store, resources(library_store, sources, tmp_path))),
    ):
        dry = finished(service, service.create(1, "dedup", {"dry_run": True}).id).result or {}
        first = finished(service, service.create(1, "dedup", {}).id).result or {}
        second = finished(service, service.create(1, "dedup", {}).id).result or {}
    assert dry["marked_duplicate"] == 1 and dry["dry_run"] is True
    assert first["duplicate_groups"] == 1 and first["marked_duplicate"] == 1
    assert first["by_rule"]["title"] == 1
    assert second["marked_duplicate"] == 0 and second["papers_checked"] == 2
    listed = papers.paper_list(1, limit=10, include_duplicates=True)
    [copy] = [p for p in listed if p.duplicate_of is not None]
    canonical = papers.paper_get(copy.duplicate_of or 0)
    assert canonical is not None and canonical.doi == "10.1000/gat.2018"  # the one with a DOI
    assert canonical.arxiv_id == "1710.10903"  # keeps the merged identifiers


def test_the_handlers_validate_their_params_at_creation() -> None:
    validators = params_validators(load_handlers(()))
    assert {"search", "dedup", "crawl"} <= set(validators)


CRAWL = ("taskapi.pipeline.handlers.crawl",)


def crawl_resources(store: Store, data_dir: Path, *, allow_private: bool) -> ResourceSpec:
    return ResourceSpec(
        FACTORY,
        {
            "database_url": store_url(store),
            "data_dir": str(data_dir),
            "crawl_allow_private_hosts": allow_private,
            "crawl_host_interval": 0.0,
        },
    )


def crawl_worker(store: Store, spec: ResourceSpec) -> Worker:
    handlers = load_handlers(CRAWL, builtin=False)
    return Worker(store, handlers, modules=list(CRAWL), options=fast_options(), resources=spec)


def test_crawl_downloads_the_pdfs_and_lists_every_failure_with_its_reason(
    library_store: Store, tmp_path: Path
) -> None:
    papers = PapersRepository(library_store)
    with PdfServer() as host:
        pdf = host.add_pdf("good")
        urls = {
            "good": host.url("/pdf/good"),
            "landing": host.url("/landing/good"),
            "redirected": host.redirect_url(host.url("/pdf/good")),
            "missing": host.url("/status/404"),
            "too big": host.url("/big?size=5000000"),
        }
        records = [PaperRecord(title=f"Paper {name}", pdf_url=url) for name, url in urls.items()]
        records.append(PaperRecord(title="Paper without a link"))
        ids = papers.import_records(1, records).ids
        service = TaskService(library_store)
        task = service.create(1, "crawl", {"max_bytes": 1_000_000, "timeout_s": 10})
        with working(
            crawl_worker(library_store, crawl_resources(library_store, tmp_path, allow_private=True))
        ):
            done = finished(service, task.id)
        big_bytes_sent = sum(hit.sent for hit in host.hits("/big"))
    result = done.result or {}
    assert done.status is TaskStatus.COMPLETED, done.error_message
    assert (result["attempted"], result["downloaded"], result["skipped_no_url"]) == (6, 2, 1)
    reasons = {entry["paper_id"]: entry["reason"] for entry in result["failed"]}
    assert reasons == {ids[1]: "not_pdf", ids[3]: "http_404", ids[4]: "too_large"}
    assert big_bytes_sent < 5_000_000  # the oversize body was cut off, not downloaded to the end
    stored = papers.paper_get(ids[0])
    assert stored is not None and stored.file is not None
    assert (tmp_path / stored.file.path).read_bytes() == pdf
    assert result["bytes"] == 2 * len(pdf)


def test_crawl_refuses_private_and_metadata_addresses_unless_allowed(
    library_store: Store, tmp_path: Path
) -> None:
    papers = PapersRepository(library_store)
    with PdfServer() as host:
        host.add_pdf("inside")
        records = [
            PaperRecord(title="On loopback", pdf_url=host.url("/pdf/inside")),
            PaperRecord(title="To the metadata", pdf_url=host.redirect_url("http://169.254.169.254/latest/")),
        ]
        papers.import_records(1, records)
        service = TaskService(library_store)
        task = service.create(1, "crawl", {})
        with working(
            crawl_worker(library_store, crawl_resources(library_store, tmp_path, allow_private=False))
        ):
            done = finished(service, task.id)
        assert host.connections == 0  # refused before connecting, at the first hop
    result = done.result or {}
    assert sorted(entry["reason"] for entry in result["failed"]) == ["blocked_address"] * 2
    assert result["downloaded"] == 0
