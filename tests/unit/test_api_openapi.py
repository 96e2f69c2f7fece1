"""/openapi.json and /docs document the real answers: the envelope types and every status code a route
can return (and none it cannot)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskapi.domain import MAX_ID
from tests.helpers.server import DETAIL_FIELDS, LIST_FIELDS, TASKS, in_process_api

ROUTES = {
    ("get", TASKS): {"200", "400", "500", "503"},
    ("post", TASKS): {"201", "400", "409", "413", "500", "503", "507"},
    ("get", f"{TASKS}/{{id}}"): {"200", "400", "404", "500", "503"},
    ("post", f"{TASKS}/{{id}}/cancel"): {"200", "400", "404", "500", "503", "507"},
    ("post", f"{TASKS}/batch"): {"201", "400", "409", "413", "500", "503", "507"},
    ("post", f"{TASKS}/cancel"): {"200", "400", "413", "500", "503", "507"},
    ("get", f"{TASKS}/{{id}}/events"): {"200", "400", "404", "500", "503"},
}
SUCCESS_SCHEMAS = {
    ("get", TASKS): "ApiResponse_list_TaskSchema__",
    ("post", TASKS): "ApiResponse_TaskDetailSchema_",
    ("get", f"{TASKS}/{{id}}"): "ApiResponse_TaskDetailSchema_",
    ("post", f"{TASKS}/batch"): "ApiResponse_BatchCreatedSchema_",
    ("post", f"{TASKS}/cancel"): "ApiResponse_BulkCancelledSchema_",
    ("get", f"{TASKS}/{{id}}/events"): "ApiResponse_list_TaskEventSchema__",
}
CREATED = {("post", TASKS), ("post", f"{TASKS}/batch")}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with in_process_api(tmp_path_factory.mktemp("openapi") / "t.db") as api:
        response = api.get("/openapi.json")
        assert response.status_code == 200
        document = response.json()
        assert isinstance(document, dict)
        yield document


def schema(openapi: dict[str, Any], name: str) -> dict[str, Any]:
    schemas = openapi["components"]["schemas"]
    assert name in schemas, sorted(schemas)
    found = schemas[name]
    assert isinstance(found, dict)
    return found


def ref_name(ref_holder: dict[str, Any]) -> str:
    return str(ref_holder["$ref"]).rsplit("/", 1)[-1]


def response_schema(openapi: dict[str, Any], method: str, path: str, code: str) -> str:
    return ref_name(
        openapi["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
    )


def test_envelope_types_are_documented(openapi: dict[str, Any]) -> None:
    listing = schema(openapi, "ApiResponse_list_TaskSchema__")
    detail = schema(openapi, "ApiResponse_TaskDetailSchema_")
    error = schema(openapi, "ErrorResponse")

    for envelope in (listing, detail, error):
        assert {"code", "message", "data"} <= set(envelope["properties"])
    assert ref_name(listing["properties"]["data"]["items"]) == "TaskSchema"
    assert ref_name(detail["properties"]["data"]) == "TaskDetailSchema"


def test_the_timeline_and_bulk_schemas_are_documented(openapi: dict[str, Any]) -> None:
    event = schema(openapi, "TaskEventSchema")
    assert set(event["properties"]) == {"id", "task_id", "at", "kind", "attempt", "actor", "detail"}
    kinds = schema(openapi, "EventKind")["enum"]
    assert set(kinds) >= {"created", "claimed", "completed", "failed", "cancelled", "released"}
    assert set(schema(openapi, "BatchCreatedSchema")["properties"]) == {"count", "ids"}
    assert set(schema(openapi, "BulkCancelledSchema")["properties"]) == {"cancelled"}
    bulk = schema(openapi, "BulkCancelRequest")
    assert bulk["required"] == ["project_id"]
    assert schema(openapi, "BatchCreateRequest")["properties"]["tasks"]["maxItems"] == 10_000


def test_task_schemas_have_exactly_the_spec_fields(openapi: dict[str, Any]) -> None:
    assert set(schema(openapi, "TaskSchema")["properties"]) == LIST_FIELDS
    assert set(schema(openapi, "TaskDetailSchema")["properties"]) == DETAIL_FIELDS


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_route_documents_its_status_codes(openapi: dict[str, Any], method: str, path: str) -> None:
    documented = set(openapi["paths"][path][method]["responses"])

    assert ROUTES[method, path] <= documented


def test_validation_errors_are_documented_as_the_400_they_are_not_fastapis_422(
    openapi: dict[str, Any],
) -> None:
    """Validation answers 400 in the envelope: FastAPI's default 422 with its ``{"detail"}`` schema is
    never sent, so /docs must not promise it."""
    documented = {route: set(openapi["paths"][route[1]][route[0]]["responses"]) for route in ROUTES}
    detail_shaped = [  # FastAPI's HTTPValidationError: {"detail": [...]} and nothing else
        name
        for name, body in openapi["components"]["schemas"].items()
        if set(body.get("properties", {})) == {"detail"}
    ]

    assert documented == ROUTES
    assert detail_shaped == []


@pytest.mark.parametrize(("method", "path"), sorted(SUCCESS_SCHEMAS))
def test_success_answer_is_the_envelope_type(openapi: dict[str, Any], method: str, path: str) -> None:
    code = "201" if (method, path) in CREATED else "200"

    assert response_schema(openapi, method, path, code) == SUCCESS_SCHEMAS[method, path]


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_error_answers_are_the_error_envelope(openapi: dict[str, Any], method: str, path: str) -> None:
    for code in ROUTES[method, path] - {"200", "201"}:
        assert response_schema(openapi, method, path, code) == "ErrorResponse", code


def test_docs_page_answers(tmp_path: Path) -> None:
    with in_process_api(tmp_path / "t.db") as api:
        response = api.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


def test_list_parameters_are_documented(openapi: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in openapi["paths"][TASKS]["get"]["parameters"]}

    assert set(parameters) == {
        "project_id",
        "status",
        "limit",
        "task_type",
        "created_after",
        "created_before",
        "cursor",
    }
    assert parameters["limit"]["schema"]["default"] == 50
    assert parameters["limit"]["schema"]["maximum"] == 1000
    assert all(not p["required"] for p in parameters.values())


def _integer_schemas(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _integer_schemas(item)
    elif isinstance(node, dict):
        if node.get("type") == "integer":
            yield node
        for value in node.values():
            yield from _integer_schemas(value)


def test_integer_bounds_are_the_exact_integers(openapi: dict[str, Any]) -> None:
    """FastAPI's OpenAPI model turns bounds into floats: 2^63-1 would read 9.223372036854776e+18, which
    is 2^63, one past the largest id, and a fuzzer sends ``1.0`` for a minimum of ``1.0``."""
    for name in ("CreateTaskRequest", "BulkCancelRequest"):
        project_id = schema(openapi, name)["properties"]["project_id"]
        assert (project_id["minimum"], project_id["maximum"]) == (1, MAX_ID)
    bounds = [
        (key, value)
        for node in _integer_schemas(openapi)
        for key, value in node.items()
        if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    ]
    assert bounds and all(type(value) is int for _, value in bounds), bounds


def test_the_cursor_is_documented_with_its_form(openapi: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in openapi["paths"][TASKS]["get"]["parameters"]}

    assert {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"} in parameters["cursor"]["schema"]["anyOf"]
    for name in ("created_after", "created_before"):
        assert {"type": "string", "format": "date-time"} in parameters[name]["schema"]["anyOf"]
