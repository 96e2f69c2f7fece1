"""The service's rules on a real SQLite file: bad input raises ``InvalidInput`` naming the field, and
then nothing was written and nothing announced."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from taskapi.domain import (
    MAX_ID,
    MAX_PARAMS_DEPTH,
    EventKind,
    InvalidInput,
    TaskEvent,
    TaskNotCancellable,
    TaskNotFound,
    TaskPruned,
    TaskQuery,
    TaskStatus,
    TaskType,
)
from taskapi.service import MAX_BATCH, TaskService, next_cursor, settled
from taskapi.signals import TaskSignal
from taskapi.store.base import Claim, Completion
from taskapi.store.sqlite import SQLiteStore
from tests.conftest import wait_until

BAD_IDS: list[object] = [0, -1, MAX_ID + 1, "1", 1.0, True, None]


@pytest.fixture
def store(sqlite_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(sqlite_path)
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def announced(service: TaskService) -> list[TaskSignal]:
    heard: list[TaskSignal] = []
    service.signals.subscribe(heard.append)
    return heard


@pytest.fixture
def service(store: SQLiteStore) -> TaskService:
    return TaskService(store)


def rejects(field: str, call: Callable[[], object], *mentions: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    assert caught.value.field == field, caught.value
    for mention in mentions:
        assert mention in caught.value.detail, caught.value.detail
    return caught.value


def nothing_written(store: SQLiteStore, announced: list[TaskSignal]) -> bool:
    return store.task_list(TaskQuery()) == [] and announced == []


def deep_list(depth: int) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(depth):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


# -- create -------------------------------------------------------------------------------------------


def test_create_stores_and_announces(service: TaskService, announced: list[TaskSignal]) -> None:
    task = service.create(3, "keyword_expand", {"seed": "graphene"})
    assert (task.project_id, task.task_type, task.params) == (3, "keyword_expand", {"seed": "graphene"})
    assert service.get(task.id) == task
    assert announced == [TaskSignal("created", task.id, task_type="keyword_expand")]


def test_a_batch_announces_each_task_type_once(service: TaskService, announced: list[TaskSignal]) -> None:
    first, _, third = service.create_many([(1, "ocr", None), (1, "ocr", None), (1, "search", None)])
    assert announced == [
        TaskSignal("created", first.id, task_type="ocr"),
        TaskSignal("created", third.id, task_type="search"),
    ]


def test_a_subscriber_hears_each_announcement_of_its_own_store_once(
    service: TaskService, store: SQLiteStore
) -> None:
    """In-process delivery is direct; the host socket this subscription also listens on (for other
    processes) drops what this store sent, so nothing arrives twice."""
    heard: list[TaskSignal] = []
    stop = service.subscribe(heard.append)
    try:
        task = service.create(1, "ocr")
        store.task_claim(Claim("worker-1", ["ocr"], 1, 30.0, {}))
        service.cancel(task.id)
        other = SQLiteStore(store.path)  # another process's store on the same file
        try:
            TaskService(other).create(1, "dedup")
        finally:
            other.close()
        wait_until(lambda: any(s.task_type == "dedup" for s in heard), what="the other store's create")
        assert heard == [
            TaskSignal("created", task.id, task_type="ocr"),
            TaskSignal("cancelled", task.id, worker_id="worker-1"),
            TaskSignal("created", task.id + 1, task_type="dedup"),
        ]
    finally:
        stop()


def test_create_without_params_stores_an_empty_object(service: TaskService) -> None:
    assert service.create(1, "search").params == {}
    assert service.create(1, "search", None).params == {}


def test_create_accepts_any_mapping_as_params(service: TaskService) -> None:
    assert service.create(1, "search", MappingProxyType({"a": 1})).params == {"a": 1}


@pytest.mark.parametrize("bad", BAD_IDS)
def test_create_rejects_bad_project_id(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], bad: object
) -> None:
    rejects("project_id", lambda: service.create(bad, "search"), "between 1 and")  # type: ignore[arg-type]
    assert nothing_written(store, announced)


@pytest.mark.parametrize("bad", ["foo", "SEARCH", "", None, 3])
def test_create_rejects_unknown_task_type(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], bad: object
) -> None:
    error = rejects("task_type", lambda: service.create(1, bad), "search", "keyword_expand")  # type: ignore[arg-type]
    assert repr(bad) in error.detail
    assert nothing_written(store, announced)


@pytest.mark.parametrize(
    "bad",
    [[1, 2], "text", 5, ("a", 1)],
    ids=["list", "str", "int", "tuple"],
)
def test_create_rejects_params_that_are_not_an_object(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], bad: object
) -> None:
    rejects("params", lambda: service.create(1, "search", bad), "JSON object")  # type: ignore[arg-type]
    assert nothing_written(store, announced)


@pytest.mark.parametrize("bad", [[], "", 0, False], ids=["empty-list", "empty-str", "zero", "false"])
def test_create_rejects_falsy_params_that_are_not_an_object(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], bad: object
) -> None:
    rejects("params", lambda: service.create(1, "search", bad), "JSON object")  # type: ignore[arg-type]
    assert nothing_written(store, announced)


@pytest.mark.parametrize(
    "bad",
    [
        {"x": math.nan},
        {"x": math.inf},
        {"x": -math.inf},
        {"nested": {"list": [1, math.nan]}},
        {"x": object()},
        {"x": {1, 2}},
        {(1, 2): "tuple key"},
    ],
    ids=["nan", "inf", "-inf", "nested-nan", "object", "set", "tuple-key"],
)
def test_create_rejects_params_that_are_not_json(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], bad: dict[Any, Any]
) -> None:
    rejects("params", lambda: service.create(1, "search", bad), "JSON")
    assert nothing_written(store, announced)


def test_create_rejects_params_nested_too_deep(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal]
) -> None:
    rejects("params", lambda: service.create(1, "search", {"deep": deep_list(100_000)}))
    assert nothing_written(store, announced)


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"deep": deep_list(MAX_PARAMS_DEPTH)}, ["deeper than 64 levels", "params.deep.0.0.0…"]),
        ({"q": "a\ud800b"}, ["Unicode", "params.q has a lone surrogate"]),
        ({"k": {"\udfff": 1}}, ["Unicode", "params.k has a key with a lone surrogate"]),
        ({"n": [1, 2**64]}, ["64 bits", "params.n.1 needs 66 bits"]),
        ({"n": -(2**63) - 1}, ["64 bits", "params.n needs"]),
    ],
    ids=["depth", "surrogate", "surrogate-key", "u64+1", "i64-1"],
)
def test_every_door_refuses_params_the_api_refuses(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], params: Any, mentions: list[str]
) -> None:
    """Python callers meet the API's rule, in its words: such a task would answer its detail with a
    500 (a lone surrogate cannot be encoded) or lose precision in a JSON reader."""
    rejects("params", lambda: service.create(1, "search", params), *mentions)
    rejects(
        "tasks.1.params", lambda: service.create_many([(1, "ocr", None), (1, "search", params)]), *mentions
    )
    assert nothing_written(store, announced)


def test_params_at_the_limits_are_taken_and_read_back(service: TaskService) -> None:
    params = {"deep": deep_list(MAX_PARAMS_DEPTH - 2), "n": [2**64 - 1, -(2**63)], "t": "\U0001f600"}
    task = service.create(1, "search", params)
    assert service.get(task.id).params == params


def test_create_many_writes_nothing_when_one_spec_is_bad(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal]
) -> None:
    specs: list[tuple[int, str, dict[str, Any] | None]] = [
        (1, "search", {}),
        (2, "ocr", None),
        (3, "crawl", {"x": math.nan}),
    ]
    rejects("tasks.2.params", lambda: service.create_many(specs))
    assert nothing_written(store, announced)


@pytest.mark.parametrize("count", [0, MAX_BATCH + 1])
def test_create_many_rejects_empty_and_oversized_batches(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], count: int
) -> None:
    specs: list[tuple[int, str, dict[str, Any] | None]] = [(1, "search", None)] * count
    rejects("tasks", lambda: service.create_many(specs), str(MAX_BATCH))
    assert nothing_written(store, announced)


def test_create_many_creates_all_in_order(service: TaskService, announced: list[TaskSignal]) -> None:
    tasks = service.create_many([(1, "search", None), (2, "ocr", {"page": 1})])
    assert [(t.project_id, t.task_type, t.params) for t in tasks] == [
        (1, "search", {}),
        (2, "ocr", {"page": 1}),
    ]
    assert [s.task_id for s in announced] == [t.id for t in tasks]


# -- get, list ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS)
def test_get_rejects_bad_id(service: TaskService, bad: object) -> None:
    rejects("id", lambda: service.get(bad))  # type: ignore[arg-type]


def test_get_unknown_is_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound) as caught:
        service.get(MAX_ID)
    assert caught.value.task_id == MAX_ID


@pytest.mark.parametrize("bad", [0, -1, 1001, True, "50", 1.5, None])
def test_list_rejects_limit_outside_1_to_1000(service: TaskService, bad: object) -> None:
    rejects("limit", lambda: service.list(limit=bad), "between 1 and 1000")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["done", "PENDING", "", 1])
def test_list_rejects_unknown_status(service: TaskService, bad: object) -> None:
    rejects("status", lambda: service.list(status=bad), "pending", "cancelled")  # type: ignore[arg-type]


def test_list_rejects_unknown_task_type_and_bad_project(service: TaskService) -> None:
    rejects("task_type", lambda: service.list(task_type="pdf"), "keyword_expand")
    rejects("project_id", lambda: service.list(project_id=0))


def test_list_accepts_the_limit_bounds_and_filters(service: TaskService) -> None:
    made = service.create_many([(1, "search", None), (1, "ocr", None), (2, "search", None)])
    assert [t.id for t in service.list(limit=1000)] == [t.id for t in reversed(made)]
    assert [t.id for t in service.list(limit=1)] == [made[-1].id]
    assert [t.id for t in service.list(project_id=1, task_type="ocr", status="pending")] == [made[1].id]


def test_list_takes_naive_times_as_utc(service: TaskService) -> None:
    task = service.create(1, "search")
    naive_before = (task.created_at - timedelta(seconds=1)).replace(tzinfo=None)
    assert [t.id for t in service.list(created_after=naive_before)] == [task.id]
    assert service.list(created_before=naive_before) == []


def test_next_cursor_only_when_the_page_is_full(service: TaskService) -> None:
    service.create_many([(1, "search", None)] * 3)
    full = service.list(limit=2)
    cursor = next_cursor(full, 2)
    assert cursor is not None and (cursor.created_at, cursor.id) == (full[-1].created_at, full[-1].id)
    rest = service.list(limit=2, after=cursor)
    assert len(rest) == 1 and next_cursor(rest, 2) is None
    assert next_cursor([], 2) is None


# -- cancel -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS)
def test_cancel_rejects_bad_id(service: TaskService, announced: list[TaskSignal], bad: object) -> None:
    rejects("id", lambda: service.cancel(bad))  # type: ignore[arg-type]
    assert announced == []


def test_cancel_pending_announces_without_a_worker(service: TaskService, announced: list[TaskSignal]) -> None:
    task = service.create(1, "search")
    service.cancel(task.id)
    assert service.get(task.id).status is TaskStatus.CANCELLED
    assert announced[-1] == TaskSignal("cancelled", task.id, worker_id=None)


def test_cancel_running_tells_its_worker(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal]
) -> None:
    task = service.create(1, "search")
    store.task_claim(Claim("worker-3", [TaskType.SEARCH.value], 1, 30.0, {}))
    service.cancel(task.id)
    assert announced[-1] == TaskSignal("cancelled", task.id, worker_id="worker-3")


def test_cancel_twice_is_not_cancellable(service: TaskService, announced: list[TaskSignal]) -> None:
    task = service.create(1, "search")
    service.cancel(task.id)
    with pytest.raises(TaskNotCancellable) as caught:
        service.cancel(task.id)
    assert caught.value.status is TaskStatus.CANCELLED
    assert [s.kind for s in announced] == ["created", "cancelled"]


def test_cancel_unknown_is_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound):
        service.cancel(123)


def test_open_migrates_and_closes(database_url: str) -> None:
    with TaskService.open(database_url) as tasks:
        created = tasks.create(1, "dedup")
    with TaskService.open(database_url, migrate=False) as tasks:
        assert tasks.get(created.id).created_at.tzinfo == UTC
        assert tasks.get(created.id).created_at <= datetime.now(UTC)


# -- batch create: a bad item is named by its index ----------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ((0, "search", None), "tasks.1.project_id"),
        ((1, "pdf", None), "tasks.1.task_type"),
        ((1, "search", {"q": "a\x00b"}), "tasks.1.params"),
        ((1, "search", []), "tasks.1.params"),
    ],
)
def test_create_many_names_the_bad_item(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], spec: Any, field: str
) -> None:
    rejects(field, lambda: service.create_many([(1, "search", None), spec, (1, "ocr", None)]))
    assert nothing_written(store, announced)


@pytest.mark.parametrize("bad", ["", "   ", 7, None, "x" * 201])
def test_writes_refuse_a_missing_or_strange_actor(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal], bad: object
) -> None:
    rejects("actor", lambda: service.create(1, "search", actor=bad))  # type: ignore[arg-type]
    assert nothing_written(store, announced)


def test_the_actor_signs_the_events_of_each_write(service: TaskService) -> None:
    one = service.create(1, "search", actor="cli")
    [two] = service.create_many([(1, "ocr", None)], actor="operate token 3f9a1c")
    service.cancel(one.id, actor="operate token 3f9a1c")
    assert [(e.kind, e.actor) for e in service.events(one.id)] == [
        ("created", "cli"),
        ("cancelled", "operate token 3f9a1c"),
    ]
    assert [e.actor for e in service.events(two.id)] == ["operate token 3f9a1c"]
    default = service.create(1, "dedup")
    assert service.events(default.id)[0].actor == "api"


# -- bulk cancel --------------------------------------------------------------------------------------


def test_cancel_many_cancels_the_matches_and_tells_each_worker(
    service: TaskService, store: SQLiteStore, announced: list[TaskSignal]
) -> None:
    ocr, search, _ = service.create_many([(1, "ocr", None), (1, "search", None), (2, "ocr", None)])
    store.task_claim(Claim("worker-9", ["ocr"], 1, 30.0, {}))
    announced.clear()
    assert service.cancel_many(1, status="running", actor="cli") == 1
    assert announced == [TaskSignal("cancelled", ocr.id, worker_id="worker-9")]
    assert service.cancel_many(1, task_type="search") == 1
    assert announced[-1] == TaskSignal("cancelled", search.id, worker_id=None)
    assert service.cancel_many(1) == 0
    assert [t.status for t in service.get_many([ocr.id, search.id])] == [TaskStatus.CANCELLED] * 2
    assert service.events(ocr.id)[-1].actor == "cli"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"project_id": 0}, "project_id"),
        ({"project_id": 1, "status": "completed"}, "status"),
        ({"project_id": 1, "status": "done"}, "status"),
        ({"project_id": 1, "task_type": "pdf"}, "task_type"),
        ({"project_id": 1, "actor": ""}, "actor"),
    ],
)
def test_cancel_many_rejects_bad_filters_and_changes_nothing(
    service: TaskService, announced: list[TaskSignal], kwargs: dict[str, Any], field: str
) -> None:
    task = service.create(1, "search")
    announced.clear()
    rejects(field, lambda: service.cancel_many(**kwargs))
    assert service.get(task.id).status is TaskStatus.PENDING and announced == []


# -- timeline, pruned tasks ----------------------------------------------------------------------------


def finished_and_pruned(service: TaskService, store: SQLiteStore) -> int:
    """A task that completed, then was pruned by a retention shorter than its age."""
    task = service.create(1, "search")
    [running] = store.task_claim(Claim("w", ["search"], 1, 30.0, {}))
    store.task_finish([Completion(task.id, running.attempt, 1, 1, result={})])
    completed_at = service.get(task.id).completed_at
    assert completed_at is not None
    wait_until(lambda: datetime.now(UTC) > completed_at + timedelta(seconds=0.05), what="the task to age")
    assert service.prune(timedelta(seconds=0.05)) == 1
    return task.id


def test_a_pruned_task_answers_pruned_with_when(service: TaskService, store: SQLiteStore) -> None:
    task_id = finished_and_pruned(service, store)
    for read in (service.get, service.events, service.cancel):
        with pytest.raises(TaskPruned) as caught:
            read(task_id)
        assert caught.value.task_id == task_id
        assert "was pruned on" in str(caught.value) and "(retention 0.05 seconds)" in str(caught.value)
    with pytest.raises(TaskNotFound) as unknown:
        service.get(task_id + 1)
    assert not isinstance(unknown.value, TaskPruned)
    assert service.get_many([task_id]) == []


def test_events_of_an_unknown_task_is_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound):
        service.events(42)
    rejects("id", lambda: service.events(0))


def test_prune_needs_a_positive_age(service: TaskService) -> None:
    rejects("older_than", lambda: service.prune(timedelta(0)))


# -- the change feed ----------------------------------------------------------------------------------


def test_changes_read_the_log_from_a_position(service: TaskService) -> None:
    start = service.latest_event_id()
    first = service.create(1, "search")
    service.cancel(first.id)
    feed = service.changes(start)
    assert [(e.task_id, e.kind) for e in feed] == [(first.id, "created"), (first.id, "cancelled")]
    assert service.changes(feed[0].id) == feed[1:]
    assert service.changes(start, limit=1) == feed[:1]
    assert service.latest_event_id() == feed[-1].id
    rejects("after_event_id", lambda: service.changes(-1))
    rejects("limit", lambda: service.changes(0, limit=0))


def event(event_id: int, age: float, now: datetime) -> TaskEvent:
    return TaskEvent(event_id, 1, now - timedelta(seconds=age), EventKind.CLAIMED, 1, "worker w", "")


NOW = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)
SETTLE = timedelta(seconds=10)


def test_settled_passes_contiguous_ids_whatever_their_age() -> None:
    events = [event(5, 0, NOW), event(6, 0, NOW), event(7, 0, NOW)]
    assert settled(events, 4, NOW, SETTLE) == events


def test_settled_stops_before_a_young_gap_an_earlier_transaction_may_still_fill() -> None:
    events = [event(5, 0, NOW), event(7, 1, NOW), event(8, 1, NOW)]
    assert settled(events, 4, NOW, SETTLE) == events[:1]
    assert settled(events[1:], 4, NOW, SETTLE) == []  # even the first one: 5 and 6 may be in flight


def test_settled_reads_past_an_old_gap_that_will_never_fill() -> None:
    events = [event(5, 60, NOW), event(9, 30, NOW), event(10, 0, NOW)]
    assert settled(events, 2, NOW, SETTLE) == events


def test_get_many_and_running_progress_are_bounded_reads(service: TaskService, store: SQLiteStore) -> None:
    a, b = service.create_many([(1, "search", None), (1, "ocr", None)])
    store.task_claim(Claim("w", ["ocr"], 1, 30.0, {}))
    assert [t.id for t in service.get_many([b.id, a.id])] == [a.id, b.id]
    assert service.running_progress() == [(b.id, 0, 0)]
    rejects("ids", lambda: service.get_many([1] * 10_001))
    rejects("id", lambda: service.get_many([0]))
