"""The live stream's limits, on apps built with tiny ones and served by a real uvicorn on a thread:
resuming past the replay limit (the limit, a ``reset``, then live changes), and a client that stops
reading (dropped, without holding up the others)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskapi.api import create_app
from taskapi.api.hub import HubOptions
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from tests.conftest import wait_until
from tests.helpers.server import TASKS, serving_in_thread
from tests.helpers.sse import open_stream

EVENTS = f"{TASKS}/events"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TaskService]:
    store = SQLiteStore(tmp_path / "x.db")
    store.migrate()
    try:
        yield TaskService(store)
    finally:
        store.close()


def test_a_client_too_far_behind_gets_the_limit_then_a_reset_then_live_changes(service: TaskService) -> None:
    missed = [service.create(1, "search").id for _ in range(5)]
    app = create_app(service, hub_options=HubOptions(max_replay=2, page=1, keepalive=0.3))
    with serving_in_thread(app) as base:
        stream = open_stream(base, headers={"Last-Event-ID": "0"})
        try:
            stream.wait(lambda s: any(e.event == "reset" for e in s.events), what="the reset")
            live = service.create(2, "ocr").id
            stream.wait(lambda s: len(s.task_events()) == 3, what="the live create")
        finally:
            stream.close()
    kinds = [(e.event, e.id) for e in stream.events]
    assert kinds == [("task", "1"), ("task", "2"), ("reset", "5"), ("task", "6")]
    assert [e["id"] for e in stream.task_events()] == [*missed[:2], live]
    reset = next(e for e in stream.events if e.event == "reset").json()
    assert reset == {"message": "more than 2 changes were missed; reload the list"}


def test_a_client_slightly_behind_gets_exactly_what_it_missed(service: TaskService) -> None:
    first = service.create(1, "search").id
    missed = [service.create(1, "search").id for _ in range(3)]
    app = create_app(service, hub_options=HubOptions(page=2, keepalive=0.3))
    with serving_in_thread(app) as base:
        stream = open_stream(base, headers={"Last-Event-ID": "1"})
        try:
            stream.wait(lambda s: len(s.task_events()) == 3, what="the three missed creates")
        finally:
            stream.close()
    assert first not in [e["id"] for e in stream.task_events()]
    assert [e["id"] for e in stream.task_events()] == missed
    assert [e.event for e in stream.events] == ["task"] * 3


def test_a_client_that_stops_reading_is_dropped_and_holds_up_no_one(service: TaskService) -> None:
    """One client stops reading (a tiny receive buffer, nothing read) while thousands of changes
    happen; another reads them all meanwhile. The stalled one is dropped (counted in /metrics); when it
    reads again its stream ends after what was already on its way, so it reconnects and resumes."""
    app = create_app(service, hub_options=HubOptions(backlog=4, keepalive=0.3))
    with serving_in_thread(app) as base:
        host, port = base.removeprefix("http://").split(":")
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stalled.connect((host, int(port)))
        stalled.sendall(f"GET {EVENTS} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        reader = open_stream(base)
        try:
            reader.wait(lambda s: "connected" in s.comments, what="connected")
            wait_until(lambda: _metric(base, "taskapi_stream_clients") == 2, what="both clients held")
            # more than every buffer on the way holds (the kernel's take megabytes on loopback)
            created = [t.id for _ in range(3) for t in service.create_many([(1, "search", None)] * 10_000)]
            reader.wait(lambda s: len(s.task_events()) == len(created), timeout=60, what="every change")
            assert _metric(base, "taskapi_stream_dropped_clients_total") == 1
            got = _read_to_end(stalled)
        finally:
            reader.close()
            stalled.close()
    assert [e["id"] for e in reader.task_events()] == created
    delivered = got.count(b"event: task")
    assert 0 < delivered < len(created), delivered  # a prefix, then the end of the stream
    assert got.endswith(b"\r\n0\r\n\r\n")  # the chunked response was ended, not cut


def _metric(base: str, name: str) -> float:
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} is not in /metrics")


def _read_to_end(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_client_resuming_ahead_of_the_hub_is_not_sent_what_it_has_seen(
    service: TaskService, tmp_path: Path
) -> None:
    """A client may come back with a ``Last-Event-ID`` the hub has not read yet (here: changes made by
    another process, which the hub learns of only at its next poll). Those changes are not replayed,
    and must not come live either: the client has them."""
    app = create_app(service, hub_options=HubOptions(poll_interval=0.5, keepalive=0.3), listen=False)
    elsewhere = SQLiteStore(tmp_path / "x.db")  # another writer: no in-process signal reaches the hub
    try:
        with serving_in_thread(app) as base:
            seen = [TaskService(elsewhere).create(1, "search").id for _ in range(3)]
            stream = open_stream(base, headers={"Last-Event-ID": "3"})
            try:
                later = TaskService(elsewhere).create(1, "ocr").id
                stream.wait(lambda s: later in [e["id"] for e in s.task_events()], what="the later create")
            finally:
                stream.close()
    finally:
        elsewhere.close()
    assert seen == [1, 2, 3]
    assert [e["id"] for e in stream.task_events()] == [later]
