"""POST /api/v1/tasks: pipelines and services create tasks of the six types; 201 with the detail."""

from __future__ import annotations

import pytest

from taskapi.domain import TaskType
from tests.helpers.server import DETAIL_FIELDS, TASKS, TIME_FORMAT, InProcessApi, envelope

SIX_TYPES = ["search", "dedup", "crawl", "ocr", "index", "keyword_expand"]


def test_the_six_types_are_the_specs() -> None:
    assert sorted(t.value for t in TaskType) == sorted(SIX_TYPES)


@pytest.mark.parametrize("task_type", SIX_TYPES)
def test_create_answers_201_with_the_new_tasks_detail(api: InProcessApi, task_type: str) -> None:
    params = {"query": "machine learning", "sources": ["semantic_scholar"]}

    body = envelope(api.post(TASKS, json={"project_id": 1, "task_type": task_type, "params": params}), 201)

    assert body["message"] == "Task created"
    data = body["data"]
    assert set(data) == DETAIL_FIELDS
    assert isinstance(data["id"], int) and data["id"] >= 1
    assert data["project_id"] == 1
    assert data["task_type"] == task_type
    assert data["status"] == "pending"
    assert data["params"] == params
    assert (data["progress"], data["total"], data["result"], data["error_message"]) == (0, 0, None, "")
    assert (data["started_at"], data["completed_at"]) == (None, None)
    assert TIME_FORMAT.match(data["created_at"])


def test_created_task_is_stored_as_answered(api: InProcessApi) -> None:
    created = envelope(
        api.post(TASKS, json={"project_id": 4, "task_type": "dedup", "params": {"a": [1]}}), 201
    )

    assert api.detail(created["data"]["id"]) == created["data"]
    listed = envelope(api.get(TASKS), 200)["data"]
    assert [item["id"] for item in listed] == [created["data"]["id"]]


def test_create_without_params_stores_an_empty_object(api: InProcessApi) -> None:
    body = envelope(api.post(TASKS, json={"project_id": 1, "task_type": "search"}), 201)

    assert body["data"]["params"] == {}
    assert api.detail(body["data"]["id"])["params"] == {}


def test_each_create_makes_a_new_task(api: InProcessApi) -> None:
    request = {"project_id": 1, "task_type": "search", "params": {"query": "x"}}

    first = envelope(api.post(TASKS, json=request), 201)["data"]["id"]
    second = envelope(api.post(TASKS, json=request), 201)["data"]["id"]

    assert second > first
    assert len(api.rows()) == 2


def test_create_accepts_the_largest_project_id(api: InProcessApi) -> None:
    body = envelope(api.post(TASKS, json={"project_id": 2**63 - 1, "task_type": "ocr"}), 201)

    assert api.detail(body["data"]["id"])["project_id"] == 2**63 - 1


def test_create_accepts_a_json_content_type_with_charset(api: InProcessApi) -> None:
    response = api.post(
        TASKS,
        content='{"project_id": 1, "task_type": "search", "params": {"q": "图像"}}'.encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )

    assert envelope(response, 201)["data"]["params"] == {"q": "图像"}


@pytest.mark.parametrize("written", ["1.0", "1e0", "7.000"])
def test_a_whole_project_id_written_with_a_fraction_part_is_that_integer(
    api: InProcessApi, written: str
) -> None:
    """JSON has one number type and JSON Schema counts 1.0 as the integer 1 (the document says
    ``integer``): such a project id is taken as the integer; 1.5, "1" and true stay refused."""
    content = f'{{"project_id": {written}, "task_type": "search"}}'.encode()

    data = envelope(api.post(TASKS, content=content, headers={"content-type": "application/json"}), 201)[
        "data"
    ]

    assert data["project_id"] == int(float(written))
    assert api.detail(data["id"])["project_id"] == int(float(written))
