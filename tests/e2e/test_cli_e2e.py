"""``python -m taskapi`` as a real process: what a shell script sees (stdout, stderr, exit status).

Independent invocations run concurrently, as each costs an interpreter start-up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskapi import TaskService, TaskStatus
from tests.conftest import wait_until
from tests.helpers.server import free_port

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


class Cli:
    """Runs ``python -m taskapi`` in ``cwd`` with no TASKAPI_* variables but the database URL."""

    def __init__(self, cwd: Path, database_url: str) -> None:
        self.cwd = cwd
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")}
        self.env["TASKAPI_DATABASE_URL"] = database_url

    def start(self, *args: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "taskapi", *args]
        return subprocess.Popen(
            command, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def many(self, *commands: list[str]) -> list[Outcome]:
        """Run ``commands`` concurrently; answer their outcomes in order."""
        processes = [self.start(*command) for command in commands]
        outcomes = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=60)
            outcomes.append(Outcome(process.returncode, stdout, stderr))
        return outcomes

    def __call__(self, *args: str) -> Outcome:
        return self.many(list(args))[0]


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    return Cli(tmp_path, database_url)


def assert_one_line_error(outcome: Outcome, code: int, text: str) -> None:
    assert outcome.code == code, outcome
    assert outcome.stdout == ""
    assert outcome.stderr.startswith("error: ") and outcome.stderr.count("\n") == 1, outcome.stderr
    assert text in outcome.stderr


def test_a_script_can_drive_tasks_and_branch_on_exit_codes(cli: Cli, tmp_path: Path) -> None:
    assert cli("migrate").stdout.startswith("Applied migrations")
    task = cli("submit", "search", "--project", "1", "--params", '{"query": "graphene"}', "--json").json()
    assert task["status"] == "pending" and task["params"] == {"query": "graphene"}
    assert cli("show", str(task["id"]), "--json").json() == task
    cancelled = cli("cancel", str(task["id"]), "--json")
    assert cancelled.json() == {"code": 200, "message": "Task cancelled", "data": None}
    again, missing, bad_params, unavailable = cli.many(
        ["cancel", str(task["id"])],
        ["show", "999"],
        ["submit", "search", "-p", "1", "--params", "not json"],
        ["list", "--db", f"sqlite:///{tmp_path}"],
    )
    assert_one_line_error(again, 1, "already cancelled")
    assert_one_line_error(missing, 1, "Task 999 not found")
    assert_one_line_error(bad_params, 2, "--params: not valid JSON")
    assert_one_line_error(unavailable, 3, "task store unavailable")


def test_worker_burst_runs_the_pending_tasks_then_exits(cli: Cli, database_url: str) -> None:
    with TaskService.open(database_url) as service:
        task = service.create(1, "keyword_expand", {"keywords": ["graph"]})
    ran = cli("worker", "--burst", "--concurrency", "1")
    assert ran.code == 0, ran.stderr
    with TaskService.open(database_url) as service:
        done = service.get(task.id)
    assert done.status == TaskStatus.COMPLETED, done
    assert done.result is not None and done.completed_at is not None


def test_serve_on_a_public_address_needs_tokens_or_allow_unauthenticated(cli: Cli, tmp_path: Path) -> None:
    cli.env.pop("TASKAPI_API_TOKENS", None)
    port, everywhere = str(free_port()), "0.0.0.0"  # noqa: S104
    refused = cli("serve", "--host", everywhere, "--port", port, "--no-worker")
    assert_one_line_error(refused, 2, "--allow-unauthenticated")
    log = tmp_path / "serve.log"
    command = ["serve", "--host", everywhere, "--port", port, "--no-worker", "--allow-unauthenticated"]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "taskapi", *command],
            cwd=cli.cwd,
            env=cli.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:

        def answers() -> bool:
            assert server.poll() is None, log.read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/tasks", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, timeout=30, interval=0.02, what="the server to answer")
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    assert "WARNING" in log.read_text() and "access control is off" in log.read_text()
