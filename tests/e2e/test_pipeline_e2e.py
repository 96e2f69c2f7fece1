"""The pipeline's first half end to end: a real ``taskapi serve`` (built-in handlers, no ``--handlers``)
against the replay of the four sources and a PDF server, driven over HTTP as a user would."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

from tests.conftest import wait_until
from tests.helpers.server import ServerProcess, envelope, running_server
from tests.pipeline.source_server import SourceServer

QUERY = "graphene"
WORKS = 30
SOURCES = ["semantic_scholar", "arxiv", "openalex", "crossref"]


def small_pdf(text: str) -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, text)
    page.save()
    return out.getvalue()


@pytest.fixture
def sources() -> Iterator[SourceServer]:
    with SourceServer(total=WORKS) as server:
        for index in range(WORKS):
            work = server.work(QUERY, index)
            if work.pdf_url:
                server.set_file(work.pdf_url, small_pdf(work.title))
        yield server


@pytest.fixture
def pipeline_server(tmp_path: Path, sources: SourceServer) -> Iterator[ServerProcess]:
    env = {
        **sources.settings_env(),
        "TASKAPI_SOURCE_MIN_INTERVAL": "semantic_scholar=0,arxiv=0,openalex=0,crossref=0",
        "TASKAPI_DATA_DIR": str(tmp_path / "data"),
        "TASKAPI_CRAWL_ALLOW_PRIVATE_HOSTS": "true",
        "TASKAPI_CRAWL_HOST_INTERVAL": "0",
        "TASKAPI_CONTACT_EMAIL": "pipeline-test@example.org",
    }
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env) as server:
        yield server


def run_task(client: httpx.Client, task_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """Create a task of project 1 and wait until it ends; answer its detail."""
    created = envelope(
        client.post("/api/v1/tasks", json={"project_id": 1, "task_type": task_type, "params": params}), 201
    )["data"]

    def ended() -> dict[str, Any] | None:
        task: dict[str, Any] = envelope(client.get(f"/api/v1/tasks/{created['id']}"), 200)["data"]
        return task if task["status"] in {"completed", "failed", "cancelled"} else None

    task = wait_until(ended, timeout=60, interval=0.05, what=f"the {task_type} task to end")
    assert task is not None and task["status"] == "completed", task
    return task


def all_papers(client: httpx.Client) -> list[dict[str, Any]]:
    page = client.get("/api/v1/papers", params={"project_id": 1, "limit": 1000, "include_duplicates": "true"})
    papers: list[dict[str, Any]] = envelope(page, 200)["data"]
    return papers


@pytest.mark.slow
def test_search_dedup_and_crawl_do_their_work_through_serve(
    pipeline_server: ServerProcess, sources: SourceServer
) -> None:
    with httpx.Client(base_url=pipeline_server.base_url, timeout=10) as client:
        search = run_task(client, "search", {"query": QUERY, "sources": SOURCES, "limit": WORKS})
        result = search["result"]
        # Every source found every work; the same work from four sources is one paper.
        assert result["papers_found"] == 4 * WORKS
        assert result["imported"] == WORKS
        assert result["already_present"] == 3 * WORKS
        assert {name: entry["found"] for name, entry in result["by_source"].items()} == dict.fromkeys(
            SOURCES, WORKS
        )
        assert all(entry["error"] is None for entry in result["by_source"].values())
        assert search["progress"] == search["total"] == 4 * WORKS
        papers = all_papers(client)
        assert len(papers) == WORKS
        assert {p["doi"] for p in papers} == {sources.work(QUERY, i).doi for i in range(WORKS)}
        assert all(set(p["sources"]) == set(SOURCES) for p in papers)
        contact = [r.headers.get("user-agent", "") for r in sources.requests()]
        assert all("taskapi" in agent and "pipeline-test@example.org" in agent for agent in contact)

        # The sources agree on every work: nothing left to merge, and a second run changes nothing.
        dedup = run_task(client, "dedup", {})
        assert dedup["result"]["papers_checked"] == WORKS
        assert dedup["result"]["marked_duplicate"] == 0

        crawl = run_task(client, "crawl", {"max_papers": 100, "timeout_s": 10})
        with_pdf = [i for i in range(WORKS) if sources.work(QUERY, i).pdf_url]
        assert crawl["result"]["downloaded"] == len(with_pdf), crawl["result"]
        paper = next(p for p in all_papers(client) if p["doi"] == sources.work(QUERY, with_pdf[0]).doi)
        pdf = client.get(f"/api/v1/papers/{paper['id']}/pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
        # A second crawl finds every downloadable paper already downloaded.
        again = run_task(client, "crawl", {"max_papers": 100, "timeout_s": 10})
        assert again["result"]["downloaded"] == 0


@pytest.mark.slow
def test_bad_pipeline_params_answer_400_naming_the_field(pipeline_server: ServerProcess) -> None:
    bad = [
        ("search", {"query": "x", "sources": ["scopus"]}, "params.sources.0"),
        ("search", {"query": "x", "limit": 0}, "params.limit"),
        ("search", {"query": "x", "limit": 10_001}, "params.limit"),
        ("search", {"query": "x", "year": "twenty"}, "params.year"),
        ("search", {"query": "  ", "sources": ["arxiv"]}, "params.query"),
        ("search", {"query": 42}, "params.query"),
        ("crawl", {"paper_ids": 7}, "params.paper_ids"),
        ("dedup", {"title_threshold": "high"}, "params.title_threshold"),
    ]
    with httpx.Client(base_url=pipeline_server.base_url, timeout=10) as client:
        for task_type, params, field in bad:
            body = {"project_id": 1, "task_type": task_type, "params": params}
            answer = envelope(client.post("/api/v1/tasks", json=body), 400)
            assert field in [e["field"] for e in answer["data"]["errors"]], (params, answer)
        listed = envelope(client.get("/api/v1/tasks", params={"project_id": 1}), 200)["data"]
        assert listed == []
