"""Fixtures of the browser tests: a real Chromium driven by Playwright, real ``taskapi serve`` processes.

Chromium is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it); without it the tests skip with
the reason, except under ``CI=true`` where they fail. Each test gets a fresh browser context (its own
sessionStorage) and leaves a screenshot in ``$TASKAPI_TEST_ARTIFACTS`` (default: pytest's temporary
directory), taken at the end whether it passed or not.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import unavailable, wait_until
from tests.helpers.server import ServerProcess, free_port, stop_server

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TASKS = "/api/v1/tasks"
SERVER_ENV = {
    "TZ": "CST-8",  # the server runs in UTC+8, so a time rendered in local time would show
    "TASKAPI_HANDLERS": "tests.browser.handlers",
    # only the tests' own handlers (ocr, search): tasks of the other types stay pending
    "TASKAPI_BUILTIN_HANDLERS": "false",
    "TASKAPI_CONCURRENCY": "8",
    "TASKAPI_POLL_INTERVAL": "0.05",
    "TASKAPI_CANCEL_GRACE": "1",
    "TASKAPI_SHUTDOWN_TIMEOUT": "1",
}
READ_TOKEN = "read-token-for-the-dashboard-tests-0001"
OPERATE_TOKEN = "operate-token-for-the-dashboard-tests-0002"

_projects = itertools.count(1000)


# -- the browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module's tests. Not for the session: while Playwright's sync API runs, this
    thread has a running event loop, and every later test that calls ``asyncio.run`` would fail."""
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$TASKAPI_TEST_ARTIFACTS`` (CI keeps it) or a temporary directory."""
    configured = os.environ.get("TASKAPI_TEST_ARTIFACTS")
    if configured:
        path = Path(configured) / "browser"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("browser-artifacts")


@pytest.fixture
def page(browser: Any, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in a fresh context, in a UTC+8 time zone (the dashboard must show the API's UTC times
    as given). Uncaught script errors fail the test; a screenshot is saved at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Asia/Shanghai")
    opened = context.new_page()
    script_errors: list[str] = []
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        yield opened
        assert script_errors == [], f"uncaught errors in the page: {script_errors}"
    finally:
        try:
            opened.screenshot(path=str(artifacts / f"{request.node.name}.png"), full_page=True)
        finally:
            context.close()


# -- servers -------------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    """A running ``taskapi serve`` and a client of its API (with a token when the server needs one)."""

    server: ServerProcess
    database_url: str
    token: str = ""
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.client = httpx.Client(base_url=self.server.base_url, headers=headers, timeout=10.0)

    @property
    def url(self) -> str:
        return self.server.base_url

    def create(self, project_id: int, task_type: str, **params: Any) -> int:
        body = {"project_id": project_id, "task_type": task_type, "params": params}
        response = self.client.post(TASKS, json=body)
        assert response.status_code == 201, response.text
        task_id = response.json()["data"]["id"]
        assert isinstance(task_id, int)
        return task_id

    def task(self, task_id: int) -> dict[str, Any]:
        response = self.client.get(f"{TASKS}/{task_id}")
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert isinstance(data, dict)
        return data

    def wait_for(self, task_id: int, *statuses: str, timeout: float = 15.0) -> dict[str, Any]:
        """The task once its status is one of ``statuses`` (fails the test after ``timeout`` s)."""

        def reached() -> dict[str, Any]:
            task = self.task(task_id)
            return task if task["status"] in statuses else {}  # an empty dict: not yet

        return wait_until(reached, timeout=timeout, interval=0.02, what=f"task {task_id} to be {statuses}")

    def close(self) -> None:
        self.client.close()


def launch(
    database_url: str, directory: Path, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> ServerProcess:
    """``taskapi serve`` on ``database_url`` and a free port, once it serves the dashboard page (public
    even when the API needs a token)."""
    port = free_port()
    command = [sys.executable, "-m", "taskapi", "serve", "--db", database_url, "--port", str(port)]
    server_env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")}
    server_env.update({**SERVER_ENV, **(env or {})})
    server_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), server_env.get("PYTHONPATH")]))
    log_path = directory / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=server_env)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", directory / "x.db", log_path)

    def serving() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} on start:\n{server.log()}")
        return _serves_the_page(server)

    try:
        wait_until(serving, timeout=timeout, interval=0.05, what="the server to serve the dashboard")
    except BaseException:
        stop_server(server)
        raise
    return server


def _serves_the_page(server: ServerProcess) -> bool:
    try:
        return httpx.get(f"{server.base_url}/", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def serving(
    database_url: str, directory: Path, env: Mapping[str, str] | None = None, token: str = ""
) -> Iterator[Dashboard]:
    server = launch(database_url, directory, env)
    dashboard = Dashboard(server, database_url, token)
    try:
        yield dashboard
    finally:
        dashboard.close()
        stop_server(server)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """One server for a module's tests on SQLite; each test works in a project of its own."""
    directory = tmp_path_factory.mktemp("dashboard")
    with serving(f"sqlite:///{directory / 'x.db'}", directory) as started:
        yield started


@pytest.fixture
def empty_dashboard(tmp_path: Path) -> Iterator[Dashboard]:
    """A server on a database without a single task."""
    with serving(f"sqlite:///{tmp_path / 'x.db'}", tmp_path) as started:
        yield started


@pytest.fixture(scope="module")
def token_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A server that wants a token: one that may read, one that may also operate."""
    directory = tmp_path_factory.mktemp("token-dashboard")
    env = {"TASKAPI_API_TOKENS": f"read:{READ_TOKEN},operate:{OPERATE_TOKEN}"}
    with serving(f"sqlite:///{directory / 'x.db'}", directory, env, OPERATE_TOKEN) as started:
        yield started


@pytest.fixture
def project() -> int:
    """A project ID no other test of the session uses, so tests sharing a server never meet."""
    return next(_projects)
