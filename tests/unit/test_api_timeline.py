"""GET /api/v1/tasks/{id}/events: a task's timeline, oldest first, each write signed by whoever made it
(``request.state.actor`` when the access control set one, else "api"); 404 for an unknown task, and a
404 that says when for a task deleted by retention."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import Request, Response

from tests.conftest import wait_until
from tests.helpers.server import (
    TASKS,
    TIME_FORMAT,
    InProcessApi,
    complete,
    envelope,
    error_fields,
    fail,
    start,
)

EVENT_FIELDS = {"id", "task_id", "at", "kind", "attempt", "actor", "detail"}


def timeline(api: InProcessApi, task_id: int) -> list[dict[str, object]]:
    data = envelope(api.get(f"{TASKS}/{task_id}/events"), 200)["data"]
    assert isinstance(data, list)
    return data


def test_a_completed_task_shows_created_claimed_completed_oldest_first(api: InProcessApi) -> None:
    task_id = api.create()
    complete(api.store, task_id, {"papers_found": 15})
    events = timeline(api, task_id)
    assert [(e["kind"], e["attempt"], e["actor"]) for e in events] == [
        ("created", 0, "api"),
        ("claimed", 1, "worker test-worker"),
        ("completed", 1, "worker test-worker"),
    ]
    assert all(set(e) == EVENT_FIELDS and e["task_id"] == task_id for e in events)
    assert all(isinstance(e["at"], str) and TIME_FORMAT.match(e["at"]) for e in events)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)  # type: ignore[type-var]


def test_a_failure_shows_its_error_and_a_cancel_what_it_stopped(api: InProcessApi) -> None:
    failed, cancelled = api.create(task_type="ocr"), api.create(task_type="crawl")
    fail(api.store, failed, "ValueError: no sources")
    start(api.store, cancelled)
    envelope(api.post(f"{TASKS}/{cancelled}/cancel"), 200)
    assert timeline(api, failed)[-1]["detail"] == "ValueError: no sources"
    last = timeline(api, cancelled)[-1]
    assert (last["kind"], last["detail"], last["actor"], last["attempt"]) == (
        "cancelled",
        "was running",
        "api",
        1,
    )


def test_writes_are_signed_with_the_actor_the_access_control_set(api: InProcessApi) -> None:
    @api.app.middleware("http")
    async def identify(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.actor = "operate token 3f9a1c"
        return await call_next(request)

    task_id = api.create()
    envelope(api.post(f"{TASKS}/{task_id}/cancel"), 200)
    batch = envelope(api.post(f"{TASKS}/batch", json={"tasks": [{"project_id": 1, "task_type": "ocr"}]}), 201)
    envelope(api.post(f"{TASKS}/cancel", json={"project_id": 1}), 200)
    assert {e["actor"] for e in timeline(api, task_id)} == {"operate token 3f9a1c"}
    [other] = batch["data"]["ids"]
    assert [(e["kind"], e["actor"]) for e in timeline(api, other)] == [
        ("created", "operate token 3f9a1c"),
        ("cancelled", "operate token 3f9a1c"),
    ]


def test_an_unknown_task_is_404_and_a_bad_id_400(api: InProcessApi) -> None:
    body = envelope(api.get(f"{TASKS}/999/events"), 404)
    assert body["message"] == "Task 999 not found"
    bad = envelope(api.get(f"{TASKS}/abc/events"), 400)
    assert error_fields(bad) == ["id"]


@pytest.mark.parametrize("path", ["", "/events"])
def test_a_pruned_task_is_404_saying_when(api: InProcessApi, path: str) -> None:
    task_id = api.create()
    complete(api.store, task_id, {})
    completed_at = api.service.get(task_id).completed_at
    assert completed_at is not None
    wait_until(lambda: datetime.now(UTC) > completed_at + timedelta(seconds=1), what="the task to age")
    before = datetime.now(UTC).replace(microsecond=0)
    assert api.service.prune(timedelta(seconds=1)) == 1
    body = envelope(api.get(f"{TASKS}/{task_id}{path}"), 404)
    message = body["message"]
    assert message.startswith(f"Task {task_id} was pruned on ") and message.endswith("(retention 1 second)")
    when = datetime.fromisoformat(message.split(" on ")[1].split(" ")[0]).replace(tzinfo=UTC)
    assert before <= when <= datetime.now(UTC)
    assert envelope(api.post(f"{TASKS}/{task_id}/cancel"), 404)["message"] == message
