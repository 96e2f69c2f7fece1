"""POST /api/v1/tasks/batch: 1..10,000 tasks in one transaction, each checked as a single create is; one
bad item answers 400 naming its index and nothing is created."""

from __future__ import annotations

from typing import Any

import pytest

from taskapi.signals import TaskSignal
from tests.helpers.server import TASKS, InProcessApi, envelope, error_fields

BATCH = f"{TASKS}/batch"


def item(project_id: Any = 1, task_type: Any = "search", **params: Any) -> dict[str, Any]:
    return {"project_id": project_id, "task_type": task_type, "params": params}


def test_a_batch_is_created_in_order_and_answers_count_and_ids(api: InProcessApi) -> None:
    heard: list[TaskSignal] = []
    api.service.signals.subscribe(heard.append)
    body = envelope(api.post(BATCH, json={"tasks": [item(1, "ocr", page=1), item(2, "crawl"), item(3)]}), 201)
    assert body["message"] == "3 tasks created"
    assert body["data"]["count"] == 3
    ids = body["data"]["ids"]
    assert ids == sorted(ids) and len(set(ids)) == 3
    details = [api.detail(task_id) for task_id in ids]
    assert [(d["project_id"], d["task_type"], d["params"], d["status"]) for d in details] == [
        (1, "ocr", {"page": 1}, "pending"),
        (2, "crawl", {}, "pending"),
        (3, "search", {}, "pending"),
    ]
    assert [s.task_id for s in heard] == ids  # embedded workers hear of each at once


def test_the_largest_batch_is_accepted(api: InProcessApi) -> None:
    body = envelope(api.post(BATCH, json={"tasks": [{"project_id": 1, "task_type": "dedup"}] * 10_000}), 201)
    assert body["data"]["count"] == 10_000 and len(api.rows()) == 10_000


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (item(0), "tasks.2.project_id"),
        (item("1"), "tasks.2.project_id"),
        (item(1, "pdf"), "tasks.2.task_type"),
        ({"project_id": 1, "task_type": "ocr", "params": [1]}, "tasks.2.params"),
        (item(1, "ocr", q="a\x00b"), "tasks.2.params"),
        ({"project_id": 1}, "tasks.2.task_type"),
        ("not an object", "tasks.2"),
    ],
)
def test_one_bad_item_is_named_by_index_and_nothing_is_created(
    api: InProcessApi, bad: Any, field: str
) -> None:
    body = envelope(api.post(BATCH, json={"tasks": [item(), item(), bad, item()]}), 400)
    assert field in error_fields(body), body
    assert all(e["location"] == "body" for e in body["data"]["errors"]), body
    assert field in body["message"]
    assert api.rows() == []


def test_an_unknown_field_names_what_is_allowed_where(api: InProcessApi) -> None:
    in_item = envelope(api.post(BATCH, json={"tasks": [{**item(), "priority": 1}]}), 400)
    assert error_fields(in_item) == ["tasks.0.priority"]
    assert "allowed: project_id, task_type, params" in in_item["message"]
    on_top = envelope(api.post(BATCH, json={"tasks": [item()], "atomic": True}), 400)
    assert error_fields(on_top) == ["atomic"] and "allowed: tasks" in on_top["message"]
    assert api.rows() == []


@pytest.mark.parametrize(
    "payload", [{"tasks": []}, {"tasks": [item()] * 10_001}, {}, {"tasks": item()}, [item()], "x"]
)
def test_an_empty_oversized_or_shapeless_batch_is_400(api: InProcessApi, payload: Any) -> None:
    body = envelope(api.post(BATCH, json=payload), 400)
    assert error_fields(body)[0] in ("tasks", "body")
    assert api.rows() == []


def test_a_batch_over_the_body_limit_is_413(api: InProcessApi) -> None:
    padded = [item(pad="a" * 200)] * 10_000  # about 2.4 MB, over the 1 MiB default
    envelope(api.post(BATCH, json={"tasks": padded}), 413)
    assert api.rows() == []


def test_get_on_the_batch_path_is_not_a_task_but_a_405_naming_post(api: InProcessApi) -> None:
    """``batch`` is not an id: the detail route does not take it, so GET there is a method the path
    does not have."""
    response = api.get(BATCH)

    assert "POST" in envelope(response, 405)["message"]
    assert response.headers["allow"] == "POST"
