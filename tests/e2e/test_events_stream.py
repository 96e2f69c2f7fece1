"""The live stream over a real ``taskapi serve``: what a client sees, and how the stream lives and ends.

Clients are real HTTP connections read on threads (``tests.helpers.sse``); changes come from the API,
from the embedded worker, and from other processes (a worker process, another store connection).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskapi.service import TaskService
from tests.conftest import wait_until
from tests.helpers.server import TASKS, ServerProcess, envelope, running_server, stop_server
from tests.helpers.sse import SseStream, open_stream

pytestmark = pytest.mark.slow

EVENTS = f"{TASKS}/events"
READ = "read-token-of-the-stream-tests-01"
OPERATE = "operate-token-of-the-stream-tests"
QUICK = {"TASKAPI_EVENTS_KEEPALIVE": "0.3"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def quiet_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server without an embedded worker: tasks stay where the test puts them."""
    env = {**QUICK, "TASKAPI_RUN_WORKER": "false"}
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env) as server:
        yield server


def stream_clients(server: ServerProcess, headers: dict[str, str] | None = None) -> float:
    text = httpx.get(f"{server.base_url}/metrics", headers=headers or {}).text
    for family in text_string_to_metric_families(text):
        if family.name == "taskapi_stream_clients":
            return float(family.samples[0].value)
    raise AssertionError("taskapi_stream_clients is not in /metrics")


def create(
    server: ServerProcess, project_id: int = 1, task_type: str = "keyword_expand", **params: Any
) -> int:
    body = {"project_id": project_id, "task_type": task_type, "params": params or {"keywords": ["graphene"]}}
    task_id = envelope(httpx.post(f"{server.base_url}{TASKS}", json=body), 201)["data"]["id"]
    assert isinstance(task_id, int)
    return task_id


# -- before the stream starts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ("project_id=0", {}, "project_id"),
        ("task_id=abc", {}, "task_id"),
        ("project_id=1&task_id=-3", {}, "task_id"),
        ("", {"Last-Event-ID": "yesterday"}, "Last-Event-ID"),
    ],
)
def test_a_bad_filter_is_400_in_the_envelope_before_any_stream(
    quiet_server: ServerProcess, query: str, headers: dict[str, str], field: str
) -> None:
    response = httpx.get(f"{quiet_server.base_url}{EVENTS}?{query}", headers=headers, timeout=10)
    body = envelope(response, 400)
    assert [e["field"] for e in body["data"]["errors"]] == [field]


def test_the_stream_opens_with_a_retry_hint_and_keeps_alive(quiet_server: ServerProcess) -> None:
    stream = open_stream(quiet_server.base_url)
    try:
        assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
        stream.wait(lambda s: s.comments.count("keep-alive") >= 2, what="two keep-alive comments")
        assert stream.comments[0] == "connected" and stream.retry == 2000
    finally:
        stream.close()


def test_clients_are_counted_and_forgotten_when_they_hang_up(quiet_server: ServerProcess) -> None:
    streams = [open_stream(quiet_server.base_url) for _ in range(3)]
    try:
        for stream in streams:
            stream.wait(lambda s: "connected" in s.comments, what="connected")
        assert stream_clients(quiet_server) == 3
        streams[0].close()
        wait_until(lambda: stream_clients(quiet_server) == 2, timeout=10, what="a hung-up client forgotten")
    finally:
        for stream in streams:
            stream.close()


def test_sigterm_ends_open_streams_and_the_server_exits_0_at_once(tmp_path: Path) -> None:
    server = running_server(tmp_path / "x.db", tmp_path / "server.log", env=QUICK)
    with server as started:
        streams = [open_stream(started.base_url) for _ in range(5)]
        for stream in streams:
            stream.wait(lambda s: "connected" in s.comments, what="connected")
        began = time.monotonic()
        code = stop_server(started)
        took = time.monotonic() - began
    for stream in streams:
        stream.wait(lambda s: s.ended, what="the stream to end")
        assert stream.error is None, stream.summary()  # ended cleanly, not cut
    log = started.log()
    assert code == 0, log
    assert "timeout graceful shutdown exceeded" not in log, log
    assert took < 4.0, f"shutdown took {took:.1f} s\n{log}"


def test_the_stream_needs_a_read_token_which_may_come_in_the_query(tmp_path: Path) -> None:
    env = {**QUICK, "TASKAPI_API_TOKENS": f"read:{READ},operate:{OPERATE}"}
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env, token=READ) as server:
        refused = httpx.get(f"{server.base_url}{EVENTS}", timeout=10)
        envelope(refused, 401)
        stream = open_stream(server.base_url, f"{EVENTS}?access_token={READ}")
        try:
            assert stream.status == 200
            stream.wait(lambda s: "connected" in s.comments, what="connected")
            assert stream_clients(server, {"Authorization": f"Bearer {READ}"}) == 1
        finally:
            stream.close()


# -- what a client sees ------------------------------------------------------------------------------


def test_a_created_task_reaches_the_stream_and_the_worker_s_moves_follow(tmp_path: Path) -> None:
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=QUICK) as server:
        stream = open_stream(server.base_url)
        try:
            stream.wait(lambda s: "connected" in s.comments, what="connected")
            task_id = create(server)
            stream.wait(
                lambda s: [e["event"] for e in s.task_events()] == ["created", "claimed", "completed"],
                what="created, claimed, completed",
            )
        finally:
            stream.close()
    created, _, completed = stream.task_events()
    assert created["id"] == task_id and created["status"] in {"pending", "running", "completed"}
    assert completed["status"] == "completed" and completed["completed_at"] is not None
    ids = [int(e.id) for e in stream.events if e.event == "task" and e.id is not None]
    assert ids == sorted(ids) and len(ids) == 3


def test_filters_keep_other_tasks_out(quiet_server: ServerProcess) -> None:
    mine = create(quiet_server, project_id=7)
    by_project = open_stream(quiet_server.base_url, f"{EVENTS}?project_id=7")
    by_task = open_stream(quiet_server.base_url, f"{EVENTS}?task_id={mine}")
    try:
        for stream in (by_project, by_task):
            stream.wait(lambda s: "connected" in s.comments, what="connected")
        create(quiet_server, project_id=8)
        other_of_7 = create(quiet_server, project_id=7)
        envelope(httpx.post(f"{quiet_server.base_url}{TASKS}/{mine}/cancel"), 200)
        by_project.wait(lambda s: len(s.task_events()) == 2, what="two events of project 7")
        by_task.wait(lambda s: len(s.task_events()) == 1, what="the cancel of the one task")
    finally:
        by_project.close()
        by_task.close()
    assert [(e["id"], e["event"]) for e in by_project.task_events()] == [
        (other_of_7, "created"),
        (mine, "cancelled"),
    ]
    assert [(e["id"], e["event"], e["status"]) for e in by_task.task_events()] == [
        (mine, "cancelled", "cancelled")
    ]


def test_last_event_id_resumes_with_exactly_what_was_missed(quiet_server: ServerProcess) -> None:
    stream = open_stream(quiet_server.base_url)
    try:
        stream.wait(lambda s: "connected" in s.comments, what="connected")
        first = create(quiet_server)
        stream.wait(lambda s: len(s.task_events()) == 1, what="the first create")
    finally:
        stream.close()
    last_id = stream.events[-1].id
    assert last_id is not None
    missed = [create(quiet_server) for _ in range(3)]
    resumed = open_stream(quiet_server.base_url, headers={"Last-Event-ID": last_id})
    try:
        resumed.wait(lambda s: len(s.task_events()) == 3, what="the three missed creates")
        after = create(quiet_server)
        resumed.wait(lambda s: len(s.task_events()) == 4, what="then the live one")
    finally:
        resumed.close()
    assert first not in missed
    assert [e["id"] for e in resumed.task_events()] == [*missed, after]


def test_a_change_by_another_process_reaches_the_stream_on_sqlite(quiet_server: ServerProcess) -> None:
    stream = open_stream(quiet_server.base_url)
    try:
        stream.wait(lambda s: "connected" in s.comments, what="connected")
        with TaskService.open(f"sqlite:///{quiet_server.db_path}", migrate=False) as other:
            task = other.create(3, "search", {"q": "from elsewhere"})
        stream.wait(
            lambda s: [e["id"] for e in s.task_events()] == [task.id], what="the other process's task"
        )
    finally:
        stream.close()
    assert stream.task_events()[0]["project_id"] == 3


def test_progress_reaches_the_stream_as_it_moves(tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    env = {**QUICK, "TASKAPI_HANDLERS": "tests.handlers.gated", "PYTHONPATH": str(ROOT)}
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env) as server:
        stream = open_stream(server.base_url)
        try:
            stream.wait(lambda s: "connected" in s.comments, what="connected")
            task_id = create(server, task_type="ocr", steps=3, gates=str(gates))
            for step in (1, 2):
                (gates / f"{task_id}.{step}").touch()
                stream.wait(functools.partial(_saw_progress, step=step), what=f"progress {step}/3")
            (gates / f"{task_id}.3").touch()
            stream.wait(lambda s: s.task_events()[-1]["event"] == "completed", what="completed")
        finally:
            stream.close()
    progress = [(e["progress"], e["total"]) for e in stream.task_events() if e["event"] == "progress"]
    assert progress in ([(1, 3), (2, 3)], [(1, 3), (2, 3), (3, 3)])  # 3/3 may come with the completion
    completed = stream.task_events()[-1]
    assert (completed["progress"], completed["total"], completed["status"]) == (3, 3, "completed")


def _saw_progress(stream: SseStream, step: int) -> bool:
    return any(e["event"] == "progress" and e["progress"] == step for e in stream.task_events())
