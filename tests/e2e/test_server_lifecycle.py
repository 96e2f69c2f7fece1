"""The server process stops cleanly on SIGTERM, and what it stored is there after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.server import TASKS, ServerProcess, envelope, running_server, stop_server

pytestmark = pytest.mark.slow


def test_sigterm_shuts_the_server_down_cleanly_with_exit_code_0(server: ServerProcess) -> None:
    # an ocr task of a project without PDFs: the embedded worker runs it while the server shuts down
    envelope(httpx.post(f"{server.base_url}{TASKS}", json={"project_id": 1, "task_type": "ocr"}), 201)

    code = stop_server(server)

    log = server.log()
    assert "Application shutdown complete" in log, log
    assert "Traceback" not in log, log
    assert code == 0, f"exit code {code} (a negative code is the signal that ended the process)\n{log}"


def snapshot(base_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The whole list and every task's detail, as a client sees them."""
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        listed = envelope(client.get(TASKS, params={"limit": 1000}), 200)["data"]
        details = [envelope(client.get(f"{TASKS}/{item['id']}"), 200)["data"] for item in listed]
    return listed, details


def test_tasks_persist_across_a_restart_on_the_same_file(tmp_path: Path) -> None:
    db, log = tmp_path / "x.db", tmp_path / "server.log"
    no_worker = {"TASKAPI_RUN_WORKER": "false"}  # every type has a built-in handler: keep them pending
    with running_server(db, log, env=no_worker) as first:
        with httpx.Client(base_url=first.base_url, timeout=10.0) as client:
            for project_id, task_type in [(1, "search"), (2, "crawl"), (1, "ocr")]:
                request = {"project_id": project_id, "task_type": task_type, "params": {"n": project_id}}
                envelope(client.post(TASKS, json=request), 201)
            envelope(client.post(f"{TASKS}/2/cancel"), 200)
        before = snapshot(first.base_url)
        stop_server(first)

    with running_server(db, log, env=no_worker) as second:
        after = snapshot(second.base_url)

    assert [item["status"] for item in before[0]] == ["pending", "cancelled", "pending"]
    assert after == before
