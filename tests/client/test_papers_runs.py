"""Papers and pipeline runs through the client against a real ``serve`` (SQLite and PostgreSQL): the
papers library's and the runs' records, and their errors (``PaperNotFound``, ``RunNotFound``,
``RunNotCancellable``, ``InvalidInput`` naming the record or the step)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from taskapi.client import AsyncTaskClient, TaskClient
from taskapi.domain import InvalidInput, TaskStatus
from taskapi.papers.errors import PaperNotFound
from taskapi.run_records import RunNotCancellable, RunNotFound, RunStatus
from taskapi.service import TaskService
from tests.client.conftest import Served

pytestmark = pytest.mark.slow

RECORDS: list[dict[str, Any]] = [
    {
        "title": "Attention Is All You Need",
        "authors": ["Ashish Vaswani"],
        "year": 2017,
        "doi": "10.5555/AIAYN",
    },
    {"title": "Graph Attention Networks", "arxiv_id": "1710.10903v3", "year": 2018},
    {"title": "Attention is all you need", "doi": "https://doi.org/10.5555/aiayn"},  # the first, again
]


def test_import_list_show_and_the_text_of_papers(server: Served, project: int) -> None:
    with TaskClient(server.base_url) as client:
        imported = client.import_papers(project, RECORDS)
        listed = list(client.papers(project, page_size=1))
        first = client.papers_page(project, limit=1)
        detail = client.paper(imported.ids[0])
        text = client.paper_text(imported.ids[0])
        with pytest.raises(PaperNotFound) as no_pdf:
            client.paper_pdf(imported.ids[0])
        with pytest.raises(PaperNotFound) as missing:
            client.paper(imported.ids[0] + 100_000)
        with pytest.raises(InvalidInput) as bad:
            client.import_papers(project, [{"title": "fine"}, {"year": 2020}])
    assert (imported.created, imported.merged) == (2, 1) and imported.ids[2] == imported.ids[0]
    assert [p.paper.id for p in listed] == imported.ids[1::-1]
    assert first.next_cursor is not None and len(first.items) == 1
    assert detail.paper.doi == "10.5555/aiayn" and detail.paper.authors == ["Ashish Vaswani"]
    assert detail.paper.extra == {"has_pdf": False} and detail.paper.file is None and detail.text is None
    assert listed[0].paper.arxiv_id == "1710.10903" and listed[0].score is None
    assert (text.paper_id, text.pages) == (imported.ids[0], [])
    assert "has no stored PDF" in str(no_pdf.value)
    assert missing.value.paper_id == imported.ids[0] + 100_000
    assert bad.value.field.startswith("papers.1")


def test_start_show_list_and_cancel_a_run(server: Served, service: TaskService, project: int) -> None:
    with TaskClient(server.base_url) as client:
        run = client.start_run(project, "graph neural networks", steps=["search", "dedup"])
        shown = client.run(run.id)
        listed = client.runs(project)
        cancelled = client.cancel_run(run.id)
        with pytest.raises(RunNotCancellable) as again:
            client.cancel_run(run.id)
        with pytest.raises(RunNotFound):
            client.run(run.id + 100_000)
        with pytest.raises(InvalidInput) as bad:
            client.start_run(project, "q", steps=["dedup", "search"])
    first = run.steps[0]
    assert run.status is RunStatus.RUNNING and [s.task_type for s in run.steps] == ["search", "dedup"]
    assert first.task_id is not None and service.get(first.task_id).params["query"] == "graph neural networks"
    assert shown == run and [r.id for r in listed] == [run.id]
    assert (
        cancelled.status is RunStatus.CANCELLED and service.get(first.task_id).status is TaskStatus.CANCELLED
    )
    assert again.value.status is TaskStatus.CANCELLED
    assert bad.value.field == "steps.1"


def test_the_async_client_reads_papers_and_runs(server: Served, project: int) -> None:
    async def scenario() -> tuple[list[int], list[int], RunStatus]:
        async with AsyncTaskClient(server.base_url) as client:
            imported = await client.import_papers(project, RECORDS[:2])
            listed = [p.paper.id async for p in client.papers(project, page_size=1)]
            run = await client.start_run(project, steps=["dedup"])
            return imported.ids, listed, (await client.run(run.id)).status

    ids, listed, status = asyncio.run(scenario())
    assert listed == ids[::-1] and status is RunStatus.RUNNING
