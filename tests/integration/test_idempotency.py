"""Idempotency keys of creates on every store (issue 14): within a day a key answers the task(s) its
first create made, as they were created, and writes nothing; the key with another request is refused;
concurrent creates with one key make one task; a key past its day is forgotten."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from taskapi.domain import IDEMPOTENCY_HEADER, IdempotencyConflict, InvalidInput, TaskStatus
from taskapi.service import TaskService
from taskapi.store.base import Claim, Store
from tests.integration.conftest import open_again
from tests.integration.test_store_conformance import _in_threads

_AGED = {  # every key's expiry moved ``hours`` earlier (the stores keep their times differently)
    "sqlite": "UPDATE task_idempotency SET expires_at ="
    " strftime('%Y-%m-%dT%H:%M:%S', expires_at, '-{hours} hours') || substr(expires_at, 20)",
    "postgres": "UPDATE task_idempotency SET expires_at = expires_at - interval '{hours} hours'",
}


@pytest.fixture
def service(store: Store) -> Iterator[TaskService]:
    yield TaskService(store)


def age_keys(store: Store, hours: int) -> None:
    """What ``hours`` of waiting would do to every key (its expiry comes that much nearer)."""
    with store.transaction() as tx:
        tx.execute(_AGED[store.dialect].format(hours=hours))


def keys_kept(store: Store) -> int:
    with store.reading() as tx:
        row = tx.fetch_one("SELECT count(*) AS n FROM task_idempotency")
    assert row is not None
    return int(row["n"])


def created_events(service: TaskService, project_id: int) -> int:
    tasks = service.list(project_id=project_id)
    return sum(1 for task in tasks for event in service.events(task.id) if event.kind == "created")


def test_the_same_key_answers_the_task_as_it_was_created(service: TaskService, store: Store) -> None:
    first = service.create(1, "search", {"query": "q", "limit": 5}, idempotency_key="k-1")
    store.task_claim(Claim("w1", ["search"], 1, 30.0, {}))  # it moves on: the retry must not show it
    again = service.create(1, "search", {"limit": 5, "query": "q"}, idempotency_key="k-1")  # keys reordered
    assert again == first and again.status is TaskStatus.PENDING
    assert service.get(first.id).status is TaskStatus.RUNNING
    assert [task.id for task in service.list(project_id=1)] == [first.id]
    assert created_events(service, 1) == 1


def test_a_key_names_one_request(service: TaskService) -> None:
    first = service.create(1, "search", {"query": "q"}, idempotency_key="k-2")
    for project, task_type, params in [
        (2, "search", {"query": "q"}),
        (1, "ocr", {"query": "q"}),
        (1, "search", {}),
    ]:
        with pytest.raises(IdempotencyConflict) as raised:
            service.create(project, task_type, params, idempotency_key="k-2")
        assert raised.value.field == IDEMPOTENCY_HEADER
    with pytest.raises(IdempotencyConflict):  # one create's key on a batch of the same task
        service.create_many([(1, "search", {"query": "q"})], idempotency_key="k-2")
    assert [task.id for task in service.list()] == [first.id]
    other = service.create(1, "search", {"query": "q"}, idempotency_key="k-3")  # another key: another task
    assert other.id != first.id


def test_the_same_key_answers_the_same_batch(service: TaskService) -> None:
    specs = [(1, "ocr", None), (1, "index", {"depth": 2}), (2, "search", {"query": "x"})]
    first = service.create_many(specs, idempotency_key="b-1")
    again = service.create_many(specs, idempotency_key="b-1")
    assert again == first and [task.task_type for task in again] == ["ocr", "index", "search"]
    assert len(service.list()) == 3
    with pytest.raises(IdempotencyConflict):
        service.create_many(specs[:2], idempotency_key="b-1")


def test_a_key_is_forgotten_after_a_day(service: TaskService, store: Store) -> None:
    first = service.create(1, "ocr", idempotency_key="day")
    age_keys(store, 23)
    assert service.create(1, "ocr", idempotency_key="day") == first
    age_keys(store, 2)  # 25 hours old: forgotten, so the key creates (and now answers) a new task
    second = service.create(1, "ocr", idempotency_key="day")
    assert second.id != first.id
    assert service.create(1, "ocr", idempotency_key="day") == second
    assert replace(second, id=first.id, created_at=first.created_at) == first


def test_retention_forgets_keys_past_their_day(service: TaskService, store: Store) -> None:
    service.create(1, "ocr", idempotency_key="old")
    age_keys(store, 25)
    service.create(1, "ocr", idempotency_key="young")
    assert keys_kept(store) == 2
    service.prune(older_than=timedelta(days=30))
    assert keys_kept(store) == 1
    with pytest.raises(IdempotencyConflict):  # the young key is still kept, and still enforced
        service.create(2, "ocr", idempotency_key="young")


def test_concurrent_creates_with_one_key_make_one_task(store: Store, dialect: str) -> None:
    def create(index: int) -> int:
        mine = open_again(dialect, store)
        try:
            return TaskService(mine).create(7, "crawl", {"url": "u"}, idempotency_key="race").id
        finally:
            mine.close()

    answered = _in_threads(8, create)
    created = [task.id for task in TaskService(store).list(project_id=7)]
    assert len(created) == 1 and set(answered) == set(created)


@pytest.mark.parametrize("key", ["", "x" * 201, "caf\u00e9", "tab\there", "new\nline"])
def test_a_key_must_be_printable_ascii_of_at_most_200(service: TaskService, key: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        service.create(1, "ocr", idempotency_key=key)
    assert raised.value.field == IDEMPOTENCY_HEADER
    with pytest.raises(InvalidInput):
        service.create_many([(1, "ocr", None)], idempotency_key=key)
    assert service.list() == []
    assert service.create(1, "ocr", idempotency_key="~" + "x" * 199).project_id == 1
