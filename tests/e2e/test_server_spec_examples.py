"""The spec's three curl examples (and task creation) against a real server: the shapes of the answers
are the spec's, field for field, with times in UTC even though the server's local zone is UTC+8."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from taskapi.store.base import ProgressWrite
from taskapi.store.sqlite import SQLiteStore
from tests.conftest import wait_until
from tests.helpers.server import (
    DETAIL_FIELDS,
    LIST_FIELDS,
    TASKS,
    TIME_FORMAT,
    ServerProcess,
    complete,
    envelope,
    start,
)

pytestmark = pytest.mark.slow

CURL_HEADERS = {"user-agent": "curl/8.5.0", "accept": "*/*"}


@pytest.fixture
def curl(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client that sends what ``curl -X METHOD URL`` sends: no body, no content type."""
    with httpx.Client(base_url=shared_server.base_url, headers=CURL_HEADERS, timeout=10.0) as client:
        yield client


def create(
    client: httpx.Client, project_id: int, task_type: str, params: dict[str, Any] | None = None
) -> int:
    request: dict[str, Any] = {"project_id": project_id, "task_type": task_type}
    if params is not None:
        request["params"] = params
    body = envelope(client.post(TASKS, json=request), 201)
    assert body["message"] == "Task created"
    assert set(body["data"]) == DETAIL_FIELDS
    task_id = body["data"]["id"]
    assert isinstance(task_id, int)
    return task_id


def utc(text: str) -> datetime:
    assert TIME_FORMAT.match(text), text
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def near_now(text: str) -> bool:
    return abs(utc(text) - datetime.now(UTC)) < timedelta(minutes=5)


def test_list_example_project_1_running_limit_20(curl: httpx.Client, side_store: SQLiteStore) -> None:
    """The only test of this module that uses project 1 (the spec's example URL names it)."""
    wanted = create(curl, 1, "search")
    create(curl, 1, "crawl")  # pending
    other_project = create(curl, 2, "ocr")
    running = start(side_store, wanted)
    start(side_store, other_project)
    assert side_store.task_set_progress([ProgressWrite(wanted, running.attempt, 30, 100)], 300.0) == []

    response = curl.get("/api/v1/tasks?project_id=1&status=running&limit=20")

    body = envelope(response, 200)
    assert body["message"] == "success"
    [item] = body["data"]
    assert set(item) == LIST_FIELDS
    assert {k: v for k, v in item.items() if k != "created_at"} == {
        "id": wanted,
        "project_id": 1,
        "task_type": "search",
        "status": "running",
        "progress": 30,
        "total": 100,
    }
    assert near_now(item["created_at"])


def test_detail_example_of_a_completed_task(curl: httpx.Client, side_store: SQLiteStore) -> None:
    params = {"query": "machine learning", "sources": ["semantic_scholar"]}
    task_id = create(curl, 3, "search", params)
    complete(side_store, task_id, {"papers_found": 15, "imported": 10}, progress=100, total=100)

    body = envelope(curl.get(f"/api/v1/tasks/{task_id}"), 200)

    assert body["message"] == "success"
    data = body["data"]
    times = {key: data.pop(key) for key in ("created_at", "started_at", "completed_at")}
    assert data == {
        "id": task_id,
        "project_id": 3,
        "task_type": "search",
        "status": "completed",
        "progress": 100,
        "total": 100,
        "params": params,
        "result": {"papers_found": 15, "imported": 10},
        "error_message": "",
    }
    assert all(near_now(moment) for moment in times.values()), times
    assert utc(times["created_at"]) <= utc(times["started_at"]) <= utc(times["completed_at"])


def test_cancel_example_and_its_error_codes(curl: httpx.Client) -> None:
    task_id = create(curl, 4, "index")

    first = curl.post(f"/api/v1/tasks/{task_id}/cancel")
    again = curl.post(f"/api/v1/tasks/{task_id}/cancel")
    unknown = curl.post(f"/api/v1/tasks/{task_id + 1000}/cancel")

    assert first.json() == {"code": 200, "message": "Task cancelled", "data": None}
    envelope(first, 200)
    assert envelope(again, 400)["data"] is None
    assert envelope(unknown, 404)["data"] is None
    detail = envelope(curl.get(f"/api/v1/tasks/{task_id}"), 200)["data"]
    assert detail["status"] == "cancelled" and near_now(detail["completed_at"])


def test_readme_create_example(curl: httpx.Client) -> None:
    response = curl.post(
        "/api/v1/tasks",
        headers={"Content-Type": "application/json"},
        content=b'{"project_id": 7, "task_type": "crawl", "params": {"query": "machine learning"}}',
    )

    body = envelope(response, 201)
    assert body["message"] == "Task created"
    data = body["data"]
    assert set(data) == DETAIL_FIELDS
    assert (data["project_id"], data["task_type"], data["status"]) == (7, "crawl", "pending")
    assert data["params"] == {"query": "machine learning"}
    assert (data["result"], data["error_message"], data["started_at"], data["completed_at"]) == (
        None,
        "",
        None,
        None,
    )
    assert near_now(data["created_at"])


def test_readme_paging_example_walks_every_task_once(curl: httpx.Client) -> None:
    for _ in range(60):
        create(curl, 8, "crawl")
    everything = [item["id"] for item in envelope(curl.get("/api/v1/tasks?limit=1000"), 200)["data"]]

    first = curl.get("/api/v1/tasks?limit=50")
    seen = [item["id"] for item in envelope(first, 200)["data"]]
    following = first.headers["x-next-cursor"]
    while following:
        page = curl.get(f"/api/v1/tasks?limit=50&cursor={following}")
        seen += [item["id"] for item in envelope(page, 200)["data"]]
        following = page.headers.get("x-next-cursor", "")

    assert len(everything) >= 60
    assert seen == everything


def test_new_task_detail_has_the_spec_defaults(curl: httpx.Client) -> None:
    task_id = create(curl, 9, "keyword_expand")  # no params; the embedded worker may pick it up

    data = envelope(curl.get(f"/api/v1/tasks/{task_id}"), 200)["data"]

    assert set(data) == DETAIL_FIELDS
    assert data["params"] == {}
    assert near_now(data["created_at"])


def test_embedded_worker_completes_a_dedup_task_submitted_over_http(server: ServerProcess) -> None:
    """The shared server runs no worker (its tests play one): this one has its own, embedded."""
    with httpx.Client(base_url=server.base_url, headers=CURL_HEADERS, timeout=10.0) as curl:
        records = [{"doi": "10.1/a", "title": "A"}, {"doi": "10.1/A", "title": "A again"}, {"title": "B"}]
        task_id = create(curl, 5, "dedup", {"records": records})

        def finished() -> bool:
            status = envelope(curl.get(f"/api/v1/tasks/{task_id}"), 200)["data"]["status"]
            return bool(status in ("completed", "failed"))

        wait_until(finished, timeout=20.0, interval=0.02, what=f"task {task_id} to finish")
        data = envelope(curl.get(f"/api/v1/tasks/{task_id}"), 200)["data"]
        assert data["status"] == "completed", data
        assert data["result"]["unique"] == 2
        assert (data["progress"], data["total"]) == (3, 3)
        assert data["error_message"] == ""
        assert near_now(data["started_at"]) and near_now(data["completed_at"])
