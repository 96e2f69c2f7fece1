"""The task table in a real browser: filters kept in the URL, keyset paging, live progress (by the
SSE stream, and by polling when the stream cannot be reached), the empty states."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TASKS, Dashboard

pytestmark = pytest.mark.slow  # real server processes and a real browser


def ids(page: Any) -> Any:
    """The ID cells of the table, top to bottom."""
    return page.locator("#tasks tbody tr td:first-child")


def as_text(task_ids: list[int]) -> list[str]:
    return [str(task_id) for task_id in task_ids]


def test_filters_by_project_status_and_type_are_kept_in_the_url(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    pending_crawl = dashboard.create(project, "crawl")  # no handler for crawl on this server: stays pending
    pending_index = dashboard.create(project, "index")
    completed = dashboard.create(project, "search", value={"papers_found": 3})
    dashboard.create(project + 100_000, "index")  # another project's task, never shown below
    dashboard.wait_for(completed, "completed")

    page.goto(dashboard.url)
    page.get_by_label("Project").fill(str(project))
    page.get_by_label("Project").press("Enter")
    expect(ids(page)).to_have_text(as_text([completed, pending_index, pending_crawl]))  # newest first
    expect(page).to_have_url(f"{dashboard.url}/?project_id={project}")

    page.get_by_label("Status").select_option("completed")
    expect(ids(page)).to_have_text(as_text([completed]))
    expect(page.locator("#tasks tbody .status")).to_have_text(["completed"])

    page.get_by_label("Status").select_option("")
    page.get_by_label("Type").select_option("index")
    expect(ids(page)).to_have_text(as_text([pending_index]))
    expect(page).to_have_url(f"{dashboard.url}/?project_id={project}&task_type=index")

    page.reload()  # a shared or reloaded view shows the same tasks and the same filters
    expect(ids(page)).to_have_text(as_text([pending_index]))
    expect(page.get_by_label("Project")).to_have_value(str(project))
    expect(page.get_by_label("Type")).to_have_value("index")
    expect(page.get_by_label("Status")).to_have_value("")
    expect(page.get_by_role("table")).to_contain_text(f"project {project}, type index")

    page.go_back()
    expect(ids(page)).to_have_text(as_text([completed, pending_index, pending_crawl]))
    expect(page.get_by_label("Type")).to_have_value("")


def test_pages_through_the_list_with_the_next_cursor(page: Any, dashboard: Dashboard, project: int) -> None:
    created = [dashboard.create(project, "crawl") for _ in range(45)]
    newest_first = as_text(created[::-1])

    page.goto(f"{dashboard.url}/?project_id={project}&limit=20")
    older = page.get_by_role("button", name="Older →")
    newer = page.get_by_role("button", name="← Newer")
    expect(ids(page)).to_have_text(newest_first[:20])
    expect(newer).to_be_disabled()

    older.click()
    expect(ids(page)).to_have_text(newest_first[20:40])
    expect(page).to_have_url(re.compile(r"[?&]cursor="))
    older.click()
    expect(ids(page)).to_have_text(newest_first[40:])
    expect(older).to_be_disabled()  # a page shorter than the limit is the last

    newer.click()
    expect(ids(page)).to_have_text(newest_first[20:40])
    page.reload()  # the cursor is in the URL: the same page comes back
    expect(ids(page)).to_have_text(newest_first[20:40])
    page.get_by_role("button", name="Newest").click()
    expect(ids(page)).to_have_text(newest_first[:20])


def _progress_rises_without_reload(page: Any, dashboard: Dashboard, task_id: int) -> None:
    bar = page.get_by_label(f"Progress of task {task_id}")
    expect(bar).to_have_attribute("max", "2000")  # the first progress report has arrived
    page.evaluate("window.notReloaded = true")
    first = float(bar.evaluate("bar => bar.value"))
    page.wait_for_function(
        "([bar, first]) => bar.value >= first + 10", arg=[bar.element_handle(), first], timeout=10_000
    )
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#tasks tbody .status")).to_have_text(["running"])
    assert dashboard.client.post(f"{TASKS}/{task_id}/cancel").status_code == 200


def test_progress_bars_move_live_from_the_stream(page: Any, dashboard: Dashboard, project: int) -> None:
    task_id = dashboard.create(project, "ocr", steps=2000, step_seconds=0.02)
    page.goto(f"{dashboard.url}/?project_id={project}")
    expect(page.locator("#live")).to_have_text("Live")
    _progress_rises_without_reload(page, dashboard, task_id)


def test_progress_bars_move_by_polling_when_the_stream_is_unreachable(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    page.route("**/api/v1/tasks/events*", lambda route: route.abort())  # as a proxy refusing SSE would
    task_id = dashboard.create(project, "ocr", steps=2000, step_seconds=0.02)
    page.goto(f"{dashboard.url}/?project_id={project}")
    expect(page.locator("#live")).to_have_text("Updating every 2 s")
    _progress_rises_without_reload(page, dashboard, task_id)


def test_an_empty_store_says_no_tasks_yet_and_how_to_create_one(
    page: Any, empty_dashboard: Dashboard
) -> None:
    page.goto(empty_dashboard.url)
    message = page.locator("#list-message")
    expect(message).to_contain_text("No tasks yet.")
    expect(message).to_contain_text(f"curl -X POST {empty_dashboard.url}/api/v1/tasks")
    expect(message).to_contain_text("taskapi submit search --project 1")
    expect(page.get_by_role("table")).to_be_hidden()

    task_id = empty_dashboard.create(1, "crawl")  # the first task appears without a reload
    expect(ids(page)).to_have_text(as_text([task_id]))
    expect(message).to_be_hidden()


def test_filters_that_match_nothing_say_so(page: Any, dashboard: Dashboard, project: int) -> None:
    dashboard.create(project, "crawl")
    page.goto(f"{dashboard.url}/?project_id={project}&status=failed")
    expect(page.locator("#list-message")).to_contain_text("No tasks match these filters.")
    page.get_by_role("link", name="show all tasks").click()
    expect(page).to_have_url(f"{dashboard.url}/")
    expect(ids(page).first).to_be_visible()
