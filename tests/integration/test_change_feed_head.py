"""Where a new reader of the change feed starts: never above an event id that may still commit.

On PostgreSQL a transaction can hold event id N, uncommitted, while N+1 commits. A reader (the live
stream's hub, at start-up) that began at the newest visible id would never deliver N, so
``latest_event_id`` answers the end of the settled log instead.
"""

from __future__ import annotations

import psycopg
import pytest

from taskapi.service import TaskService
from tests.integration.pg import make_postgres_store

pytestmark = pytest.mark.postgres


def test_a_new_reader_starts_below_an_event_id_that_is_still_in_flight() -> None:
    with make_postgres_store() as store, psycopg.connect(store.url) as slow:
        service = TaskService(store)
        before = service.create(1, "search", None)
        settled_head = service.latest_event_id()
        row = slow.execute(
            "INSERT INTO task_events (task_id, at, kind, attempt, actor)"
            " VALUES (%s, now(), 'created', 0, 'test') RETURNING id",
            (before.id,),
        ).fetchone()
        assert row is not None
        late_event = int(row[0])
        after = service.create(1, "ocr", None)  # commits an event id above the one in flight

        start = service.latest_event_id()
        assert settled_head <= start < late_event
        slow.commit()

        read = [(event.id, event.task_id) for event in service.changes(start)]
        assert late_event in [event_id for event_id, _ in read]  # nothing skipped
        assert read[-1][1] == after.id
        assert service.latest_event_id() == read[-1][0]  # settled again: the head is the newest id


def test_with_nothing_in_flight_the_head_is_the_newest_event() -> None:
    with make_postgres_store() as store:
        service = TaskService(store)
        assert service.latest_event_id() == 0
        tasks = service.create_many([(1, "search", None) for _ in range(3)])
        service.cancel(tasks[1].id)
        newest = service.changes(0)[-1]
        assert newest.task_id == tasks[1].id and newest.kind == "cancelled"
        assert service.latest_event_id() == newest.id
