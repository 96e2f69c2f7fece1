"""The fast path of the hot task routes (``taskapi.api.fast``) answers exactly what FastAPI's routes
answer: the same status, the same headers in the same order, the same body, byte for byte.

Each request goes to two apps: ``create_app(service)`` and the same app with the fast path off
(``fast_path=False``, FastAPI's routes answering). Reads go to both apps over one database; writes to
two databases seeded alike, and then the two tables must hold the same. Every case also says whether
the fast path answers it itself or hands it on to FastAPI (bad input, paths and bodies not in their
plain form), and the test checks that too, so that the comparison covers the fast path's own answers.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from taskapi.api.auth import load_tokens
from taskapi.api.encoding import list_body
from taskapi.api.fast import HotRoutes
from taskapi.api.schemas import TaskSchema
from taskapi.domain import MAX_ID, ListedTask, Task, TaskQuery, TaskStatus
from taskapi.store.sqlite import SQLiteStore
from tests.helpers.server import TASKS, InProcessApi, complete, envelope, fail, insert_rows, start

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
JSON = {"content-type": "application/json"}
OPERATE = "0p3rate-t0ken-with-enough-length"


class Counted:
    """An ASGI app that counts the requests it is given, and passes them on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.count += 1
        await self.app(scope, receive, send)


def watch_the_fast_path(api: InProcessApi) -> tuple[Counted, Counted]:
    """Counters of the requests that reach the app's ``HotRoutes`` and of those it hands on to FastAPI
    (the middleware stack is built by the app's first request)."""
    envelope(api.get("/healthz"), 200)
    outer: Any = None
    node: Any = api.app.middleware_stack
    while node is not None and not isinstance(node, HotRoutes):
        outer, node = node, getattr(node, "app", None)
    assert isinstance(node, HotRoutes) and outer is not None, "the app has no fast path"
    outer.app = reached = Counted(node)
    node.app = handed_on = Counted(node.app)
    return reached, handed_on


@dataclass
class Pair:
    """The app with its fast path and the app without, called alike."""

    fast: InProcessApi
    framework: InProcessApi

    def __post_init__(self) -> None:
        self.reached, self.handed_on = watch_the_fast_path(self.fast)

    def both(self, method: str, url: str, **kwargs: Any) -> tuple[Answer, Answer, str]:
        """Both apps' answers, and who answered in the first: ``fast`` (the fast path), ``framework``
        (handed on to FastAPI), or ``before`` (refused before the fast path: the access control)."""
        reached, handed_on = self.reached.count, self.handed_on.count
        fast = self.fast.request(method, url, **kwargs)
        if self.reached.count == reached:
            by = "before"
        else:
            by = "framework" if self.handed_on.count > handed_on else "fast"
        return answer(fast), answer(self.framework.request(method, url, **kwargs)), by

    def same(self, method: str, url: str, *, by: str, **kwargs: Any) -> Answer:
        """Check that both apps answer alike, and who answered (see ``both``)."""
        with_fast_path, without, answered_by = self.both(method, url, **kwargs)
        assert with_fast_path == without
        assert answered_by == by
        return with_fast_path


def answer(response: httpx.Response) -> Answer:
    return response.status_code, list(response.headers.raw), response.content


def pair_over(fast_db: Path, framework_db: Path | None = None, **options: Any) -> Pair:
    """Two apps; over one store when ``framework_db`` is not given."""
    store = SQLiteStore(fast_db)
    other = store if framework_db is None else SQLiteStore(framework_db)
    fast = InProcessApi(fast_db, store=store, app_options=options)
    framework = InProcessApi(
        framework_db or fast_db, store=other, app_options={**options, "fast_path": False}
    )
    return Pair(fast, framework)


def close(pair: Pair) -> None:
    pair.fast.close()
    pair.framework.close()


# -- reads: both apps over one database ----------------------------------------------------------------


@dataclass
class Seeded:
    pair: Pair
    cursor: str  # the X-Next-Cursor of the first page of 3
    ids: dict[str, int]


def seed(api: InProcessApi) -> dict[str, int]:
    """Tasks in every status and type, ties in ``created_at``, params and results of every JSON kind."""
    spread = [(1 + n % 3, "ocr", f"2025-03-12T{9 + n % 4:02d}:00:00.{n:06d}") for n in range(12)]
    insert_rows(api.db_path, spread + [(2, "search", "2025-03-12T10:00:00.000000")] * 3)
    odd = {
        "f": [0.1, 1e16, 1e-7, -0.0, 1.0, 2.5e-300],
        "u": "图像 ü \u2028 \x7f",
        "n": None,
        "b": [True, False],
    }
    ids = {
        "pending": api.service.create(1, "search", odd).id,
        "running": api.service.create(1, "crawl", {"deep": [[[{"a": [1, {"b": 2}]}]]]}).id,
        "completed": api.service.create(2, "index", {"big": 2**64 - 1, "small": -(2**63)}).id,
        "failed": api.service.create(3, "dedup").id,
        "cancelled": api.service.create(3, "keyword_expand", {"keywords": ["graphs"]}).id,
        "pruned": api.service.create(4, "index").id,
    }
    start(api.store, ids["running"])
    complete(
        api.store, ids["completed"], {"score": 0.30000000000000004, "text": '图像\n\t"q"', "nested": odd}
    )
    fail(api.store, ids["failed"], 'engine said: "no" \u00e9\n')
    api.service.cancel(ids["cancelled"])
    complete(api.store, ids["pruned"], {})
    with closing(sqlite3.connect(api.db_path)) as conn, conn:  # finished long ago: retention prunes it
        conn.execute(
            "UPDATE tasks SET completed_at = '2020-01-01T00:00:00.000000' WHERE id = ?", [ids["pruned"]]
        )
    assert api.service.prune(timedelta(days=1)) == 1
    return ids


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    pair = pair_over(tmp_path_factory.mktemp("fast") / "t.db")
    try:
        ids = seed(pair.fast)
        cursor = pair.fast.get(TASKS, params={"limit": 3}).headers["x-next-cursor"]
        yield Seeded(pair, cursor, ids)
    finally:
        close(pair)


PLAIN_LISTS = [
    "",
    "limit=1",
    "limit=3",
    "limit=1000",
    "project_id=1",
    "project_id=2&status=pending",
    "status=running",
    "status=completed",
    "status=failed",
    "status=cancelled",
    "task_type=ocr",
    "task_type=keyword_expand&project_id=3",
    "created_after=2025-03-12T10:00:00",
    "created_before=2025-03-12T18:30:00%2B08:00",
    "created_after=2025-03-12T09:00:00Z&created_before=2025-03-12T11:00:00Z&limit=2",
    "created_after=2025-03-12",
    "limit=3&cursor={cursor}",
    "cursor={cursor}",
    "cursor={cursor}&project_id=1&limit=2",
    "limit=3&limit=2",  # the last of a name counts, as in FastAPI
    "unknown=1&limit=2",  # kept in the next page's link
    "limit=05",
    "limit=%2B5",
    "limit=%205",
    "limit=1_0",
    f"project_id={MAX_ID}",
]
BAD_LISTS = [
    "limit=0",
    "limit=1001",
    "limit=abc",
    "limit=",
    "limit=1.5",
    "status=done",
    "status=",
    "status=RUNNING",
    "status=%FF",
    "task_type=translate",
    "project_id=0",
    f"project_id={2**63}",
    "project_id=" + "9" * 5000,
    "project_id=abc",
    "created_after=yesterday",
    "created_after=0.5",
    "created_before=1700000000",
    "created_before=2025-13-01T00:00:00",
    "cursor=",
    "cursor=not-a-cursor",
    "cursor=AAAA",
    "cursor=%FF",
    "cursor={cursor}!",
    "cursor={cursor}%2B",
    "cursor=MjAyNS0wMy0xMlQxMDowMDowMHw0Mg",  # "2025-03-12T10:00:00|42": no time zone
    "limit=0&cursor=junk!",
]


@pytest.mark.parametrize("query", PLAIN_LISTS)
def test_a_list_is_answered_by_the_fast_path_as_fastapi_answers_it(seeded: Seeded, query: str) -> None:
    status, headers, _ = seeded.pair.same("GET", f"{TASKS}?{query.format(cursor=seeded.cursor)}", by="fast")
    assert status == 200
    assert (b"link" in dict(headers)) is (b"x-next-cursor" in dict(headers))


@pytest.mark.parametrize("query", BAD_LISTS)
def test_a_bad_list_query_is_handed_on_and_fastapi_refuses_it(seeded: Seeded, query: str) -> None:
    status, _, _ = seeded.pair.same("GET", f"{TASKS}?{query.format(cursor=seeded.cursor)}", by="framework")
    assert status == 400


def test_every_page_of_a_walk_is_the_same(seeded: Seeded) -> None:
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        _, headers, _ = seeded.pair.same("GET", TASKS, by="fast", params=query)
        cursor = dict(headers).get(b"x-next-cursor", b"").decode() or None
        pages += 1
        if cursor is None:
            break
    assert pages == 6  # 20 tasks live (one pruned), 4 a page, and the empty page after the last full one


@pytest.mark.parametrize("state", ["pending", "running", "completed", "failed", "cancelled", "pruned"])
def test_a_detail_is_answered_by_the_fast_path_as_fastapi_answers_it(seeded: Seeded, state: str) -> None:
    status, _, _ = seeded.pair.same("GET", f"{TASKS}/{seeded.ids[state]}", by="fast")
    assert status == (404 if state == "pruned" else 200)


@pytest.mark.parametrize(
    ("path", "fast", "status"),
    [
        ("9999", True, 404),
        (str(MAX_ID), True, 404),
        ("%31", True, 200),  # the path as the server decodes it: /1
        ("0", False, 400),
        ("-1", False, 400),
        ("abc", False, 400),
        ("1.5", False, 400),
        ("1e3", False, 400),
        ("01", False, 200),
        ("042", False, 404),
        ("%2B1", False, 200),
        (str(2**63), False, 400),
        ("9" * 400, False, 400),
        ("%FF", False, 400),
        ("1/", False, 307),  # FastAPI's redirect to the path without the slash
        ("batch", False, 405),
        ("cancel", False, 405),
    ],
)
def test_a_detail_path_not_in_its_plain_form_is_handed_on(
    seeded: Seeded, path: str, fast: bool, status: int
) -> None:
    assert seeded.pair.same("GET", f"{TASKS}/{path}", by="fast" if fast else "framework")[0] == status


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_fastapis(seeded: Seeded, method: str) -> None:
    for path in (TASKS, f"{TASKS}/1", f"{TASKS}/1/cancel"):
        seeded.pair.same(method, path, by="framework")


# -- writes: two databases seeded alike ----------------------------------------------------------------


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[Pair]:
    pair = pair_over(tmp_path / "fast.db", tmp_path / "framework.db")
    try:
        for api in (pair.fast, pair.framework):
            insert_rows(
                api.db_path, [(1, kind, "2025-03-12T10:00:00.000000") for kind in ("ocr", "crawl", "index")]
            )
            start(api.store, 2)
            complete(api.store, 3, {"pages": 1})
        yield pair
    finally:
        close(pair)


def same_tables(pair: Pair) -> None:
    """The two databases hold the same tasks and timelines, times aside (each wrote at its moment)."""
    for table, columns in [
        ("tasks", "id, project_id, task_type, status, progress, total, params, result, error_message"),
        ("task_events", "id, task_id, kind, attempt, actor, detail"),
    ]:
        query = f"SELECT {columns} FROM {table} ORDER BY id"
        rows = []
        for api in (pair.fast, pair.framework):
            with closing(sqlite3.connect(api.db_path)) as conn:
                rows.append(conn.execute(query).fetchall())
        assert rows[0] == rows[1], table


def same_created(pair: Pair, content: bytes, *, by: str, headers: dict[str, str] | None = None) -> Answer:
    """A create's answers are the same but for the new task's ``created_at`` (each app's clock)."""
    (status, raw, body), (status_, raw_, body_), answered_by = pair.both(
        "POST", TASKS, content=content, headers=JSON if headers is None else headers
    )
    assert answered_by == by
    stamp = rb'"created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"'
    masked = re.sub(stamp, b'"created_at":"?"', body)
    assert (status, masked) == (status_, re.sub(stamp, b'"created_at":"?"', body_))
    assert raw == raw_  # the same length: the times have the same width
    return status, raw, body


CREATES = [
    b'{"project_id": 1, "task_type": "search"}',
    b'{"project_id": 1, "task_type": "ocr", "params": {}}',
    b'{"task_type": "crawl", "project_id": 7, "params": {"url": "https://example.org", "depth": 2}}',
    b'{"project_id": 1.0, "task_type": "index"}',
    '{"project_id": 1, "task_type": "search", "params": {"q": "图像", "u": "\\u00e9\\u2028"}}'.encode(),
    b'{"project_id": 1, "task_type": "search", "params": {"f": [0.1, 1e16, 1e-7, -0.0, 1.0, 1E+2]}}',
    b'{"project_id": 1, "task_type": "search", "params": {"a": 1, "a": 2, "b": [true, false, null]}}',
    b' \n{"project_id": 1, "task_type": "keyword_expand", "params": {"keywords": ["x"]}}\t ',
    b'{"project_id": 1, "task_type": "search", "params": {"d": '
    + b"[" * 63
    + b"]" * 63
    + b"}}",  # 64 levels with params
]
HANDED_ON_CREATES = [
    b'{"project_id": 9223372036854775807, "task_type": "dedup"}',  # 19 digits
    b'{"project_id": 1, "task_type": "search", "params": {"n": 18446744073709551615}}',  # 20 digits
    b'{"project_id": 1, "task_type": "search", "params": {"n": -9223372036854775808}}',  # 19 digits
    b"\xef\xbb\xbf" + b'{"project_id": 1, "task_type": "search"}',  # a BOM: Python's json reads it
]


@pytest.mark.parametrize("content", CREATES, ids=range(len(CREATES)))
def test_a_create_is_answered_by_the_fast_path_as_fastapi_answers_it(twins: Pair, content: bytes) -> None:
    assert same_created(twins, content, by="fast")[0] == 201
    same_tables(twins)


@pytest.mark.parametrize("content", HANDED_ON_CREATES, ids=["largest-id", "u64", "i64", "bom"])
def test_a_create_body_orjson_would_read_otherwise_is_handed_on(twins: Pair, content: bytes) -> None:
    assert same_created(twins, content, by="framework")[0] == 201
    same_tables(twins)


def test_a_json_body_with_a_charset_is_the_fast_paths(twins: Pair) -> None:
    body = b'{"project_id": 1, "task_type": "search"}'
    headers = {"content-type": "application/json; charset=utf-8"}
    assert same_created(twins, body, by="fast", headers=headers)[0] == 201


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "application/vnd.api+json", "text/plain", ""])
def test_another_content_type_is_fastapis(twins: Pair, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    same_created(twins, b'{"project_id": 1, "task_type": "search"}', by="framework", headers=headers)


BAD_CREATES = [
    b"",
    b"{not json",
    b'{"project_id": 1, "task_type": ',
    b"[]",
    b"null",
    b'"search"',
    b'{"task_type": "search"}',
    b'{"project_id": 1}',
    b'{"project_id": 1, "task_type": "search", "params": [1]}',
    b'{"project_id": 1, "task_type": "search", "params": null}',
    b'{"project_id": 1, "task_type": "search", "priority": 5}',
    b'{"project_id": "1", "task_type": "search"}',
    b'{"project_id": true, "task_type": "search"}',
    b'{"project_id": 1.5, "task_type": "search"}',
    b'{"project_id": 0, "task_type": "search"}',
    b'{"project_id": 9223372036854775808, "task_type": "search"}',
    b'{"project_id": 1e300, "task_type": "search"}',
    b'{"project_id": 1, "task_type": "SEARCH"}',
    b'{"project_id": 1, "task_type": "search", "params": {"x": NaN}}',
    b'{"project_id": 1, "task_type": "search", "params": {"x": 1e400}}',
    b'{"project_id": 1, "task_type": "search", "params": {"x": "\\ud800"}}',
    b'{"project_id": 1, "task_type": "search", "params": {"x": "\xff"}}',
    b'{"project_id": 1, "task_type": "search", "params": {"n": 123456789012345678901234567890}}',
    b'{"project_id": 1, "task_type": "search", "params": {"d": ' + b"[" * 64 + b"]" * 64 + b"}}",
    b'{"project_id": 1, "task_type": "search", "params": {"d": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    b'{"project_id": "x", "task_type": "translate", "params": []}',
]


@pytest.mark.parametrize("content", BAD_CREATES, ids=range(len(BAD_CREATES)))
def test_a_bad_create_is_handed_on_and_fastapi_refuses_it(twins: Pair, content: bytes) -> None:
    status, _, _ = same_created(twins, content, by="framework")
    assert status == 400
    same_tables(twins)


def test_params_the_service_refuses_are_refused_by_the_fast_path_as_by_fastapi(twins: Pair) -> None:
    """The body is valid; the service refuses its params (a NUL, which PostgreSQL cannot store)."""
    body = b'{"project_id": 1, "task_type": "search", "params": {"x": "\\u0000"}}'
    assert same_created(twins, body, by="fast")[0] == 400
    same_tables(twins)


def test_a_create_with_an_idempotency_key_is_handed_on_and_answered_alike(twins: Pair) -> None:
    """The route answers keyed creates: the first, its retry (the same bytes), a conflict, a bad key."""
    body = b'{"project_id": 1, "task_type": "search", "params": {"query": "q"}}'
    keyed = {**JSON, "Idempotency-Key": "fast-1"}
    first = same_created(twins, body, by="framework", headers=keyed)
    assert first[0] == 201
    assert same_created(twins, body, by="framework", headers=keyed) == first
    other = b'{"project_id": 2, "task_type": "search", "params": {"query": "q"}}'
    assert same_created(twins, other, by="framework", headers=keyed)[0] == 409
    bad = {**JSON, "Idempotency-Key": "x" * 201}
    assert same_created(twins, body, by="framework", headers=bad)[0] == 400
    same_tables(twins)


@pytest.mark.parametrize(("task_id", "status"), [(1, 200), (2, 200), (3, 400), (99, 404)])
def test_a_cancel_is_answered_by_the_fast_path_as_fastapi_answers_it(
    twins: Pair, task_id: int, status: int
) -> None:
    assert twins.same("POST", f"{TASKS}/{task_id}/cancel", by="fast")[0] == status
    assert twins.same("POST", f"{TASKS}/{task_id}/cancel", by="fast")[0] == (404 if status == 404 else 400)
    same_tables(twins)


@pytest.mark.parametrize(
    ("path", "status"),
    [("0", 400), ("abc", 400), ("-1", 400), (str(2**63), 400), ("01", 200), ("042", 404), ("batch", 400)],
)
def test_a_cancel_path_not_in_its_plain_form_is_handed_on(twins: Pair, path: str, status: int) -> None:
    assert twins.same("POST", f"{TASKS}/{path}/cancel", by="framework")[0] == status
    same_tables(twins)


def test_a_cancel_ignores_a_body_as_fastapi_does(twins: Pair) -> None:
    twins.same("POST", f"{TASKS}/1/cancel", by="fast", content=b"{not json", headers=JSON)
    same_tables(twins)


# -- access control, a store down, a crash --------------------------------------------------------------


def test_the_fast_path_signs_writes_with_the_token_and_keeps_the_access_control(tmp_path: Path) -> None:
    pair = pair_over(
        tmp_path / "fast.db", tmp_path / "framework.db", tokens=load_tokens(f"operate:{OPERATE}", None)
    )
    bearer = {"Authorization": f"Bearer {OPERATE}"}
    try:
        for method, path in [
            ("GET", TASKS),
            ("POST", TASKS),
            ("GET", f"{TASKS}/1"),
            ("POST", f"{TASKS}/1/cancel"),
        ]:
            assert pair.same(method, path, by="before")[0] == 401
        same_created(pair, b'{"project_id": 1, "task_type": "ocr"}', by="fast", headers={**JSON, **bearer})
        pair.same("POST", f"{TASKS}/1/cancel", by="fast", headers=bearer)
        same_tables(pair)
        with closing(sqlite3.connect(pair.fast.db_path)) as conn:
            actors = conn.execute("SELECT kind, actor FROM task_events ORDER BY id").fetchall()
        assert [kind for kind, _ in actors] == ["created", "cancelled"]
        assert len({actor for _, actor in actors}) == 1
        assert actors[0][1].startswith("operate token ")
    finally:
        close(pair)


def test_a_token_in_the_query_stays_out_of_the_fast_paths_next_page_link(tmp_path: Path) -> None:
    pair = pair_over(tmp_path / "t.db", tokens=load_tokens(f"read:{OPERATE}", None))
    try:
        insert_rows(pair.fast.db_path, [(1, "ocr", "2025-03-12T10:00:00.000000")] * 2)
        url = f"{TASKS}?limit=1&access_token={OPERATE}&project_id=1"
        _, headers, _ = pair.same("GET", url, by="fast")
        link = dict(headers)[b"link"]
        assert OPERATE.encode() not in link and b"limit=1&project_id=1&cursor=" in link
    finally:
        close(pair)


def test_a_store_that_is_down_is_the_same_503(tmp_path: Path) -> None:
    pair = pair_over(tmp_path / "t.db")
    try:
        pair.fast.create()
        pair.fast.store.close()
        for method, path in [("GET", TASKS), ("GET", f"{TASKS}/1"), ("POST", f"{TASKS}/1/cancel")]:
            assert pair.same(method, path, by="fast")[0] == 503
        status, _, _ = same_created(pair, b'{"project_id": 1, "task_type": "ocr"}', by="fast")
        assert status == 503
    finally:
        close(pair)


class CrashingStore(SQLiteStore):
    """A test double for a bug: the operations of the hot routes crash with an unexpected error."""

    def task_list(self, query: TaskQuery) -> list[ListedTask]:
        raise RuntimeError("secret")

    def task_get(self, task_id: int) -> Task | None:
        raise RuntimeError("secret")

    def task_create_many(self, news: Any, actor: str = "api") -> list[Task]:
        raise RuntimeError("secret")


def test_a_crash_is_the_same_generic_500(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    fast = InProcessApi(db, store=CrashingStore(db), raise_errors=False)
    framework = InProcessApi(
        db, store=CrashingStore(db), raise_errors=False, app_options={"fast_path": False}
    )
    pair = Pair(fast, framework)
    try:
        for method, path in [("GET", TASKS), ("GET", f"{TASKS}/1")]:
            status, _, body = pair.same(method, path, by="fast")
            assert (status, body) == (500, b'{"code":500,"message":"Internal server error","data":null}')
        assert same_created(pair, b'{"project_id": 1, "task_type": "ocr"}', by="fast")[0] == 500
    finally:
        close(pair)


# -- the encoders both doors share -------------------------------------------------------------------


def _rows(page: list[ListedTask]) -> bytes:
    """What the list answered before its encoder: ``json.dumps`` of the documented rows."""
    body = {"code": 200, "message": "success", "data": [TaskSchema.row(task) for task in page]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


MOMENT = datetime(2025, 3, 12, 10, 0, 0, 123456, tzinfo=UTC)
PAGES = {
    "empty": [],
    "utc": [ListedTask(n, 2**63 - 1, "ocr", TaskStatus.RUNNING, n, 2 * n, MOMENT) for n in range(1, 4)],
    "whole-second": [ListedTask(1, 1, "search", TaskStatus.PENDING, 0, 0, MOMENT.replace(microsecond=0))],
    "year-999": [ListedTask(1, 1, "dedup", TaskStatus.FAILED, 0, 0, MOMENT.replace(year=999))],
    "offset": [
        ListedTask(1, 1, "index", TaskStatus.COMPLETED, 1, 1, MOMENT.astimezone(timezone(timedelta(hours=8))))
    ],
    "unknown-type": [ListedTask(1, 1, 'odd"+00:00"', TaskStatus.CANCELLED, 0, 0, MOMENT)],
}


@pytest.mark.parametrize("name", list(PAGES))
def test_the_list_encoder_answers_what_the_rows_serialised_to(name: str) -> None:
    page = PAGES[name]

    assert list_body(page) == _rows(page)
    if name != "unknown-type":  # the schema knows the six types only
        documented = [TaskSchema.of(task).model_dump(mode="json") for task in page]
        assert json.loads(list_body(page))["data"] == documented


def test_the_openapi_document_is_the_same_with_and_without_the_fast_path(seeded: Seeded) -> None:
    seeded.pair.same("GET", "/openapi.json", by="framework")
