"""``serve --no-worker`` (``TASKAPI_RUN_WORKER=false``): the API only, while a separate worker runs tasks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.server import TASKS, running_server
from tests.worker.helpers import wait_until


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


def test_a_server_without_worker_still_applies_retention(tmp_path: Path) -> None:
    db_path = tmp_path / "tasks.db"
    subprocess.run(
        [sys.executable, "-m", "taskapi", "migrate", "--db", f"sqlite:///{db_path}"], check=True, timeout=60
    )
    with sqlite3.connect(db_path) as conn:  # finished two days ago, and one still pending
        old = conn.execute(
            "INSERT INTO tasks (project_id, task_type, status, created_at, completed_at)"
            " VALUES (1, 'ocr', 'completed', '2020-01-01T00:00:00.000000', '2020-01-01T00:01:00.000000')"
            " RETURNING id"
        ).fetchone()[0]
        kept = conn.execute(
            "INSERT INTO tasks (project_id, task_type, created_at)"
            " VALUES (1, 'ocr', '2020-01-01T00:00:00.000000') RETURNING id"
        ).fetchone()[0]
    env = {"TASKAPI_RUN_WORKER": "false", "TASKAPI_RETENTION_DAYS": "1"}
    with running_server(db_path, tmp_path / "server.log", env=env) as server:
        wait_until(
            lambda: httpx.get(f"{server.base_url}{TASKS}/{old}").status_code == 404,
            what="the old finished task to be pruned",
        )
        gone = httpx.get(f"{server.base_url}{TASKS}/{old}").json()
        assert gone["message"].startswith(f"Task {old} was pruned on ")
        assert "(retention 1 day)" in gone["message"]
        assert httpx.get(f"{server.base_url}{TASKS}/{kept}").json()["data"]["status"] == "pending"
