"""GET /api/v1/tasks: the spec's list (filters, limit, order, fields) and the extensions beyond it
(task_type, created_after/created_before, keyset paging with ``cursor`` / ``X-Next-Cursor``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from taskapi.api.schemas import TaskSchema
from tests.helpers.server import (
    LIST_FIELDS,
    TASKS,
    TIME_FORMAT,
    InProcessApi,
    complete,
    envelope,
    fail,
    insert_rows,
    start,
)


def listed(api: InProcessApi, **params: Any) -> list[dict[str, Any]]:
    body = envelope(api.get(TASKS, params=params), 200)
    assert body["message"] == "success"
    data = body["data"]
    assert isinstance(data, list)
    return data


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def walk_pages(api: InProcessApi, **params: Any) -> tuple[list[int], list[httpx.Response]]:
    """Follow ``X-Next-Cursor`` from the first page to the last; answer the ids seen and the pages."""
    seen: list[int] = []
    pages: list[httpx.Response] = []
    cursor: str | None = None
    while True:
        response = api.get(TASKS, params={**params, **({"cursor": cursor} if cursor else {})})
        seen += ids(envelope(response, 200)["data"])
        pages.append(response)
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            return seen, pages
        assert len(pages) <= 1000, "paging does not end"


# -- the spec ----------------------------------------------------------------------------------------


def test_empty_store_lists_an_empty_list_in_the_success_envelope(api: InProcessApi) -> None:
    response = api.get(TASKS)
    assert envelope(response, 200) == {"code": 200, "message": "success", "data": []}
    assert "X-Next-Cursor" not in response.headers


def test_list_items_carry_exactly_the_spec_list_fields(api: InProcessApi) -> None:
    task_id = api.create(project_id=7, task_type="crawl", url="https://example.org")

    [item] = listed(api)

    assert set(item) == LIST_FIELDS  # no params, result, error_message or times beyond created_at
    assert item["id"] == task_id
    assert item["project_id"] == 7
    assert item["task_type"] == "crawl"
    assert item["status"] == "pending"
    assert item["progress"] == 0 and item["total"] == 0
    assert TIME_FORMAT.match(item["created_at"]), item["created_at"]


def test_list_items_are_exactly_what_the_documented_schema_serialises(api: InProcessApi) -> None:
    """The list encodes its rows directly (a fast path): they must equal the OpenAPI schema's output."""
    for project in (1, 2):
        api.create(project_id=project, task_type="search", query="q")
        api.create(project_id=project, task_type="ocr", file="a.pdf")
    complete(api.store, api.create(project_id=3, task_type="dedup"), {"kept": 1})

    items = listed(api)
    expected = [TaskSchema.of(task).model_dump(mode="json") for task in api.service.list(limit=50)]
    assert items == expected
    assert [list(item) for item in items] == [list(row) for row in expected]  # same key order


def test_list_orders_by_created_at_descending_then_id_descending(api: InProcessApi) -> None:
    first, second, third, fourth = insert_rows(
        api.db_path,
        [
            (1, "search", "2025-03-12T10:00:00.000000"),
            (1, "search", "2025-03-12T09:00:00.000000"),  # newer id, older time
            (1, "search", "2025-03-12T11:00:00.000000"),
            (1, "search", "2025-03-12T10:00:00.000000"),  # ties with `first`: the higher id comes first
        ],
    )

    assert ids(listed(api)) == [third, fourth, first, second]


def test_list_limit_defaults_to_50_newest(api: InProcessApi) -> None:
    created = [task.id for task in api.service.create_many([(1, "search", None)] * 60)]

    assert ids(listed(api)) == sorted(created, reverse=True)[:50]


@pytest.mark.parametrize("limit", [1, 3, 1000])
def test_list_limit_caps_the_page_at_the_newest_tasks(api: InProcessApi, limit: int) -> None:
    created = [api.create() for _ in range(5)]

    assert ids(listed(api, limit=limit)) == sorted(created, reverse=True)[:limit]


def test_list_filters_by_project_id(api: InProcessApi) -> None:
    mine = [api.create(project_id=1), api.create(project_id=1)]
    api.create(project_id=2)

    assert ids(listed(api, project_id=1)) == mine[::-1]
    assert ids(listed(api, project_id=3)) == []


def tasks_in_every_status(api: InProcessApi) -> dict[str, int]:
    """One task per status, each of its own type so that claiming picks exactly it."""
    by_status = {
        "pending": api.create(task_type="search"),
        "running": api.create(task_type="crawl"),
        "completed": api.create(task_type="ocr"),
        "failed": api.create(task_type="index"),
        "cancelled": api.create(task_type="dedup"),
    }
    start(api.store, by_status["running"])
    complete(api.store, by_status["completed"], {"pages": 3})
    fail(api.store, by_status["failed"], "engine unreachable")
    envelope(api.post(f"{TASKS}/{by_status['cancelled']}/cancel"), 200)
    return by_status


@pytest.mark.parametrize("status", ["pending", "running", "completed", "failed", "cancelled"])
def test_list_filters_by_each_status(api: InProcessApi, status: str) -> None:
    by_status = tasks_in_every_status(api)

    items = listed(api, status=status)

    assert ids(items) == [by_status[status]]
    assert items[0]["status"] == status


def test_list_shows_progress_and_total_written_by_the_worker(api: InProcessApi) -> None:
    task_id = api.create(task_type="ocr")
    complete(api.store, task_id, {"pages": 9}, progress=9, total=9)

    [item] = listed(api)

    assert (item["status"], item["progress"], item["total"]) == ("completed", 9, 9)


def test_list_combines_project_and_status_filters(api: InProcessApi) -> None:
    wanted = api.create(project_id=1, task_type="search")
    api.create(project_id=2, task_type="crawl")
    start(api.store, wanted)
    other_project_running = api.create(project_id=2, task_type="ocr")
    start(api.store, other_project_running)
    api.create(project_id=1, task_type="index")  # pending

    assert ids(listed(api, project_id=1, status="running")) == [wanted]


# -- extensions: filters ------------------------------------------------------------------------------


def test_list_filters_by_task_type(api: InProcessApi) -> None:
    ocr = [api.create(task_type="ocr"), api.create(task_type="ocr")]
    api.create(task_type="search")
    api.create(task_type="keyword_expand")

    assert ids(listed(api, task_type="ocr")) == ocr[::-1]
    assert [item["task_type"] for item in listed(api, task_type="keyword_expand")] == ["keyword_expand"]


def test_created_after_and_before_bound_the_list_exclusively(api: InProcessApi) -> None:
    nine, ten, eleven, noon = insert_rows(
        api.db_path,
        [
            (1, "search", "2025-03-12T09:00:00.000000"),
            (1, "search", "2025-03-12T10:00:00.000000"),
            (1, "search", "2025-03-12T11:00:00.000000"),
            (1, "search", "2025-03-12T12:00:00.000000"),
        ],
    )

    assert ids(listed(api, created_after="2025-03-12T10:00:00")) == [noon, eleven]
    assert ids(listed(api, created_before="2025-03-12T11:00:00")) == [ten, nine]
    both = listed(api, created_after="2025-03-12T09:30:00", created_before="2025-03-12T11:30:00")
    assert ids(both) == [eleven, ten]


def test_created_after_with_an_offset_is_compared_in_utc(api: InProcessApi) -> None:
    ten, eleven = insert_rows(
        api.db_path,
        [(1, "search", "2025-03-12T10:00:00.000000"), (1, "search", "2025-03-12T11:00:00.000000")],
    )

    # 18:30 in Beijing is 10:30 UTC
    assert ids(listed(api, created_after="2025-03-12T18:30:00+08:00")) == [eleven]
    assert ids(listed(api, created_before="2025-03-12T18:30:00+08:00")) == [ten]


# -- extensions: keyset paging ------------------------------------------------------------------------


def test_paging_with_limit_7_shows_each_of_120_tasks_once_newest_first(api: InProcessApi) -> None:
    created = [api.service.create(project_id=1, task_type="search").id for _ in range(120)]

    seen, pages = walk_pages(api, limit=7)

    assert seen == sorted(created, reverse=True)
    assert len(pages) == 18  # 17 full pages and one of 1
    assert all(len(page.json()["data"]) == 7 for page in pages[:-1])
    assert "X-Next-Cursor" not in pages[-1].headers


def test_paging_through_tasks_that_share_created_at_loses_and_repeats_nothing(api: InProcessApi) -> None:
    rows = [(1, "search", "2025-03-12T10:00:00.000000")] * 25  # one instant, broken by id
    rows += [(1, "search", "2025-03-12T09:59:59.999999")] * 3 + [(1, "search", "2025-03-12T10:00:00.000001")]
    created = insert_rows(api.db_path, rows)
    newest = created[-1]
    tied = sorted(created[:25], reverse=True)
    older = sorted(created[25:28], reverse=True)

    for limit in (1, 4, 25):
        seen, _ = walk_pages(api, limit=limit)
        assert seen == [newest, *tied, *older], f"limit {limit}"


def test_paging_keeps_the_filters_on_every_page(api: InProcessApi) -> None:
    mine = []
    for n in range(20):
        mine.append(api.create(project_id=1, task_type="ocr"))
        api.create(project_id=1 + n % 2 + 1, task_type="ocr")  # other projects between

    seen, pages = walk_pages(api, limit=6, project_id=1)

    assert seen == mine[::-1]
    assert len(pages) == 4


def test_link_header_points_at_the_next_page_with_the_same_filters(api: InProcessApi) -> None:
    for _ in range(3):
        api.create(project_id=5)

    first = api.get(TASKS, params={"project_id": 5, "limit": 2})
    cursor = first.headers["X-Next-Cursor"]
    link = first.headers["Link"]

    assert link.endswith('>; rel="next"'), link
    target = httpx.URL(link[1 : link.index(">")])
    assert target.params["cursor"] == cursor
    assert target.params["project_id"] == "5" and target.params["limit"] == "2"
    assert ids(envelope(api.get(target.raw_path.decode()), 200)["data"]) == ids(
        envelope(api.get(TASKS, params={"project_id": 5, "limit": 2, "cursor": cursor}), 200)["data"]
    )


def test_tasks_created_while_paging_do_not_shift_the_next_page(api: InProcessApi) -> None:
    created = [api.create() for _ in range(6)]
    first = api.get(TASKS, params={"limit": 3})
    for _ in range(4):
        api.create()  # newer than everything: an OFFSET would repeat tasks of the first page

    second = api.get(TASKS, params={"limit": 3, "cursor": first.headers["X-Next-Cursor"]})

    assert ids(envelope(first, 200)["data"]) == created[:2:-1]
    assert ids(envelope(second, 200)["data"]) == created[2::-1]


def test_a_full_last_page_leads_to_an_empty_final_page(api: InProcessApi) -> None:
    """As the README says: every full page carries a cursor, a page shorter than ``limit`` is the last."""
    for _ in range(14):
        api.create()

    seen, pages = walk_pages(api, limit=7)

    assert len(set(seen)) == len(seen) == 14
    assert [len(page.json()["data"]) for page in pages] == [7, 7, 0]
    assert ["X-Next-Cursor" in page.headers for page in pages] == [True, True, False]


@pytest.mark.parametrize("junk", ["!", "+", "/", "=", " ", "%"])
def test_a_cursor_with_characters_outside_its_form_is_a_400(api: InProcessApi, junk: str) -> None:
    """The base64 decoder alone skips characters outside its alphabet: an issued cursor with one mixed
    in would be taken, though the document gives the cursor's form as URL-safe base64."""
    for _ in range(3):
        api.create()
    cursor = api.get(TASKS, params={"limit": 1}).headers["X-Next-Cursor"]

    body = envelope(api.get(TASKS, params={"limit": 1, "cursor": cursor[:5] + junk + cursor[5:]}), 400)

    assert (
        body["message"]
        == "Invalid request: cursor: not a cursor this API issued (use the X-Next-Cursor header)"
    )
