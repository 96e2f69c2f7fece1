"""Pipeline runs in a real browser over a real ``taskapi serve``: start a run from the page, its steps
with live bars (by the stream, and by polling when the stream cannot be reached) linked to their tasks,
a project's runs, cancel with a confirmation, a failed step, bad input, an unknown run.

The server runs the browser tests' handlers (``tests.browser.handlers``): ``search`` completes at once
(or fails with ``params.message``) and ``ocr`` advances a step every 0.05 s, so a run of
``search, ocr`` has its second step visibly moving; the other types have no handler and wait.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import READ_TOKEN, TASKS, Dashboard
from tests.browser.test_dashboard_papers import save_docs_screenshot
from tests.conftest import wait_until

pytestmark = pytest.mark.slow  # real server processes and a real browser

RUNS = "/api/v1/pipelines"


def start_run(dashboard: Dashboard, project: int, steps: list[str], **extra: Any) -> dict[str, Any]:
    body = {"project_id": project, "query": "graphene", "steps": steps, **extra}
    response = dashboard.client.post(RUNS, json=body)
    assert response.status_code == 201, response.text
    run = response.json()["data"]
    assert isinstance(run, dict)
    return run


def run_of(dashboard: Dashboard, run_id: int) -> dict[str, Any]:
    response = dashboard.client.get(f"{RUNS}/{run_id}")
    assert response.status_code == 200, response.text
    run = response.json()["data"]
    assert isinstance(run, dict)
    return run


def step_task(dashboard: Dashboard, run_id: int, task_type: str) -> int:
    """The task of the run's ``task_type`` step, once the chaining has created it."""

    def created() -> int:
        [step] = [step for step in run_of(dashboard, run_id)["steps"] if step["task_type"] == task_type]
        return int(step["task_id"] or 0)

    return wait_until(created, timeout=15, interval=0.02, what=f"the {task_type} step of run {run_id}")


def rises(page: Any, bar: Any, by: float = 10) -> None:
    """The bar's value grows by ``by`` without the page reloading."""
    page.evaluate("window.notReloaded = true")
    first = float(bar.evaluate("bar => bar.value"))
    page.wait_for_function(
        "([bar, first, by]) => bar.value >= first + by", arg=[bar.element_handle(), first, by], timeout=10_000
    )
    assert page.evaluate("window.notReloaded") is True


def step_row(page: Any, task_type: str) -> Any:
    return page.locator(f'#run-steps tbody tr[data-step="{task_type}"]')


# -- starting and watching -------------------------------------------------------------------------------


def test_a_run_started_here_shows_its_steps_moving_live_and_links_them_to_their_tasks(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    page.goto(f"{dashboard.url}/?view=runs&project={project}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pipeline runs")
    expect(page.locator("#runs-message")).to_contain_text(f"No runs in project {project} yet.")
    expect(page.locator("#runs-message")).to_contain_text(f"taskapi pipeline run --project {project}")
    form = page.locator("#run-form")
    expect(form.get_by_label("Project")).to_have_value(str(project))  # the view's project
    form.get_by_label("Query").fill("graphene")
    for step in ["dedup", "crawl", "index", "keyword_expand"]:
        form.get_by_label(step, exact=True).uncheck()
    form.get_by_role("button", name="Start run").click()

    expect(page).to_have_url(re.compile(r"/\?run=\d+$"))
    run_id = int(page.url.rsplit("=", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Run {run_id}")
    run = run_of(dashboard, run_id)
    assert run["project_id"] == project and run["query"] == "graphene"
    assert [step["task_type"] for step in run["steps"]] == ["search", "ocr"]
    ocr = step_task(dashboard, run_id, "ocr")
    expect(page.locator("#r-status")).to_have_text("running")
    expect(step_row(page, "search").locator(".status")).to_have_text("completed")
    expect(step_row(page, "ocr").locator(".status")).to_have_text("running")
    expect(page.locator("#live")).to_have_text("Live")
    bar = page.get_by_label(f"Progress of ocr in run {run_id}")
    expect(bar).to_have_attribute("max", "2000")
    rises(page, bar)

    step_row(page, "ocr").get_by_role("link", name=f"Task {ocr}").click()
    expect(page).to_have_url(f"{dashboard.url}/?task={ocr}")
    expect(page.locator("#d-params")).to_contain_text(f'"pipeline_run": {run_id}')
    page.go_back()
    expect(step_row(page, "ocr").locator(".status")).to_have_text("running")

    page.get_by_role("link", name="← Runs").click()
    expect(page).to_have_url(f"{dashboard.url}/?view=runs&project={project}")
    row = page.locator(f'#runs tbody tr[data-id="{run_id}"]')
    expect(row.locator(".status").first).to_have_text("running")
    strip = row.get_by_role("list", name=f"Steps of run {run_id}")
    expect(strip.get_by_role("link")).to_have_text(["search", "ocr"])
    rises(page, page.get_by_label(f"Progress of ocr in run {run_id}"))
    assert dashboard.client.post(f"{RUNS}/{run_id}/cancel").status_code == 200


def test_the_steps_move_by_polling_when_the_stream_is_unreachable(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    page.route("**/api/v1/tasks/events*", lambda route: route.abort())  # as a proxy refusing SSE would
    run = start_run(dashboard, project, ["search", "ocr"])
    step_task(dashboard, run["id"], "ocr")
    page.goto(f"{dashboard.url}/?run={run['id']}")
    expect(page.locator("#live")).to_have_text("Updating every 2 s")
    bar = page.get_by_label(f"Progress of ocr in run {run['id']}")
    expect(bar).to_have_attribute("max", "2000")
    rises(page, bar)
    assert dashboard.client.post(f"{RUNS}/{run['id']}/cancel").status_code == 200


# -- cancel ----------------------------------------------------------------------------------------------


def test_cancel_asks_first_then_cancels_the_run_and_its_step_in_flight(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    run = start_run(dashboard, project, ["search", "ocr", "index"])
    ocr = step_task(dashboard, run["id"], "ocr")
    dashboard.wait_for(ocr, "running")
    page.goto(f"{dashboard.url}/?run={run['id']}")
    dialog = page.get_by_role("dialog", name=f"Cancel run {run['id']}?")

    page.get_by_role("button", name="Cancel run").click()
    expect(dialog).to_contain_text(f"Its ocr step (task {ocr}) is running.")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    assert run_of(dashboard, run["id"])["status"] == "running"  # saying no changes nothing

    page.get_by_role("button", name="Cancel run").click()
    dialog.get_by_role("button", name="Cancel run").click()
    expect(dialog.get_by_role("status")).to_have_text(f"Run {run['id']} cancelled.")
    ended = run_of(dashboard, run["id"])
    assert ended["status"] == "cancelled"
    assert [step["status"] for step in ended["steps"]] == ["completed", "cancelled", "skipped"]
    assert dashboard.task(ocr)["status"] == "cancelled"

    dialog.get_by_role("button", name="Close").click()
    expect(page.locator("#r-status")).to_have_text("cancelled")
    expect(page.locator("#run-steps tbody .status")).to_have_text(["completed", "cancelled", "skipped"])
    expect(step_row(page, "index")).to_contain_text("not created yet")
    expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()
    expect(page.locator("#r-reason")).to_have_text(ended["error"] or "—")


def test_cancel_from_the_list_of_a_run_that_ended_meanwhile_shows_the_api_error(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    run = start_run(dashboard, project, ["search", "ocr"])
    step_task(dashboard, run["id"], "ocr")
    page.goto(f"{dashboard.url}/?view=runs&project={project}")
    page.get_by_role("button", name=f"Cancel run {run['id']}").click()
    dialog = page.get_by_role("dialog", name=f"Cancel run {run['id']}?")
    expect(dialog.get_by_role("button", name="Keep it")).to_be_focused()  # the safe choice first

    assert dashboard.client.post(f"{RUNS}/{run['id']}/cancel").status_code == 200  # someone was quicker
    again = dashboard.client.post(f"{RUNS}/{run['id']}/cancel")
    assert again.status_code == 400
    dialog.get_by_role("button", name="Cancel run").click()
    expect(dialog.get_by_role("status")).to_have_text(again.json()["message"])
    dialog.get_by_role("button", name="Close").click()
    row = page.locator(f'#runs tbody tr[data-id="{run["id"]}"]')
    expect(row.locator("td > .status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name=f"Cancel run {run['id']}")).to_be_hidden()


# -- how runs end, and bad input ---------------------------------------------------------------------------


def test_a_failed_step_fails_the_run_and_says_which(page: Any, dashboard: Dashboard, project: int) -> None:
    run = start_run(
        dashboard, project, ["search", "dedup"], params={"search": {"message": "every source failed"}}
    )
    wait_until(
        lambda: run_of(dashboard, run["id"])["status"] == "failed",
        timeout=15,
        interval=0.02,
        what="the run to fail",
    )
    page.goto(f"{dashboard.url}/?run={run['id']}")
    expect(page.locator("#r-status")).to_have_text("failed")
    expect(page.locator("#r-reason")).to_contain_text("the search step failed")
    expect(page.locator("#r-reason")).to_contain_text("every source failed")
    expect(page.locator("#run-steps tbody .status")).to_have_text(["failed", "skipped"])


def test_bad_input_says_what_is_wrong_and_starts_nothing(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    page.goto(f"{dashboard.url}/?view=runs&project={project}")
    form = page.locator("#run-form")
    form.get_by_role("button", name="Start run").click()  # no query, but the run searches
    message = page.locator("#run-form-message")
    expect(message).to_contain_text("The run was not started.")
    expect(message).to_contain_text("query")
    expect(page).to_have_url(f"{dashboard.url}/?view=runs&project={project}")
    tasks = dashboard.client.get(TASKS, params={"project_id": project}).json()["data"]
    assert tasks == []


def test_a_read_token_cannot_start_or_cancel_and_the_page_says_how_to_switch(
    page: Any, token_dashboard: Dashboard, project: int
) -> None:
    run = start_run(token_dashboard, project, ["search", "ocr"])  # with the operate token
    page.goto(f"{token_dashboard.url}/?view=runs&project={project}")
    dialog = page.get_by_role("dialog", name="API token")
    dialog.get_by_label("Token").fill(READ_TOKEN)
    dialog.get_by_role("button", name="Use token").click()
    expect(page.locator(f'#runs tbody tr[data-id="{run["id"]}"]')).to_be_visible()

    form = page.locator("#run-form")
    form.get_by_label("Query").fill("graphene")
    form.get_by_role("button", name="Start run").click()
    expect(page.locator("#run-form-message")).to_contain_text("This token may only read")
    expect(form.get_by_role("button", name="Start run")).to_be_hidden()
    page.reload()  # the token and what it may do last for the tab
    expect(page.locator(f'#runs tbody tr[data-id="{run["id"]}"]')).to_be_visible()
    expect(page.get_by_role("button", name=f"Cancel run {run['id']}")).to_be_hidden()
    expect(form.get_by_role("button", name="Start run")).to_be_hidden()
    assert [
        r["id"] for r in token_dashboard.client.get(RUNS, params={"project_id": project}).json()["data"]
    ] == [run["id"]]
    assert token_dashboard.client.post(f"{RUNS}/{run['id']}/cancel").status_code == 200


def test_an_unknown_run_says_not_found_and_a_run_opens_by_its_id(
    page: Any, dashboard: Dashboard, project: int
) -> None:
    answer = dashboard.client.get(f"{RUNS}/987654321")
    assert answer.status_code == 404
    page.goto(f"{dashboard.url}/?run=987654321")
    alert = page.locator("#run-missing")
    expect(alert).to_contain_text("Run not found.")
    expect(alert).to_contain_text(answer.json()["message"])
    page.goto(f"{dashboard.url}/?run=abc")
    expect(alert).to_contain_text('"abc" is not a run ID.')

    run = start_run(dashboard, project, ["search"])  # started elsewhere (the CLI, another browser)
    alert.get_by_role("link", name="Back to the runs").click()
    opener = page.get_by_role("form", name="Open a run")
    opener.get_by_label("Run ID").fill(str(run["id"]))
    opener.get_by_role("button", name="Open").click()
    expect(page).to_have_url(f"{dashboard.url}/?run={run['id']}")
    expect(page.locator("#r-status")).to_have_text("completed")
    expect(page.locator("#run-steps tbody .status")).to_have_text(["completed"])


# -- the README's screenshot ---------------------------------------------------------------------------


def test_the_runs_of_a_project_each_with_its_steps(page: Any, dashboard: Dashboard, project: int) -> None:
    done = start_run(
        dashboard, project, ["search", "ocr"], params={"ocr": {"steps": 5, "step_seconds": 0.01}}
    )
    wait_until(
        lambda: run_of(dashboard, done["id"])["status"] == "completed",
        timeout=15,
        interval=0.02,
        what="the short run to complete",
    )
    failed = start_run(dashboard, project, ["search", "dedup"], params={"search": {"message": "unreachable"}})
    cancelled = start_run(dashboard, project, ["search", "ocr", "index"])
    step_task(dashboard, cancelled["id"], "ocr")
    assert dashboard.client.post(f"{RUNS}/{cancelled['id']}/cancel").status_code == 200
    later = ["search", "ocr", "index", "keyword_expand"]
    running = start_run(dashboard, project, later, params={"ocr": {"steps": 400, "step_seconds": 0.02}})
    start_run(dashboard, project + 100_000, ["search"])  # another project's, never shown below

    page.goto(f"{dashboard.url}/?view=runs&project={project}")
    rows = page.locator("#runs tbody tr")
    expect(rows.locator("td:first-child")).to_have_text(
        [f"Run {run['id']}" for run in (running, cancelled, failed, done)]
    )
    expect(page.locator("#runs tbody td > .status")).to_have_text(
        ["running", "cancelled", "failed", "completed"]
    )
    expect(rows.first.get_by_role("list").get_by_role("listitem")).to_have_count(len(later))
    page.wait_for_function(
        "bar => bar.value >= 60",
        arg=page.get_by_label(f"Progress of ocr in run {running['id']}").element_handle(),
    )
    save_docs_screenshot(page, "dashboard-runs.png")
    assert dashboard.client.post(f"{RUNS}/{running['id']}/cancel").status_code == 200
