"""GET /api/v1/tasks/{id}: every detail field of the spec, in each state a task can be in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers.server import (
    DETAIL_FIELDS,
    TASKS,
    TIME_FORMAT,
    InProcessApi,
    complete,
    envelope,
    fail,
    insert_rows,
    start,
)


def parse_api_time(text: str) -> datetime:
    assert TIME_FORMAT.match(text), text
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_new_task_detail_has_every_spec_field_with_its_default(api: InProcessApi) -> None:
    task_id = api.create(project_id=3, task_type="index")

    body = envelope(api.get(f"{TASKS}/{task_id}"), 200)
    data = body["data"]

    assert body["message"] == "success"
    assert set(data) == DETAIL_FIELDS
    assert {key: data[key] for key in DETAIL_FIELDS - {"created_at"}} == {
        "id": task_id,
        "project_id": 3,
        "task_type": "index",
        "status": "pending",
        "progress": 0,
        "total": 0,
        "params": {},
        "result": None,
        "error_message": "",
        "started_at": None,
        "completed_at": None,
    }
    assert TIME_FORMAT.match(data["created_at"]), data["created_at"]


def test_created_at_is_the_current_utc_time(api: InProcessApi) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    task_id = api.create()
    after = datetime.now(UTC)

    created_at = parse_api_time(api.detail(task_id)["created_at"])

    assert before <= created_at <= after


def test_times_render_in_utc_to_the_second(api: InProcessApi) -> None:
    [task_id] = insert_rows(api.db_path, [(1, "search", "2025-03-12T10:00:00.999999")])

    assert api.detail(task_id)["created_at"] == "2025-03-12T10:00:00"


def test_detail_returns_params_exactly_as_given(api: InProcessApi) -> None:
    params: dict[str, Any] = {
        "query": "machine learning",
        "sources": ["semantic_scholar", "arxiv"],
        "filters": {"year": {"from": 2019, "to": None}, "open_access": True, "weight": 0.5},
        "title": "深度学习的文献综述",
        "big": 2**62,
    }
    task_id = api.create(**params)

    assert api.detail(task_id)["params"] == params


def test_running_task_has_started_at_and_no_result_yet(api: InProcessApi) -> None:
    task_id = api.create(task_type="crawl")
    start(api.store, task_id)

    data = api.detail(task_id)

    assert data["status"] == "running"
    assert data["result"] is None
    assert data["error_message"] == ""
    assert data["completed_at"] is None
    assert parse_api_time(data["started_at"]) >= parse_api_time(data["created_at"])


def test_completed_task_shows_result_progress_and_completion_time(api: InProcessApi) -> None:
    task_id = api.create(query="machine learning", sources=["semantic_scholar"])
    complete(api.store, task_id, {"papers_found": 15, "imported": 10}, progress=100, total=100)

    data = api.detail(task_id)

    assert data["status"] == "completed"
    assert (data["progress"], data["total"]) == (100, 100)
    assert data["params"] == {"query": "machine learning", "sources": ["semantic_scholar"]}
    assert data["result"] == {"papers_found": 15, "imported": 10}
    assert data["error_message"] == ""
    created, started, completed = (
        parse_api_time(data[k]) for k in ("created_at", "started_at", "completed_at")
    )
    assert created <= started <= completed <= datetime.now(UTC) + timedelta(seconds=1)


def test_failed_task_shows_its_error_message_and_no_result(api: InProcessApi) -> None:
    task_id = api.create(task_type="ocr")
    fail(api.store, task_id, "OCR engine unreachable: connection refused", progress=3, total=10)

    data = api.detail(task_id)

    assert data["status"] == "failed"
    assert data["error_message"] == "OCR engine unreachable: connection refused"
    assert data["result"] is None
    assert (data["progress"], data["total"]) == (3, 10)
    assert data["started_at"] is not None and data["completed_at"] is not None


def test_unknown_id_is_404_naming_the_task(api: InProcessApi) -> None:
    api.create()

    body = envelope(api.get(f"{TASKS}/999"), 404)

    assert body["data"] is None
    assert "999" in body["message"] and "not found" in body["message"].lower()


def test_largest_id_is_a_404_not_an_error(api: InProcessApi) -> None:
    envelope(api.get(f"{TASKS}/{2**63 - 1}"), 404)
