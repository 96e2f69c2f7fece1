"""PostgreSQL's create paths: the single create on a pooled connection's kept cursor, the payloads the
store builds for its notifications, and the COPY that streams a large batch in chunks.

What each create notifies is read from a LISTENing connection of its own; a sentinel NOTIFY sent
after the create's commit marks the end of what that commit delivered (notifications arrive in commit
order), so the tests assert the exact list without waiting for silence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from taskapi.domain import NewTask, StoreUnavailable, TaskType
from taskapi.store import codec
from taskapi.store._pg_writes import COPY_CHUNK
from taskapi.store.postgres import COPY_FROM, PostgresStore
from tests.integration.pg import make_postgres_store

pytestmark = pytest.mark.postgres

Heard = list[tuple[str, str]]  # (channel, payload)


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[PostgresStore]:
    with make_postgres_store(tmp_path) as store:
        yield store


@contextmanager
def listening(store: PostgresStore) -> Iterator[Callable[[], Heard]]:
    """A connection LISTENing on the store's channels; the function answers what the commits made
    before the call delivered, in order."""
    with psycopg.connect(store.url, autocommit=True) as conn:
        for channel in ("taskapi", "taskapi_changes", "test_sentinel"):
            conn.execute(f"LISTEN {channel}")

        def heard() -> Heard:
            with psycopg.connect(store.url, autocommit=True) as other:
                other.execute("NOTIFY test_sentinel")
            got: Heard = []
            for notify in conn.notifies(timeout=10):
                if notify.channel == "test_sentinel":
                    return got
                got.append((notify.channel, notify.payload))
            raise AssertionError(f"no sentinel within 10 s; heard {got}")

        yield heard


def created_types(heard: Heard, store: PostgresStore) -> list[str | None]:
    """The task types of the 'taskapi' notifications, each checked to be a create of ``store``."""
    types = []
    for channel, payload in heard:
        if channel != "taskapi":
            continue
        decoded = codec.decode(payload)
        assert decoded is not None, payload
        assert decoded.signal.kind == "created"
        assert decoded.origin == store.notifier.origin
        types.append(decoded.signal.task_type)
    return types


def changes(heard: Heard) -> int:
    return sum(1 for channel, _ in heard if channel == "taskapi_changes")


def counts(store: PostgresStore) -> tuple[int, int]:
    """(tasks, created events) in the store's database."""
    with psycopg.connect(store.url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events WHERE kind = 'created')"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_single_create_notifies_its_type_with_the_stores_origin_and_the_change_feed(
    pg_store: PostgresStore,
) -> None:
    with listening(pg_store) as heard:
        task = pg_store.task_create(NewTask(3, TaskType.OCR, {"a": [1, "x"]}))
        got = heard()
    assert created_types(got, pg_store) == ["ocr"]
    assert changes(got) == 1
    assert pg_store.task_get(task.id) == task
    assert [event.kind for event in pg_store.task_events(task.id)] == ["created"]


@pytest.mark.parametrize("count", [2, COPY_FROM + 2 * COPY_CHUNK + 7])  # one INSERT; COPY in chunks
def test_a_batch_notifies_each_type_once_and_answers_its_tasks_in_input_order(
    pg_store: PostgresStore, count: int
) -> None:
    types = [TaskType.SEARCH, TaskType.OCR, TaskType.OCR]
    news = [
        NewTask(i % 5 + 1, types[i % 3], {"i": i, "text": "tab\tnewline\nback\\slash"}) for i in range(count)
    ]
    with listening(pg_store) as heard:
        created = pg_store.task_create_many(news)
        got = heard()
    assert sorted(created_types(got, pg_store), key=str) == ["ocr", "search"]
    assert changes(got) == 1
    assert [task.id for task in created] == sorted(task.id for task in created)
    assert [(t.project_id, t.task_type, t.params) for t in created] == [
        (n.project_id, str(n.task_type), n.params) for n in news
    ]
    assert len({task.created_at for task in created}) == 1
    assert pg_store.task_get_many([task.id for task in created]) == created
    assert counts(pg_store) == (count, count)


def test_a_bad_row_in_the_last_copy_chunk_writes_and_announces_nothing(pg_store: PostgresStore) -> None:
    count = COPY_FROM + 2 * COPY_CHUNK
    news = [NewTask(1, TaskType.OCR, {"i": i}) for i in range(count - 1)]
    news.append(NewTask(1, TaskType.OCR, {"nul": "\x00"}))  # valid JSON, not valid jsonb
    with listening(pg_store) as heard:
        with pytest.raises(ValueError, match="cannot be stored in PostgreSQL"):
            pg_store.task_create_many(news)
        got = heard()
    assert got == []
    assert counts(pg_store) == (0, 0)
    assert pg_store.task_create_many(news[:-1])[-1].id > count  # the connection is clean; ids moved on


def test_a_single_create_with_params_jsonb_refuses_is_a_value_error(pg_store: PostgresStore) -> None:
    with pytest.raises(ValueError, match="cannot be stored in PostgreSQL"):
        pg_store.task_create(NewTask(1, TaskType.OCR, {"nul": "\x00"}))
    assert pg_store.task_create(NewTask(1, TaskType.OCR)).id >= 1
    assert counts(pg_store) == (1, 1)


def test_a_connections_kept_cursor_is_remade_once_closed(pg_store: PostgresStore) -> None:
    first = pg_store.task_create(NewTask(1, TaskType.OCR))
    with pg_store._connection() as conn:
        kept = conn.kept_cursor()
        assert conn.kept_cursor() is kept
        kept.close()
    second = pg_store.task_create(NewTask(1, TaskType.OCR))
    assert second.id > first.id
    with pg_store._connection() as conn:
        assert not conn.kept_cursor().closed


def test_creates_from_many_threads_each_get_their_own_connection_and_cursor(tmp_path: Path) -> None:
    with make_postgres_store(tmp_path, min_size=1, max_size=3) as store:
        start = threading.Barrier(6)
        ids: list[int] = []
        errors: list[BaseException] = []

        def create() -> None:
            try:
                start.wait(timeout=10)
                ids.extend(store.task_create(NewTask(1, TaskType.OCR)).id for _ in range(50))
            except BaseException as exc:  # reported in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert len(set(ids)) == 300
        assert counts(store) == (300, 300)


def test_a_single_create_on_a_dropped_connection_is_unavailable_once_then_works(tmp_path: Path) -> None:
    with make_postgres_store(tmp_path, min_size=1, max_size=1) as store:
        store.task_create(NewTask(1, TaskType.OCR))
        with psycopg.connect(store.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            )
        with pytest.raises(StoreUnavailable):
            store.task_create(NewTask(1, TaskType.OCR))
        assert store.task_create(NewTask(1, TaskType.OCR)).id >= 2
