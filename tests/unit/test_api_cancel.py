"""POST /api/v1/tasks/{id}/cancel: pending and running tasks are cancelled at once; final ones are 400;
unknown ids 404; a refused cancel changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from taskapi.store.base import Completion, ProgressWrite
from tests.helpers.server import (
    TASKS,
    TIME_FORMAT,
    InProcessApi,
    complete,
    envelope,
    fail,
    start,
)


def cancel(api: InProcessApi, task_id: int, status: int) -> dict[str, object]:
    return envelope(api.post(f"{TASKS}/{task_id}/cancel"), status)


def test_cancel_pending_task_answers_the_spec_body_and_the_task_is_cancelled(api: InProcessApi) -> None:
    task_id = api.create()
    before = datetime.now(UTC).replace(microsecond=0)

    assert cancel(api, task_id, 200) == {"code": 200, "message": "Task cancelled", "data": None}

    data = api.detail(task_id)
    assert data["status"] == "cancelled"
    assert TIME_FORMAT.match(data["completed_at"])
    assert datetime.fromisoformat(data["completed_at"]).replace(tzinfo=UTC) >= before
    assert data["started_at"] is None
    assert data["result"] is None


def test_cancel_running_task_wins_over_the_workers_later_writes(api: InProcessApi) -> None:
    task_id = api.create(task_type="crawl")
    running = start(api.store, task_id)

    assert cancel(api, task_id, 200) == {"code": 200, "message": "Task cancelled", "data": None}

    assert api.detail(task_id)["status"] == "cancelled"
    # the handler that was running it reports progress and a result afterwards: both are dropped
    assert api.store.task_set_progress([ProgressWrite(task_id, running.attempt, 5, 10)], 30.0) == [task_id]
    done = Completion(task_id, running.attempt, progress=10, total=10, result={"pages": 10})
    assert api.store.task_finish([done]) == []
    data = api.detail(task_id)
    assert (data["status"], data["result"], data["progress"]) == ("cancelled", None, 0)
    assert data["started_at"] is not None and data["completed_at"] is not None


def cancelled(api: InProcessApi, task_id: int) -> None:
    cancel(api, task_id, 200)


FINAL_STATES: dict[str, Callable[[InProcessApi, int], None]] = {
    "completed": lambda api, task_id: complete(api.store, task_id, {"papers_found": 1}),
    "failed": lambda api, task_id: fail(api.store, task_id, "boom"),
    "cancelled": cancelled,
}


@pytest.mark.parametrize("final", sorted(FINAL_STATES))
def test_cancel_final_task_is_400_and_changes_nothing(api: InProcessApi, final: str) -> None:
    task_id = api.create()
    FINAL_STATES[final](api, task_id)
    rows = api.rows()

    body = cancel(api, task_id, 400)

    assert body["data"] is None
    message = str(body["message"])
    assert str(task_id) in message and final in message
    assert api.rows() == rows
    assert api.detail(task_id)["status"] == final


def test_cancel_unknown_id_is_404_and_changes_nothing(api: InProcessApi) -> None:
    api.create()
    rows = api.rows()

    body = cancel(api, 404, 404)

    assert body["data"] is None and "404" in str(body["message"])
    assert api.rows() == rows


def test_cancel_touches_only_the_named_task(api: InProcessApi) -> None:
    keep = [api.create(), api.create()]
    target = api.create()
    rows = {row[0]: row for row in api.rows()}

    cancel(api, target, 200)

    after = {row[0]: row for row in api.rows()}
    assert [after[k] for k in keep] == [rows[k] for k in keep]
    assert after[target] != rows[target]


def test_cancelled_task_is_listed_as_cancelled(api: InProcessApi) -> None:
    task_id = api.create()
    other = api.create()
    cancel(api, task_id, 200)

    listed = envelope(api.get(TASKS, params={"status": "cancelled"}), 200)["data"]
    assert [item["id"] for item in listed] == [task_id]
    pending = envelope(api.get(TASKS, params={"status": "pending"}), 200)["data"]
    assert [item["id"] for item in pending] == [other]
