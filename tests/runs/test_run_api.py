"""The pipeline runs' routes over each store, called in-process: the contract's shapes, the envelope,
400 naming the field (never 422) with nothing created, 404, the tokens' roles, the OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from taskapi.api import create_app
from taskapi.api.auth import load_tokens
from taskapi.service import TaskService
from taskapi.store.base import Store
from taskapi.worker import load_handlers, params_validators
from tests.helpers.server import TASKS, TIME_FORMAT, envelope, error_fields
from tests.runs.test_run_store import claim, outcome

PIPELINES = "/api/v1/pipelines"
READ = "r34d-t0ken-with-enough-length"
OPERATE = "0p3rate-t0ken-with-enough-length"
RUN_FIELDS = {
    "id",
    "project_id",
    "status",
    "steps",
    "query",
    "failed_step",
    "error",
    "created_at",
    "ended_at",
}
ALL_SIX = ["search", "dedup", "crawl", "ocr", "index", "keyword_expand"]


class Api:
    """The app of ``taskapi serve`` (with the built-in handlers' params checks) over ``store``."""

    def __init__(self, store: Store, **app_options: Any) -> None:
        validators = params_validators(load_handlers([], builtin=True))
        self.app = create_app(TaskService(store, validators=validators), **app_options)
        self._runner = asyncio.Runner()
        transport = httpx.ASGITransport(app=self.app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, url, **kwargs))

    def close(self) -> None:
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    client = Api(store)
    try:
        yield client
    finally:
        client.close()


def start(api: Api, **body: Any) -> dict[str, Any]:
    data: dict[str, Any] = envelope(api.request("POST", PIPELINES, json={"project_id": 1, **body}), 201)[
        "data"
    ]
    return data


def test_start_answers_201_with_the_run_and_its_first_step_a_pending_task(api: Api) -> None:
    run = start(api, query="graphene", params={"crawl": {"max_papers": 200}})
    assert set(run) == RUN_FIELDS
    assert (run["project_id"], run["status"], run["query"]) == (1, "running", "graphene")
    assert run["failed_step"] is None and run["error"] is None and run["ended_at"] is None
    assert TIME_FORMAT.match(run["created_at"])
    assert [set(step) for step in run["steps"]] == [{"task_type", "task_id", "status"}] * 6
    assert [step["task_type"] for step in run["steps"]] == ALL_SIX
    first, *rest = run["steps"]
    assert first["status"] == "pending" and isinstance(first["task_id"], int)
    assert all(
        step == {"task_type": step["task_type"], "task_id": None, "status": "waiting"} for step in rest
    )
    task = envelope(api.request("GET", f"{TASKS}/{first['task_id']}"), 200)["data"]
    assert task["task_type"] == "search"
    assert task["params"] == {"pipeline_run": run["id"], "query": "graphene"}  # the task's shape as ever


def test_get_follows_the_run_as_its_steps_complete(api: Api, store: Store) -> None:
    run = start(api, query="graphene", steps=["search", "dedup"])
    for task_id in (run["steps"][0]["task_id"], None):
        if task_id is None:
            task_id = envelope(api.request("GET", f"{PIPELINES}/{run['id']}"), 200)["data"]["steps"][1][
                "task_id"
            ]
        task = claim(store, task_id)
        assert store.task_finish([outcome(task)]) == [task_id]
    done = envelope(api.request("GET", f"{PIPELINES}/{run['id']}"), 200)["data"]
    assert done["status"] == "completed" and TIME_FORMAT.match(done["ended_at"])
    assert [step["status"] for step in done["steps"]] == ["completed", "completed"]


def test_a_failed_step_names_itself_and_its_error(api: Api, store: Store) -> None:
    run = start(api, steps=["dedup", "crawl"])
    task = claim(store, run["steps"][0]["task_id"])
    store.task_finish([outcome(task, error="dedup exploded")])
    failed = envelope(api.request("GET", f"{PIPELINES}/{run['id']}"), 200)["data"]
    assert (failed["status"], failed["failed_step"], failed["error"]) == ("failed", "dedup", "dedup exploded")
    assert [step["status"] for step in failed["steps"]] == ["failed", "skipped"]


def test_cancel_ends_the_run_and_its_step_and_a_second_cancel_is_400(api: Api) -> None:
    run = start(api, query="graphene")
    answer = envelope(api.request("POST", f"{PIPELINES}/{run['id']}/cancel"), 200)
    cancelled = answer["data"]
    assert cancelled["status"] == "cancelled" and cancelled["error"] == "cancelled by api"
    assert [step["status"] for step in cancelled["steps"]] == ["cancelled"] + ["skipped"] * 5
    task = envelope(api.request("GET", f"{TASKS}/{run['steps'][0]['task_id']}"), 200)["data"]
    assert task["status"] == "cancelled"
    again = envelope(api.request("POST", f"{PIPELINES}/{run['id']}/cancel"), 400)
    assert "already cancelled" in again["message"]


def test_unknown_runs_are_404_and_bad_ids_400(api: Api) -> None:
    for method, path in [("GET", f"{PIPELINES}/999999"), ("POST", f"{PIPELINES}/999999/cancel")]:
        assert envelope(api.request(method, path), 404)["message"] == "Pipeline run 999999 not found"
    for path in (f"{PIPELINES}/abc", f"{PIPELINES}/0"):
        assert error_fields(envelope(api.request("GET", path), 400)) == ["id"]


def test_the_list_shows_the_newest_runs_first_of_a_project_or_of_all(api: Api) -> None:
    made = [start(api, project_id=project, steps=["dedup"])["id"] for project in (1, 2, 1)]
    everything = envelope(api.request("GET", PIPELINES), 200)["data"]
    assert [run["id"] for run in everything] == made[::-1]
    assert all(set(run) == RUN_FIELDS for run in everything)
    first = envelope(api.request("GET", PIPELINES, params={"project_id": 1, "limit": 1}), 200)["data"]
    assert [run["id"] for run in first] == [made[2]]
    assert first[0] == envelope(api.request("GET", f"{PIPELINES}/{made[2]}"), 200)["data"]
    assert envelope(api.request("GET", PIPELINES, params={"project_id": 3}), 200)["data"] == []
    bad = envelope(api.request("GET", PIPELINES, params={"limit": 0}), 400)
    assert error_fields(bad) == ["limit"] and bad["data"]["errors"][0]["location"] == "query"


BAD_BODIES: list[tuple[Any, str]] = [
    ({"query": "x", "steps": ["search", "dedup", "scrape"]}, "steps.2"),
    ({"query": "x", "steps": ["dedup", "search"]}, "steps.1"),
    ({"query": "x", "steps": ["dedup", "dedup"]}, "steps.1"),
    ({"query": "", "steps": ["search"]}, "query"),
    ({"steps": ["keyword_expand"]}, "query"),
    ({"query": "x", "steps": ["dedup"], "params": {"crawl": {}}}, "params.crawl"),
    ({"query": "x", "params": {"crawl": 3}}, "params.crawl"),
    ({"query": "x", "params": [1]}, "params"),
    ({"query": "x", "params": {"crawl": {"max_papers": 0}}}, "params.crawl.max_papers"),
    ({"query": "x", "limit": 0}, "limit"),
    ({"query": "x", "sources": ["scopus"]}, "sources.0"),
    ({"query": "x", "projects": 1}, "projects"),
    ({"query": "x", "project_id": "1"}, "project_id"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[field for _, field in BAD_BODIES])
def test_bad_input_is_400_naming_the_field_in_the_body_and_creates_nothing(
    api: Api, store: Store, body: dict[str, Any], field: str
) -> None:
    answer = envelope(api.request("POST", PIPELINES, json={"project_id": 1, **body}), 400)
    assert error_fields(answer) == [field], answer
    assert answer["data"]["errors"][0]["location"] == "body"
    assert envelope(api.request("GET", TASKS), 200)["data"] == []
    assert store.run_get(1) is None


def test_an_unknown_field_names_the_fields_a_run_takes(api: Api) -> None:
    answer = envelope(api.request("POST", PIPELINES, json={"project_id": 1, "query": "x", "stpes": []}), 400)
    assert "allowed: project_id, query, sources, limit, steps, params" in answer["message"]


def test_tokens_read_may_show_operate_may_start_and_cancel(store: Store) -> None:
    tokens = load_tokens(f"read:{READ},operate:{OPERATE}", None)
    client = Api(store, tokens=tokens)
    try:
        body = {"project_id": 1, "steps": ["dedup"]}
        headers = {"Authorization": f"Bearer {READ}"}
        envelope(client.request("POST", PIPELINES, json=body, headers=headers), 403)
        envelope(client.request("POST", PIPELINES, json=body), 401)
        operate = {"Authorization": f"Bearer {OPERATE}"}
        run = envelope(client.request("POST", PIPELINES, json=body, headers=operate), 201)["data"]
        assert (
            envelope(client.request("GET", f"{PIPELINES}/{run['id']}", headers=headers), 200)["data"] == run
        )
        envelope(client.request("POST", f"{PIPELINES}/{run['id']}/cancel", headers=headers), 403)
        cancelled = envelope(client.request("POST", f"{PIPELINES}/{run['id']}/cancel", headers=operate), 200)
        assert cancelled["data"]["error"].startswith("cancelled by operate token ")
    finally:
        client.close()


def test_the_openapi_document_describes_the_routes_without_422(api: Api) -> None:
    schema = envelope_free(api.request("GET", "/openapi.json"))
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths[PIPELINES]) and "get" in paths[f"{PIPELINES}/{{id}}"]
    assert "post" in paths[f"{PIPELINES}/{{id}}/cancel"]
    for path in (PIPELINES, f"{PIPELINES}/{{id}}", f"{PIPELINES}/{{id}}/cancel"):
        for operation in paths[path].values():
            assert "422" not in operation["responses"]
            assert "400" in operation["responses"]
    request = schema["components"]["schemas"]["CreatePipelineRequest"]
    assert set(request["properties"]) == {"project_id", "query", "sources", "limit", "steps", "params"}
    assert set(schema["components"]["schemas"]["PipelineRunSchema"]["properties"]) == RUN_FIELDS


def envelope_free(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data
