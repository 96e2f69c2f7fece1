"""Resuming the live stream past the replay limit: the missed changes up to the limit, then a
``reset`` event telling the client to reload, then live changes (an app with a tiny limit, served by
a real uvicorn on a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskapi.api import create_app
from taskapi.api.hub import HubOptions
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from tests.helpers.server import serving_in_thread
from tests.helpers.sse import open_stream


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
