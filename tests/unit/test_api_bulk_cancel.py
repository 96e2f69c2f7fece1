"""POST /api/v1/tasks/cancel: every pending or running task of a project (narrowed by status and type)
is cancelled in one statement and announced as a single cancel is; bad filters are 400 and change
nothing."""

from __future__ import annotations

from typing import Any

import pytest

from taskapi.signals import TaskSignal
from tests.helpers.server import TASKS, TEST_WORKER, InProcessApi, complete, envelope, error_fields, start

BULK = f"{TASKS}/cancel"


def status_of(api: InProcessApi, task_id: int) -> str:
    return str(api.detail(task_id)["status"])


def test_bulk_cancel_takes_every_pending_and_running_task_of_the_project(api: InProcessApi) -> None:
    pending, running, done = api.create(1, "ocr"), api.create(1, "crawl"), api.create(1, "index")
    other = api.create(2, "ocr")
    start(api.store, running)
    complete(api.store, done, {})
    heard: list[TaskSignal] = []
    api.service.signals.subscribe(heard.append)

    body = envelope(api.post(BULK, json={"project_id": 1}), 200)

    assert body == {"code": 200, "message": "2 tasks cancelled", "data": {"cancelled": 2}}
    assert [status_of(api, t) for t in (pending, running, done, other)] == [
        "cancelled",
        "cancelled",
        "completed",
        "pending",
    ]
    assert sorted(heard, key=lambda s: s.task_id) == [
        TaskSignal("cancelled", pending, worker_id=None),
        TaskSignal("cancelled", running, worker_id=TEST_WORKER),
    ]
    events = envelope(api.get(f"{TASKS}/{running}/events"), 200)["data"]
    assert [(e["kind"], e["detail"]) for e in events][-1] == ("cancelled", "was running")
    assert envelope(api.post(BULK, json={"project_id": 1}), 200)["data"] == {"cancelled": 0}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "running"}, {"crawl-running"}),
        ({"status": "pending"}, {"ocr-pending", "crawl-pending"}),
        ({"task_type": "crawl"}, {"crawl-running", "crawl-pending"}),
        ({"status": "pending", "task_type": "ocr"}, {"ocr-pending"}),
        ({"status": None, "task_type": None}, {"ocr-pending", "crawl-running", "crawl-pending"}),
    ],
)
def test_status_and_type_narrow_the_cancel(
    api: InProcessApi, filters: dict[str, Any], expected: set[str]
) -> None:
    tasks = {"crawl-running": api.create(1, "crawl")}
    start(api.store, tasks["crawl-running"])
    tasks |= {"ocr-pending": api.create(1, "ocr"), "crawl-pending": api.create(1, "crawl")}
    body = envelope(api.post(BULK, json={"project_id": 1, **filters}), 200)
    assert body["data"] == {"cancelled": len(expected)}
    assert {name for name, task_id in tasks.items() if status_of(api, task_id) == "cancelled"} == expected


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "project_id"),
        ({"project_id": 0}, "project_id"),
        ({"project_id": "1"}, "project_id"),
        ({"project_id": 1, "status": "completed"}, "status"),
        ({"project_id": 1, "status": "bogus"}, "status"),
        ({"project_id": 1, "task_type": "pdf"}, "task_type"),
        ({"project_id": 1, "everything": True}, "everything"),
    ],
)
def test_bad_filters_are_400_naming_the_field_and_cancel_nothing(
    api: InProcessApi, payload: dict[str, Any], field: str
) -> None:
    task_id = api.create(1, "ocr")
    body = envelope(api.post(BULK, json=payload), 400)
    assert error_fields(body) == [field]
    assert body["data"]["errors"][0]["location"] == "body"
    assert status_of(api, task_id) == "pending"


def test_an_unknown_field_lists_the_allowed_ones(api: InProcessApi) -> None:
    body = envelope(api.post(BULK, json={"project_id": 1, "type": "ocr"}), 400)
    assert "allowed: project_id, status, task_type" in body["message"]
