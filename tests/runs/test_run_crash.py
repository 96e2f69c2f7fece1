"""The chain is in the database: a worker process killed (SIGKILL) in the middle of a step, and another
started later, still finishes the run with each step run as exactly one task (the killed step is the
same task again, on its second attempt). On each store, with real ``taskapi worker`` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskapi.run_records import RunStatus
from taskapi.runs import RunService
from taskapi.service import TaskService
from tests.worker.helpers import subprocess_env, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    """A fresh database of this test: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield database_url
        return
    from tests.integration.pg import cloned_database

    with cloned_database() as cloned:
        yield cloned


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    """``taskapi worker`` with only the stand-in steps, short leases and a quick rescuer."""
    env = subprocess_env(
        TASKAPI_DATABASE_URL=url,
        TASKAPI_HANDLERS="tests.handlers.pipeline_steps",
        TASKAPI_BUILTIN_HANDLERS="false",
        TASKAPI_LEASE_SECONDS="1",
        TASKAPI_RESCUE_INTERVAL="0.1",
        TASKAPI_POLL_INTERVAL="0.05",
    )
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "taskapi", "worker"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill takes any child with it
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_worker_killed_mid_step_leaves_a_run_that_still_finishes_each_step_once(
    url: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    own: dict[str, Any] = {"dir": str(marks)}
    params = {"search": own, "dedup": {**own, "block_first": True}, "crawl": own}
    with TaskService.open(url) as tasks:
        runs = RunService.of(tasks)
        run = runs.start(1, "graphene", steps=["search", "dedup", "crawl"], params=params)
        first = start_worker(url, tmp_path / "worker-1.log")
        try:

            def dedup_started() -> Path | None:
                dedup = runs.get(run.id).steps[1].task_id
                return next(marks.glob(f"{dedup}.1.started"), None) if dedup else None

            marker = wait_until(dedup_started, timeout=30, what="the dedup step to start")
            assert marker is not None and int(marker.read_text()) == first.pid
            os.killpg(first.pid, signal.SIGKILL)  # no outcome, no release: the lease just runs out
            first.wait(10)
            assert runs.get(run.id).steps[1].status == "running"
        finally:
            stop(first)
        second = start_worker(url, tmp_path / "worker-2.log")
        try:
            done = wait_until(
                lambda: (r := runs.get(run.id)).status.is_final and r,
                timeout=60,
                what="the run to end after the rescue",
            )
        finally:
            stop(second)
        assert done and done.status is RunStatus.COMPLETED, done
        listed = tasks.list(project_id=1, limit=100)
        assert Counter(task.task_type for task in listed) == {"search": 1, "dedup": 1, "crawl": 1}
        dedup = tasks.get(done.steps[1].task_id or 0)
        assert dedup.attempt == 2 and dedup.result == {"step": "dedup", "run": run.id, "attempt": 2}
        assert [e.kind.value for e in tasks.events(dedup.id)] == [
            "created",
            "claimed",
            "rescued",
            "claimed",
            "completed",
        ]
    executions = Counter(path.name.split(".")[0] for path in marks.glob("*.started"))
    ids = [step.task_id for step in done.steps]
    assert [executions[str(task_id)] for task_id in ids] == [1, 2, 1]  # dedup ran twice: killed, then again
