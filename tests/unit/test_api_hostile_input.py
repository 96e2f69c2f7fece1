"""Hostile input to the task routes is a 400 in the envelope that names what is wrong, changes nothing,
and is never a 500: params nested past the depth limit, numbers beyond 64 bits, text that is not
UTF-8 (or not Unicode), huge ids. One regression test each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.types import Message

from taskapi.api.schemas import MAX_PARAMS_DEPTH
from taskapi.domain import MAX_ID
from tests.helpers.server import TASKS, InProcessApi, envelope, error_fields, in_process_api

JSON = {"content-type": "application/json"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    with in_process_api(tmp_path / "t.db", raise_errors=False) as opened:
        opened.create()  # task 1, pending: "nothing changed" has something to compare
        yield opened


def refused(api: InProcessApi, method: str, url: str, **kwargs: object) -> dict[str, object]:
    rows = api.rows()
    body = envelope(api.request(method, url, **kwargs), 400)
    assert api.rows() == rows
    return body


def nested(levels: int) -> object:
    """``levels`` levels of arrays and objects, alternating, around a number."""
    value: object = 1
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def create_body(params: object) -> bytes:
    return json.dumps({"project_id": 1, "task_type": "search", "params": params}).encode()


# -- depth -------------------------------------------------------------------------------------------


def test_params_nested_up_to_the_limit_are_taken(api: InProcessApi) -> None:
    params = {"a": nested(MAX_PARAMS_DEPTH - 1)}  # the params object is the first level
    body = envelope(api.post(TASKS, content=create_body(params), headers=JSON), 201)
    assert body["data"]["params"] == params


def test_params_nested_past_the_limit_are_a_400_naming_params_and_the_limit(api: InProcessApi) -> None:
    body = refused(api, "POST", TASKS, content=create_body({"a": nested(MAX_PARAMS_DEPTH)}), headers=JSON)

    assert error_fields(body) == ["params"]
    assert f"deeper than {MAX_PARAMS_DEPTH} levels" in str(body["message"])


def test_a_batch_item_nested_past_the_limit_is_named_by_its_index(api: InProcessApi) -> None:
    item = {"project_id": 1, "task_type": "ocr", "params": {"a": nested(MAX_PARAMS_DEPTH)}}
    body = refused(
        api, "POST", f"{TASKS}/batch", json={"tasks": [{"project_id": 1, "task_type": "ocr"}, item]}
    )

    assert error_fields(body) == ["tasks.1.params"]


@pytest.mark.parametrize("path", [TASKS, f"{TASKS}/batch", f"{TASKS}/cancel"])
def test_a_body_nested_past_what_the_parser_reads_is_a_400_naming_the_body(
    api: InProcessApi, path: str
) -> None:
    """Deeper than the JSON parser's own recursion limit: no field can be named, the body can."""
    content = (
        b'{"project_id": 1, "task_type": "search", "params": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    )
    body = refused(api, "POST", path, content=content, headers=JSON)

    assert error_fields(body) == ["body"]
    assert "nested too deeply" in str(body["message"])


# -- numbers beyond 64 bits ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", [-(2**63), 2**64 - 1, 0, 2**53 + 1])
def test_params_integers_within_64_bits_are_kept_exactly(api: InProcessApi, number: int) -> None:
    body = envelope(api.post(TASKS, content=create_body({"n": number}), headers=JSON), 201)

    assert api.detail(body["data"]["id"])["params"] == {"n": number}


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30, -(10**300)])
def test_params_integers_beyond_64_bits_are_a_400_naming_where(api: InProcessApi, number: int) -> None:
    body = refused(api, "POST", TASKS, content=create_body({"a": [0, {"n": number}]}), headers=JSON)

    assert error_fields(body) == ["params"]
    assert "64 bits" in str(body["message"]) and "params.a.1.n" in str(body["message"])


@pytest.mark.parametrize("project_id", [2**63, 2**64, 10**30])
def test_a_project_id_beyond_64_bits_is_a_400(api: InProcessApi, project_id: int) -> None:
    for path, body in [
        (TASKS, {"project_id": project_id, "task_type": "search"}),
        (f"{TASKS}/cancel", {"project_id": project_id}),
        (f"{TASKS}/batch", {"tasks": [{"project_id": project_id, "task_type": "search"}]}),
    ]:
        answer = refused(api, "POST", path, content=json.dumps(body).encode(), headers=JSON)
        assert error_fields(answer)[0].endswith("project_id"), answer
        assert str(MAX_ID) in str(answer["message"])


@pytest.mark.parametrize("task_id", [str(2**63), str(2**64), "9" * 400, "9" * 5000])
def test_an_id_beyond_64_bits_is_a_short_400(api: InProcessApi, task_id: str) -> None:
    for method, path in [("GET", f"{TASKS}/{task_id}"), ("POST", f"{TASKS}/{task_id}/cancel")]:
        body = refused(api, method, path)
        assert error_fields(body) == ["id"]
        assert len(str(body["message"])) < 300  # the refused value is not echoed whole


def test_a_list_filter_beyond_64_bits_is_a_short_400(api: InProcessApi) -> None:
    body = refused(api, "GET", f"{TASKS}?project_id={'9' * 5000}")

    assert error_fields(body) == ["project_id"]
    assert "(5000 characters)" in str(body["message"])


# -- text that is not UTF-8, or not Unicode ---------------------------------------------------------------


@pytest.mark.parametrize("path", [TASKS, f"{TASKS}/batch", f"{TASKS}/cancel"])
def test_a_body_that_is_not_utf8_is_a_400_naming_the_body(api: InProcessApi, path: str) -> None:
    content = b'{"project_id": 1, "task_type": "search", "params": {"q": "\xff\xfe"}}'
    body = refused(api, "POST", path, content=content, headers=JSON)

    assert error_fields(body) == ["body"]
    assert "UTF-8" in str(body["message"])


@pytest.mark.parametrize(
    "params",
    [{"q": "\ud800"}, {"q": ["ok", "a\udfffb"]}, {"\udc00": 1}],
    ids=["value", "in-a-list", "key"],
)
def test_a_lone_surrogate_in_params_is_a_400_not_a_500(api: InProcessApi, params: object) -> None:
    """JSON's ``\\ud800`` escape can spell half of a UTF-16 pair; no answer could carry it back."""
    body = refused(api, "POST", TASKS, content=create_body(params), headers=JSON)  # json.dumps escapes it

    assert error_fields(body) == ["params"]
    assert "surrogate" in str(body["message"])


@pytest.mark.parametrize(("query", "name"), [("status=%FF", "status"), ("cursor=%FF%FE", "cursor")])
def test_a_query_value_that_is_not_utf8_is_a_400_naming_it(api: InProcessApi, query: str, name: str) -> None:
    assert error_fields(refused(api, "GET", f"{TASKS}?{query}")) == [name]


@pytest.mark.parametrize("path", [TASKS, f"{TASKS}/1", "/no/such/path", "/healthz"])
def test_a_raw_query_string_that_is_not_utf8_is_a_400_not_a_crash(api: InProcessApi, path: str) -> None:
    """uvicorn refuses such a request itself; another ASGI server may hand it on, and Starlette would
    then fail decoding it wherever it builds the URL (a next page's link, every error handler)."""
    api.create()  # two tasks: a list of one has a next page, and its link
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"limit=1&q=\xff",
        "headers": [(b"host", b"127.0.0.1:8000")],
    }
    asyncio.run(api.app(scope, receive, send))

    assert sent[0]["status"] == 400
    body = json.loads(sent[1]["body"])
    assert body["code"] == 400 and "UTF-8" in body["message"]
