"""The live stream on PostgreSQL: changes made by other processes arrive woken by NOTIFY (the poll is
set too slow to explain them), and an event id that commits after a larger one is not skipped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskapi.service import TaskService
from tests.conftest import wait_until
from tests.helpers.server import TASKS, ServerProcess, envelope, free_port
from tests.helpers.sse import open_stream
from tests.integration.pg import cloned_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@contextmanager
def pg_server(tmp_path: Path, url: str, **env: str) -> Iterator[ServerProcess]:
    """``taskapi serve --no-worker`` on ``url``, once it answers."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TASKAPI_")}
    command = [sys.executable, "-m", "taskapi", "serve", "--no-worker", "--db", url, "--port", str(port)]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**clean, **env})
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, log_path.read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answering, timeout=30, interval=0.05, what="the server to answer")
        yield ServerProcess(process, base, tmp_path / "unused.db", log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_change_by_another_process_arrives_woken_by_notify(tmp_path: Path) -> None:
    with cloned_database() as url, pg_server(tmp_path, url, TASKAPI_EVENTS_POLL_INTERVAL="60") as server:
        base = server.base_url
        stream = open_stream(base)
        try:
            stream.wait(lambda s: "connected" in s.comments, what="connected")
            with TaskService.open(url, migrate=False) as other:
                sent = time.monotonic()
                task = other.create(4, "ocr", {"page": 1})
                stream.wait(lambda s: len(s.task_events()) == 1, timeout=5, what="the create, by NOTIFY")
                arrived = time.monotonic() - sent
                other.cancel(task.id)
                stream.wait(lambda s: len(s.task_events()) == 2, timeout=5, what="the cancel, by NOTIFY")
        finally:
            stream.close()
    assert [(e["id"], e["event"], e["status"]) for e in stream.task_events()] == [
        (task.id, "created", stream.task_events()[0]["status"]),
        (task.id, "cancelled", "cancelled"),
    ]
    assert arrived < 2.0, f"{arrived:.2f} s: not woken by NOTIFY (the poll is every 60 s)"


def test_an_event_id_committed_after_a_larger_one_is_not_skipped(tmp_path: Path) -> None:
    """A transaction takes event id N and commits late; meanwhile N+1 commits and the hub reads the log
    (twice, to be sure). A reader that jumped to N+1 would never deliver N: both must arrive, once."""
    with cloned_database() as url, pg_server(tmp_path, url) as server:
        base = server.base_url
        stream = open_stream(base)
        try:
            stream.wait(lambda s: "connected" in s.comments, what="connected")
            with psycopg.connect(url) as slow:  # a transaction that took its event id, not yet committed
                row = slow.execute(
                    "INSERT INTO tasks (project_id, task_type, created_at)"
                    " VALUES (9, 'search', now()) RETURNING id"
                ).fetchone()
                assert row is not None
                late_task = int(row[0])
                row = slow.execute(
                    "INSERT INTO task_events (task_id, at, kind, attempt, actor)"
                    " VALUES (%s, now(), 'created', 0, 'test') RETURNING id",
                    (late_task,),
                ).fetchone()
                assert row is not None
                late_event = int(row[0])
                body = {"project_id": 9, "task_type": "search", "params": {}}
                quick = envelope(httpx.post(f"{base}{TASKS}", json=body), 201)["data"]["id"]
                passes = hub_passes(base)
                wait_until(lambda: hub_passes(base) >= passes + 2, timeout=10, what="two reads of the log")
                slow.commit()
            stream.wait(lambda s: len(s.task_events()) == 2, what="both creates")
            extra = envelope(httpx.post(f"{base}{TASKS}", json=body), 201)["data"]["id"]
            stream.wait(lambda s: len(s.task_events()) == 3, what="one more create")
        finally:
            stream.close()
    got = [(e.json()["id"], int(e.id or 0)) for e in stream.events if e.event == "task"]
    assert sorted(task for task, _ in got) == sorted([quick, late_task, extra])  # each once
    assert late_event in [event for _, event in got]


def hub_passes(base: str) -> float:
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text):
        if family.name == "taskapi_stream_passes":
            return float(family.samples[0].value)
    raise AssertionError("taskapi_stream_passes is not in /metrics")
