"""A pipeline run end to end: a real ``taskapi serve`` (the built-in handlers, no ``--handlers``) against
the replay of the four sources and their PDFs, started and followed over HTTP as a user would.

The run takes every step the built-in registry has a handler for, in pipeline order (search, dedup and
crawl at least; ocr, index and keyword_expand as soon as theirs are registered): a step without a
handler would wait for a worker forever."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import httpx
import pytest

from taskapi.runs import STEP_ORDER
from taskapi.worker import load_handlers
from tests.conftest import wait_until
from tests.e2e.test_pipeline_e2e import (  # noqa: F401  (fixtures, found by pytest by name)
    QUERY,
    SOURCES,
    WORKS,
    pipeline_server,
    sources,
)
from tests.helpers.server import ServerProcess, envelope
from tests.pipeline.source_server import SourceServer

PIPELINES = "/api/v1/pipelines"
REGISTERED = [step for step in STEP_ORDER if step in load_handlers([], builtin=True)]


@pytest.mark.slow
def test_a_run_through_serve_chains_every_registered_step_each_as_one_task(
    pipeline_server: ServerProcess,  # noqa: F811
    sources: SourceServer,  # noqa: F811
) -> None:
    assert REGISTERED[:3] == ["search", "dedup", "crawl"]
    body = {
        "project_id": 1,
        "query": QUERY,
        "sources": SOURCES,
        "limit": WORKS,
        "steps": REGISTERED,
        "params": {"crawl": {"max_papers": 100, "timeout_s": 10}},
    }
    with httpx.Client(base_url=pipeline_server.base_url, timeout=10) as client:
        started = envelope(client.post(PIPELINES, json=body), 201)["data"]
        assert [s["task_type"] for s in started["steps"]] == REGISTERED

        def ended() -> dict[str, Any] | None:
            run: dict[str, Any] = envelope(client.get(f"{PIPELINES}/{started['id']}"), 200)["data"]
            return run if run["status"] != "running" else None

        run = wait_until(ended, timeout=120, interval=0.05, what="the pipeline run to end")
        assert run is not None and run["status"] == "completed", run
        assert run["failed_step"] is None and run["error"] is None
        tasks = {
            step["task_type"]: envelope(client.get(f"/api/v1/tasks/{step['task_id']}"), 200)["data"]
            for step in run["steps"]
        }
        listed = envelope(client.get("/api/v1/tasks", params={"project_id": 1, "limit": 100}), 200)["data"]
        timeline = envelope(client.get(f"/api/v1/tasks/{tasks['dedup']['id']}/events"), 200)["data"]

    assert all(task["status"] == "completed" for task in tasks.values()), tasks
    assert Counter(task["task_type"] for task in listed) == dict.fromkeys(REGISTERED, 1)
    assert all(task["params"]["pipeline_run"] == run["id"] for task in tasks.values())
    assert tasks["search"]["params"] == {
        "pipeline_run": run["id"],
        "query": QUERY,
        "sources": SOURCES,
        "limit": WORKS,
    }
    ordered = [tasks[step] for step in REGISTERED]  # each step created once the one before completed
    assert all(after["created_at"] >= before["completed_at"] for before, after in pairwise(ordered))
    assert timeline[0]["kind"] == "created" and timeline[0]["actor"] == f"pipeline run {run['id']}"

    assert tasks["search"]["result"]["imported"] == WORKS
    assert tasks["dedup"]["result"]["papers_checked"] == WORKS
    with_pdf = [i for i in range(WORKS) if sources.work(QUERY, i).pdf_url]
    assert tasks["crawl"]["result"]["downloaded"] == len(with_pdf), tasks["crawl"]["result"]
