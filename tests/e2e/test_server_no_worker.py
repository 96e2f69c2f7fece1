"""``serve --no-worker`` (``TASKAPI_RUN_WORKER=false``): the API only, while a separate worker runs tasks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.server import TASKS, running_server


def test_a_server_without_worker_leaves_tasks_to_a_separate_worker_process(tmp_path: Path) -> None:
    db_path = tmp_path / "tasks.db"
    with running_server(db_path, tmp_path / "server.log", env={"TASKAPI_RUN_WORKER": "false"}) as server:
        created = httpx.post(
            f"{server.base_url}{TASKS}",
            json={"project_id": 1, "task_type": "keyword_expand", "params": {"keywords": ["neural network"]}},
        )
        task_id = created.json()["data"]["id"]
        worker = subprocess.run(
            [sys.executable, "-m", "taskapi", "worker", "--burst", "--db", f"sqlite:///{db_path}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert worker.returncode == 0, worker.stderr
        detail = httpx.get(f"{server.base_url}{TASKS}/{task_id}").json()["data"]
        assert detail["status"] == "completed"
        assert "NN" in detail["result"]["keywords"]["neural network"]
        assert "started: types" not in server.log()  # the server never started a worker
    with sqlite3.connect(db_path) as conn:
        (worker_id,) = conn.execute("SELECT worker_id FROM tasks WHERE id = ?", (task_id,)).fetchone()
    # The run that completed the task was the separate process's, not the server's.
    assert f":{server.process.pid}:" not in worker_id
