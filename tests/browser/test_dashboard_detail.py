"""One task in a real browser: its params, result, error and timeline; cancel with a confirmation;
a task that does not exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TASKS, Dashboard
from tests.conftest import wait_until

pytestmark = pytest.mark.slow  # real server processes and a real browser


def _timeline_kinds(dashboard: Dashboard, task_id: int) -> list[str] | None:
    """The kinds the API's timeline lists for the task, or ``None`` when this server has no timeline."""
    response = dashboard.client.get(f"{TASKS}/{task_id}/events")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return [str(event["kind"]) for event in response.json()["data"]]


def _expect_timeline(page: Any, dashboard: Dashboard, task_id: int) -> None:
    kinds = _timeline_kinds(dashboard, task_id)
    if kinds is None:
        expect(page.get_by_text("No timeline for this task.")).to_be_visible()
    else:
        assert kinds[0] == "created", kinds
        expect(page.locator("#d-timeline li strong")).to_have_text(kinds)


def test_detail_shows_params_result_error_and_timeline_in_utc(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    found = dashboard.create(project, "search", query="graphene", value={"papers_found": 15})
    broken = dashboard.create(project, "search", query="perovskite", message="source unreachable: arxiv")
    done = dashboard.wait_for(found, "completed")
    dashboard.wait_for(broken, "failed")

    page.goto(f"{dashboard.url}/?project_id={project}")
    page.get_by_role("link", name=f"Task {found}", exact=True).click()
    expect(page).to_have_url(f"{dashboard.url}/?task={found}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Task {found}")
    expect(page.locator("#d-status")).to_have_text("completed")
    expect(page.locator("#d-params")).to_contain_text('"query": "graphene"')
    expect(page.locator("#d-result")).to_contain_text('"papers_found": 15')
    expect(page.locator("#d-error")).to_have_text("No error.")
    # as the API gives them (UTC), though browser and server both run in UTC+8
    expect(page.locator("#d-created")).to_have_text(done["created_at"])
    expect(page.locator("#d-started")).to_have_text(done["started_at"])
    expect(page.locator("#d-completed")).to_have_text(done["completed_at"])
    _expect_timeline(page, dashboard, found)
    expect(page.get_by_role("button", name="Cancel task")).to_be_hidden()  # it has ended

    page.go_back()
    page.get_by_role("link", name=f"Task {broken}", exact=True).click()
    expect(page.locator("#d-status")).to_have_text("failed")
    expect(page.locator("#d-error")).to_contain_text("source unreachable: arxiv")
    expect(page.locator("#d-result")).to_have_text("No result.")
    _expect_timeline(page, dashboard, broken)

    page.get_by_role("link", name="← All tasks").click()
    expect(page).to_have_url(f"{dashboard.url}/?project_id={project}")


def _wait_for_file(path: Path, timeout: float = 10.0) -> str:
    wait_until(path.exists, timeout=timeout, interval=0.02, what=f"{path.name}: the handler to stop")
    return path.read_text()


def test_cancel_asks_first_then_cancels_and_the_handler_stops(
    page: Any, dashboard: Dashboard, project: int, tmp_path: Path
) -> None:
    stopped = tmp_path / "stopped"
    task_id = dashboard.create(project, "ocr", steps=100_000, step_seconds=0.02, stopped=str(stopped))
    dashboard.wait_for(task_id, "running")

    page.goto(f"{dashboard.url}/?task={task_id}")
    expect(page.locator("#d-status")).to_have_text("running")
    dialog = page.get_by_role("dialog", name=f"Cancel task {task_id}?")

    page.get_by_role("button", name="Cancel task").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("is running")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    assert dashboard.task(task_id)["status"] == "running"  # saying no changes nothing

    page.get_by_role("button", name="Cancel task").click()
    dialog.get_by_role("button", name="Cancel task").click()
    expect(dialog.get_by_role("status")).to_have_text(f"Task {task_id} cancelled.")
    assert dashboard.task(task_id)["status"] == "cancelled"
    assert _wait_for_file(stopped).startswith("stopped after step")

    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#d-status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel task")).to_be_hidden()


def test_cancel_of_a_task_that_ended_meanwhile_shows_the_api_error_by_keyboard(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    task_id = dashboard.create(project, "ocr", steps=100_000, step_seconds=0.02)
    dashboard.wait_for(task_id, "running")
    page.goto(f"{dashboard.url}/?project_id={project}")

    page.get_by_role("button", name=f"Cancel task {task_id}").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Cancel task {task_id}?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Keep it")).to_be_focused()  # the safe choice first

    assert dashboard.client.post(f"{TASKS}/{task_id}/cancel").status_code == 200  # someone else was quicker
    again = dashboard.client.post(f"{TASKS}/{task_id}/cancel")
    assert again.status_code == 400
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Cancel task")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("status")).to_have_text(again.json()["message"])
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#tasks tbody .status")).to_have_text(["cancelled"])


def test_an_unknown_task_says_not_found(page: Any, dashboard: Dashboard) -> None:
    missing = 987_654_321
    answer = dashboard.client.get(f"{TASKS}/{missing}")
    assert answer.status_code == 404

    page.goto(f"{dashboard.url}/?task={missing}")
    alert = page.locator("#detail-missing")
    expect(alert).to_contain_text("Task not found.")
    expect(alert).to_contain_text(answer.json()["message"])
    expect(page.locator("#detail-body")).to_be_hidden()

    page.goto(f"{dashboard.url}/?task=abc")
    expect(alert).to_contain_text('"abc" is not a task ID.')
    alert.get_by_role("link", name="Back to all tasks").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")
