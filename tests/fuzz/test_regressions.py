"""What the schema fuzzing (``test_schema_fuzz.py``) found where the document and the API disagreed,
one test each, on the app in-process with the papers routes: an id written ``1.0`` (an integer by
JSON Schema), the bound of an id (2^63-1, published as the float 2^63), the form of a cursor, a time
filter given as a number, and the methods a POST-only path of the tasks allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskapi.domain import MAX_ID
from taskapi.papers import PAPERS_COMPONENT
from taskapi.papers.files import LocalFileStore
from taskapi.papers.repository import PapersRepository
from taskapi.papers.service import PaperService
from taskapi.store.sqlite import SQLiteStore
from tests.helpers.server import InProcessApi, envelope, error_fields

TASKS = "/api/v1/tasks"
PAPER = {"title": "Attention Is All You Need", "year": 2017}
BODIES: dict[str, tuple[str, dict[str, Any], int]] = {  # each body with a project_id: path, rest, status
    "CreateTaskRequest": (TASKS, {"task_type": "keyword_expand", "params": {"keywords": ["graphs"]}}, 201),
    "BulkCancelRequest": (f"{TASKS}/cancel", {}, 200),
    "ImportPapersRequest": ("/api/v1/papers", {"papers": [PAPER]}, 201),
    "CreatePipelineRequest": ("/api/v1/pipelines", {"steps": ["dedup"]}, 201),
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    store = SQLiteStore(tmp_path / "x.db")
    store.migrate([PAPERS_COMPONENT])
    papers = PaperService(PapersRepository(store), LocalFileStore(tmp_path / "data"))
    api = InProcessApi(tmp_path / "x.db", store=store, app_options={"papers": papers})
    try:
        yield api
    finally:
        api.close()


def _post(api: InProcessApi, body: str, project_id: Any) -> httpx.Response:
    path, rest, _ = BODIES[body]
    return api.post(path, json={"project_id": project_id, **rest})


# -- project_id of 1.0: an integer by the document's schema ------------------------------------------


@pytest.mark.parametrize("body", list(BODIES))
def test_a_whole_number_written_as_1_0_is_the_id_1(api: InProcessApi, body: str) -> None:
    data = envelope(_post(api, body, 1.0), BODIES[body][2])["data"]
    if body == "ImportPapersRequest":  # the papers are project 1's
        listed = envelope(api.get("/api/v1/papers", params={"project_id": 1}), 200)["data"]
        assert [paper["id"] for paper in listed] == data["ids"]
    elif body != "BulkCancelRequest":  # (which answers only how many it cancelled)
        assert data["project_id"] == 1


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("project_id", ["1", True, 1.5, 0, MAX_ID + 1])
def test_a_project_id_that_is_not_a_whole_number_in_range_answers_400(
    api: InProcessApi, body: str, project_id: Any
) -> None:
    assert error_fields(envelope(_post(api, body, project_id), 400)) == ["project_id"]


# -- the document's bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", list(BODIES))
def test_the_document_bounds_a_body_project_id_by_the_exact_largest_id(api: InProcessApi, body: str) -> None:
    schema = api.get("/openapi.json").json()["components"]["schemas"][body]["properties"]["project_id"]
    assert (schema["type"], schema["minimum"], schema["maximum"]) == ("integer", 1, MAX_ID)
    assert isinstance(schema["maximum"], int)


def test_the_document_gives_the_task_cursor_its_form(api: InProcessApi) -> None:
    parameters = api.get("/openapi.json").json()["paths"][TASKS]["get"]["parameters"]
    [cursor] = [p["schema"] for p in parameters if p["name"] == "cursor"]
    assert {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"} in cursor["anyOf"]


@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_a_list_time_filter_that_is_a_number_answers_400(api: InProcessApi, name: str) -> None:
    assert error_fields(envelope(api.get(TASKS, params={name: "0.5"}), 400)) == [name]


# -- methods -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{TASKS}/batch", f"{TASKS}/cancel"])
@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_another_method_on_a_post_only_path_is_told_only_post(
    api: InProcessApi, path: str, method: str
) -> None:
    response = api.request(method, path)
    envelope(response, 405)
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("path", ["/api/v1/papers/1/text", "/api/v1/pipelines/1/cancel"])
def test_another_method_on_a_papers_or_pipelines_path_names_the_right_ones(
    api: InProcessApi, path: str
) -> None:
    response = api.request("PUT", path)
    envelope(response, 405)
    assert response.headers["allow"] == ("GET" if "papers" in path else "POST")
