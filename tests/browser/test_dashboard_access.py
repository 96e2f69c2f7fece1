"""Access and outages in a real browser: the token prompt (401), a token that may only read (403), and
the store becoming unreachable (503) and coming back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from playwright.sync_api import expect
from psycopg import sql

from tests.browser.conftest import OPERATE_TOKEN, READ_TOKEN, TASKS, Dashboard, serving
from tests.integration.pg import admin_url, cloned_database

pytestmark = pytest.mark.slow  # real server processes and a real browser


def ids(page: Any) -> Any:
    return page.locator("#tasks tbody tr td:first-child")


def _enter_token(page: Any, token: str) -> Any:
    dialog = page.get_by_role("dialog", name="API token")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Token").fill(token)
    dialog.get_by_role("button", name="Use token").click()
    return dialog


def test_a_server_with_tokens_asks_for_one_and_a_read_token_cannot_cancel(
    page: Any, token_dashboard: Dashboard, project: int
) -> None:
    task_id = token_dashboard.create(project, "ocr", steps=100_000, step_seconds=0.02)
    token_dashboard.wait_for(task_id, "running")
    assert httpx.get(f"{token_dashboard.url}{TASKS}").status_code == 401  # the API wants a token too

    page.goto(f"{token_dashboard.url}/?project_id={project}")
    dialog = _enter_token(page, "not-a-token-of-this-server-at-all")
    expect(dialog.locator("#token-reason")).to_have_text("The token was refused; enter another one.")
    _enter_token(page, READ_TOKEN)
    expect(dialog).to_be_hidden()
    expect(ids(page)).to_have_text([str(task_id)])
    expect(page.locator("#live")).to_have_text("Live")  # the stream took ?access_token=
    assert page.evaluate("sessionStorage.getItem('taskapi.token')") == READ_TOKEN

    page.get_by_role("button", name=f"Cancel task {task_id}").click()
    cancel = page.get_by_role("dialog", name=f"Cancel task {task_id}?")
    cancel.get_by_role("button", name="Cancel task").click()
    expect(cancel.get_by_role("status")).to_contain_text("This token may only read")
    cancel.get_by_role("button", name="Close").click()
    expect(page.get_by_role("button", name=f"Cancel task {task_id}")).to_be_hidden()
    assert token_dashboard.task(task_id)["status"] == "running"

    page.reload()  # the token lasts for the tab: no second prompt
    expect(ids(page)).to_have_text([str(task_id)])
    expect(dialog).to_be_hidden()

    page.get_by_role("button", name="API token").click()
    _enter_token(page, OPERATE_TOKEN)
    page.get_by_role("button", name=f"Cancel task {task_id}").click()
    cancel.get_by_role("button", name="Cancel task").click()
    expect(cancel.get_by_role("status")).to_have_text(f"Task {task_id} cancelled.")
    assert token_dashboard.task(task_id)["status"] == "cancelled"


@contextmanager
def connections_refused(database_url: str) -> Iterator[None]:
    """The database refuses every connection, and those open are cut, until the block ends: what a
    server sees when its PostgreSQL goes away, without touching the shared server or its other users."""
    name = sql.Identifier(urlsplit(database_url).path.lstrip("/"))
    database = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(admin_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
        )
        try:
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(name))


@pytest.mark.postgres
def test_an_unreachable_store_shows_a_banner_that_clears_when_it_is_back(page: Any, tmp_path: Path) -> None:
    with cloned_database() as database_url, serving(database_url, tmp_path) as dashboard:
        task_id = dashboard.create(1, "crawl")
        page.goto(dashboard.url)
        expect(ids(page)).to_have_text([str(task_id)])
        banner = page.get_by_role("alert").filter(has_text="The task store is unreachable")
        expect(banner).to_be_hidden()

        with connections_refused(database_url):
            page.reload()
            expect(banner).to_be_visible(timeout=20_000)
        expect(banner).to_be_hidden(timeout=30_000)  # no reload: the page retries by itself
        expect(ids(page)).to_have_text([str(task_id)])
