"""Bad input answers 400 (413 for a body over 1 MiB) in the envelope, names the parameter, and changes
nothing; unknown paths 404, wrong methods 405; a crash 500 with a generic message and a logged traceback.

Every answer goes through ``envelope()``, which also checks that no body has FastAPI's ``{"detail"}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from taskapi.api import DEFAULT_MAX_BODY_BYTES
from taskapi.domain import ListedTask, NewTask, Task, TaskQuery
from taskapi.store.sqlite import SQLiteStore
from tests.helpers.server import TASKS, InProcessApi, body_of_size, envelope, error_fields, in_process_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    with in_process_api(tmp_path / "t.db") as opened:
        opened.create()  # a pending task #1, so that "nothing changed" has something to compare
        yield opened


def refused(
    api: InProcessApi, method: str, url: str, status: int = 400, **kwargs: object
) -> dict[str, object]:
    """Send a bad request; answer its error envelope after checking that the table did not change."""
    rows = api.rows()
    body = envelope(api.request(method, url, **kwargs), status)
    assert api.rows() == rows
    return body


# -- query parameters of the list ---------------------------------------------------------------------

BAD_LIST_QUERIES = [
    ("limit=0", "limit"),
    ("limit=1001", "limit"),
    ("limit=-1", "limit"),
    ("limit=abc", "limit"),
    ("limit=1.5", "limit"),
    ("limit=", "limit"),
    ("status=done", "status"),
    ("status=RUNNING", "status"),
    ("status=", "status"),
    ("task_type=translate", "task_type"),
    ("project_id=abc", "project_id"),
    ("project_id=0", "project_id"),
    (f"project_id={2**63}", "project_id"),
    ("created_after=yesterday", "created_after"),
    ("created_before=2025-13-01T00:00:00", "created_before"),
    ("created_after=0.5", "created_after"),  # a number: pydantic alone takes it as a Unix time
    ("created_before=1700000000", "created_before"),
    ("cursor=not-a-cursor", "cursor"),
    ("cursor=", "cursor"),
    ("cursor=MjAyNS0wMy0xMlQxMDowMDowMHw0Mg", "cursor"),  # "2025-03-12T10:00:00|42": no time zone
]


@pytest.mark.parametrize(("query", "name"), BAD_LIST_QUERIES, ids=[q for q, _ in BAD_LIST_QUERIES])
def test_bad_list_parameter_is_400_naming_it(api: InProcessApi, query: str, name: str) -> None:
    body = refused(api, "GET", f"{TASKS}?{query}")

    assert name in str(body["message"])
    assert error_fields(body) == [name]


@pytest.mark.parametrize(("query", "allowed"), [("limit=0", ["1"]), ("limit=1001", ["1000"])])
def test_bad_limit_says_what_is_allowed(api: InProcessApi, query: str, allowed: list[str]) -> None:
    message = str(refused(api, "GET", f"{TASKS}?{query}")["message"])

    assert all(word in message for word in allowed), message


def test_bad_status_lists_the_five_statuses(api: InProcessApi) -> None:
    message = str(refused(api, "GET", f"{TASKS}?status=done")["message"])

    assert all(s in message for s in ("pending", "running", "completed", "failed", "cancelled")), message


def test_bad_task_type_lists_the_six_types(api: InProcessApi) -> None:
    message = str(refused(api, "GET", f"{TASKS}?task_type=translate")["message"])

    assert all(t in message for t in ("search", "dedup", "crawl", "ocr", "index", "keyword_expand")), message


# -- ids in the path ----------------------------------------------------------------------------------

BAD_IDS = ["abc", "1.5", "1e3", "0", "-1", str(2**63), "99999999999999999999999"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_bad_id_on_detail_is_400_naming_the_id(api: InProcessApi, bad_id: str) -> None:
    body = refused(api, "GET", f"{TASKS}/{bad_id}")

    assert "id" in str(body["message"])
    assert error_fields(body) == ["id"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_bad_id_on_cancel_is_400_and_cancels_nothing(api: InProcessApi, bad_id: str) -> None:
    body = refused(api, "POST", f"{TASKS}/{bad_id}/cancel")

    assert error_fields(body) == ["id"]
    assert api.detail(1)["status"] == "pending"


# -- the body of a create -----------------------------------------------------------------------------


def raw(value: object) -> bytes:
    return json.dumps(value).encode()


VALID = {"project_id": 1, "task_type": "search", "params": {}}

BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not-json", b"{not json", "body"),
    ("truncated-json", b'{"project_id": 1, "task_type": ', "body"),
    ("json-array", raw([VALID]), "body"),
    ("json-string", raw("search"), "body"),
    ("json-null", b"null", "body"),
    ("empty", b"", "body"),
    ("missing-project_id", raw({"task_type": "search"}), "project_id"),
    ("missing-task_type", raw({"project_id": 1}), "task_type"),
    ("params-list", raw({**VALID, "params": [1, 2]}), "params"),
    ("params-string", raw({**VALID, "params": "query=x"}), "params"),
    ("params-null", raw({**VALID, "params": None}), "params"),
    ("unknown-field", raw({**VALID, "priority": 5}), "priority"),
    ("project_id-string", raw({**VALID, "project_id": "1"}), "project_id"),
    ("project_id-bool", raw({**VALID, "project_id": True}), "project_id"),
    ("project_id-fraction", raw({**VALID, "project_id": 1.5}), "project_id"),
    ("project_id-zero", raw({**VALID, "project_id": 0}), "project_id"),
    ("project_id-negative", raw({**VALID, "project_id": -3}), "project_id"),
    ("project_id-2**63", raw({**VALID, "project_id": 2**63}), "project_id"),
    ("project_id-null", raw({**VALID, "project_id": None}), "project_id"),
    ("task_type-unknown", raw({**VALID, "task_type": "translate"}), "task_type"),
    ("task_type-uppercase", raw({**VALID, "task_type": "SEARCH"}), "task_type"),
    ("task_type-number", raw({**VALID, "task_type": 1}), "task_type"),
    ("params-nan", b'{"project_id": 1, "task_type": "search", "params": {"x": NaN}}', "params"),
]


@pytest.mark.parametrize(("content", "name"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
def test_bad_create_body_is_400_naming_the_field_and_creates_nothing(
    api: InProcessApi, content: bytes, name: str
) -> None:
    body = refused(api, "POST", TASKS, content=content, headers={"content-type": "application/json"})

    assert name in str(body["message"])
    assert name in error_fields(body)


def test_body_without_content_type_that_is_not_json_is_400(api: InProcessApi) -> None:
    body = refused(api, "POST", TASKS, content=b"project_id=1&task_type=search")

    assert "body" in str(body["message"])


def test_body_field_errors_are_located_in_the_body_not_the_query(api: InProcessApi) -> None:
    """``data.errors[].location`` tells a client where to look: a body field is never a query parameter."""
    cases = [c for c in BAD_BODIES if c[2] != "body"]
    for case_id, content, _ in cases:
        body = refused(api, "POST", TASKS, content=content, headers={"content-type": "application/json"})
        data = body["data"]
        assert isinstance(data, dict)
        assert {error["location"] for error in data["errors"]} == {"body"}, (case_id, body)


def test_several_bad_fields_are_all_named(api: InProcessApi) -> None:
    body = refused(api, "POST", TASKS, json={"project_id": "x", "task_type": "translate", "params": []})

    assert sorted(error_fields(body)) == ["params", "project_id", "task_type"]


# -- body size ----------------------------------------------------------------------------------------

LIMIT = DEFAULT_MAX_BODY_BYTES


def test_body_of_exactly_1_mib_is_accepted(api: InProcessApi) -> None:
    assert LIMIT == 1024 * 1024
    response = api.post(TASKS, content=body_of_size(LIMIT), headers={"content-type": "application/json"})

    assert len(envelope(response, 201)["data"]["params"]["pad"]) > LIMIT - 100


def test_body_over_1_mib_is_413_and_creates_nothing(api: InProcessApi) -> None:
    body = refused(
        api, "POST", TASKS, 413, content=body_of_size(LIMIT + 1), headers={"content-type": "application/json"}
    )

    assert str(LIMIT) in str(body["message"])


def test_chunked_body_over_1_mib_without_content_length_is_413(api: InProcessApi) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        payload = body_of_size(LIMIT + 1)
        for start in range(0, len(payload), 64 * 1024):
            sent.append(start)
            yield payload[start : start + 64 * 1024]

    rows = api.rows()
    response = api.post(TASKS, content=chunks(), headers={"content-type": "application/json"})

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    envelope(response, 413)
    assert len(sent) == 17  # the whole body was offered; the 413 came from counting it
    assert api.rows() == rows


# -- paths and methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/api/v1/task", "/api/v2/tasks", f"{TASKS}/1/uncancel", f"{TASKS}/1/x/y"]
)
def test_unknown_path_is_404_in_the_envelope(api: InProcessApi, path: str) -> None:
    body = refused(api, "GET", path, 404)

    assert body["data"] is None
    assert path in str(body["message"])


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", f"{TASKS}/1", "GET"),
        ("PUT", f"{TASKS}/1", "GET"),
        ("PATCH", f"{TASKS}/1", "GET"),
        ("GET", f"{TASKS}/1/cancel", "POST"),
        ("DELETE", f"{TASKS}/1/cancel", "POST"),
    ],
)
def test_wrong_method_is_405_with_allow(api: InProcessApi, method: str, path: str, allowed: str) -> None:
    rows = api.rows()
    response = api.request(method, path)

    body = envelope(response, 405)
    assert response.headers["allow"] == allowed
    assert method in str(body["message"])
    assert api.rows() == rows


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", [f"{TASKS}/batch", f"{TASKS}/cancel"])
def test_another_method_on_a_post_only_collection_path_is_told_only_post(
    api: InProcessApi, method: str, path: str
) -> None:
    """``batch`` and ``cancel`` are not task ids: the detail route (GET) does not answer there."""
    response = api.request(method, path)

    envelope(response, 405)
    assert response.headers["allow"] == "POST"


def test_allow_lists_every_method_of_the_collection(api: InProcessApi) -> None:
    """/api/v1/tasks answers GET (list) and POST (create): a 405 there must name both."""
    response = api.request("DELETE", TASKS)

    envelope(response, 405)
    assert sorted(m.strip() for m in response.headers["allow"].split(",")) == ["GET", "POST"]


# -- failures of our own -------------------------------------------------------------------------------

SECRET = "secret-internal-state /srv/taskapi/db.sqlite"


class CrashingStore(SQLiteStore):
    """A test double for a bug: every operation the API calls crashes with an unexpected error."""

    def task_list(self, query: TaskQuery) -> list[ListedTask]:
        raise RuntimeError(SECRET)

    def task_get(self, task_id: int) -> Task | None:
        raise RuntimeError(SECRET)

    def task_create_many(self, news: Sequence[NewTask], actor: str = "api") -> list[Task]:
        raise RuntimeError(SECRET)


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", TASKS, None),
        ("GET", f"{TASKS}/1", None),
        ("POST", TASKS, {"project_id": 1, "task_type": "ocr"}),
    ],
)
def test_unexpected_error_is_a_generic_500_and_the_traceback_goes_to_the_log(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    payload: dict[str, object] | None,
) -> None:
    db = tmp_path / "crash.db"
    with in_process_api(db, store=CrashingStore(db), raise_errors=False) as api:
        with caplog.at_level(logging.ERROR):
            response = api.request(method, path, json=payload)
        rows = api.rows()

    body = envelope(response, 500)
    assert body["message"] == "Internal server error"
    assert body["data"] is None
    for leak in ("secret", "Traceback", "RuntimeError", "File "):
        assert leak not in response.text
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert logged, caplog.text
    assert SECRET in caplog.text and "Traceback" in caplog.text
    assert rows == []


def test_store_unavailable_is_503_with_retry_after(api: InProcessApi) -> None:
    api.store.close()

    response = api.get(TASKS)

    body = envelope(response, 503)
    assert body["data"] is None
    assert response.headers["retry-after"] == "1"
