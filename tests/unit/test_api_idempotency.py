"""The Idempotency-Key header on the create routes: a retry within a day answers the same 201, byte
for byte, and creates nothing; the key with a different body is a 409 naming the header; a malformed
key is a 400 naming it; the OpenAPI document says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import TASKS, InProcessApi, envelope

BODY = {"project_id": 1, "task_type": "search", "params": {"query": "graphene"}}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    api = InProcessApi(tmp_path / "api.db")
    try:
        yield api
    finally:
        api.close()


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def test_a_retried_create_answers_the_same_201(api: InProcessApi) -> None:
    first = api.post(TASKS, json=BODY, headers=keyed("create-1"))
    task_id = envelope(first, 201)["data"]["id"]
    envelope(api.post(f"{TASKS}/{task_id}/cancel"), 200)  # it moves on; the retry shows it as created
    again = api.post(TASKS, json=BODY, headers=keyed("create-1"))
    assert (again.status_code, again.content) == (201, first.content)
    assert api.detail(task_id)["status"] == "cancelled"
    listed = envelope(api.get(TASKS), 200)["data"]
    assert [task["id"] for task in listed] == [task_id]
    unkeyed = envelope(api.post(TASKS, json=BODY), 201)["data"]["id"]  # no key: a new task each time
    assert unkeyed != task_id


def test_a_retried_batch_answers_the_same_201(api: InProcessApi) -> None:
    batch = {"tasks": [BODY, {"project_id": 2, "task_type": "ocr"}]}
    first = api.post(f"{TASKS}/batch", json=batch, headers=keyed("batch-1"))
    assert envelope(first, 201)["data"]["count"] == 2
    again = api.post(f"{TASKS}/batch", json=batch, headers=keyed("batch-1"))
    assert (again.status_code, again.content) == (201, first.content)
    assert len(envelope(api.get(TASKS), 200)["data"]) == 2


@pytest.mark.parametrize(
    ("path", "other"),
    [
        (TASKS, {**BODY, "params": {"query": "graphite"}}),
        (TASKS, {**BODY, "project_id": 2}),
        (f"{TASKS}/batch", {"tasks": [BODY]}),  # the create's key on a batch
    ],
)
def test_the_key_with_a_different_request_is_a_409_naming_it(
    api: InProcessApi, path: str, other: dict[str, object]
) -> None:
    envelope(api.post(TASKS, json=BODY, headers=keyed("once")), 201)
    body = envelope(api.post(path, json=other, headers=keyed("once")), 409)
    assert "Idempotency-Key" in body["message"] and "different" in body["message"]
    [error] = body["data"]["errors"]
    assert (error["location"], error["field"]) == ("header", "Idempotency-Key")
    assert len(envelope(api.get(TASKS), 200)["data"]) == 1


@pytest.mark.parametrize(
    "key", [b"x" * 201, "caf\u00e9".encode(), b"", b"a\x7f"], ids=["long", "utf8", "empty", "del"]
)
@pytest.mark.parametrize("path", [TASKS, f"{TASKS}/batch"])
def test_a_malformed_key_is_a_400_naming_the_header(api: InProcessApi, key: bytes, path: str) -> None:
    content = BODY if path == TASKS else {"tasks": [BODY]}
    body = envelope(api.post(path, json=content, headers={"Idempotency-Key": key}), 400)
    [error] = body["data"]["errors"]
    assert (error["location"], error["field"]) == ("header", "Idempotency-Key")
    assert "printable ASCII" in error["message"]
    assert envelope(api.get(TASKS), 200)["data"] == []


def test_the_openapi_document_names_the_header_and_the_409(api: InProcessApi) -> None:
    document = openapi(api)
    for path in ("/api/v1/tasks", "/api/v1/tasks/batch"):
        operation = document["paths"][path]["post"]
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert headers == ["Idempotency-Key"]
        assert "409" in operation["responses"]


def openapi(api: InProcessApi) -> dict[str, Any]:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert isinstance(document, dict)
    return document
