"""The timeline on every store: each transition writes exactly its event in its own write, a transition
that loses writes none, and the log of events is the change feed (ids in order, pages, the head).

Runs on each dialect of the ``store`` fixture, through the ``Store`` protocol only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from taskapi.domain import EventKind, NewEvent, Task, TaskEvent, TaskStatus, TaskType
from taskapi.store.base import Completion, ProgressWrite, Store
from taskapi.store.postgres import COPY_FROM
from tests.conftest import wait_until
from tests.integration.conftest import open_again
from tests.integration.test_store_conformance import claim, claim_expired, create_batch, done, get, new

K = EventKind


def kinds(store: Store, task_id: int) -> list[EventKind]:
    return [event.kind for event in store.task_events(task_id)]


def last(store: Store, task_id: int) -> TaskEvent:
    return store.task_events(task_id)[-1]


def all_events(store: Store) -> list[TaskEvent]:
    return store.task_changes(0, 10_000).events


# -- one event per transition -------------------------------------------------------------------------


def test_create_writes_created_signed_by_its_actor_at_the_creation_time(store: Store) -> None:
    task = store.task_create(new(), actor="cli")
    [event] = store.task_events(task.id)
    assert (event.task_id, event.kind, event.attempt, event.actor, event.detail) == (
        task.id,
        K.CREATED,
        0,
        "cli",
        "",
    )
    assert event.at == task.created_at


@pytest.mark.parametrize("count", [3, COPY_FROM])  # PostgreSQL: one INSERT, then COPY
def test_create_many_writes_one_created_per_task_in_id_order(store: Store, count: int) -> None:
    tasks = store.task_create_many([new(i % 3 + 1, TaskType.OCR, i=i) for i in range(count)], actor="api")
    events = all_events(store)
    assert [e.task_id for e in events] == [t.id for t in tasks]
    assert {(e.kind, e.attempt, e.actor, e.at) for e in events} == {
        (K.CREATED, 0, "api", tasks[0].created_at)
    }
    assert [e.id for e in events] == sorted(e.id for e in events)
    for task in (tasks[0], tasks[-1]):
        assert get(store, task.id) == task  # what create answered is what was stored


def test_claim_writes_claimed_by_the_worker_on_its_attempt(store: Store) -> None:
    created = create_batch(store, 3)
    claimed = claim(store, worker="host:1:ab", limit=2)
    for task in claimed:
        event = last(store, task.id)
        assert (event.kind, event.attempt, event.actor) == (K.CLAIMED, 1, "worker host:1:ab")
        assert event.at == task.started_at
    assert kinds(store, created[2].id) == [K.CREATED]


def test_completion_and_failure_write_their_event_with_the_error_as_detail(store: Store) -> None:
    create_batch(store, 2)
    ok, bad = claim(store, worker="w7")
    assert sorted(
        store.task_finish([done(ok, result={"n": 1}), done(bad, error="ValueError: no")])
    ) == sorted([ok.id, bad.id])
    completed, failed = last(store, ok.id), last(store, bad.id)
    assert (completed.kind, completed.attempt, completed.actor, completed.detail) == (
        K.COMPLETED,
        1,
        "worker w7",
        "",
    )
    assert (failed.kind, failed.actor, failed.detail) == (K.FAILED, "worker w7", "ValueError: no")
    assert completed.at == get(store, ok.id).completed_at


def test_cancel_says_who_and_what_it_stopped(store: Store) -> None:
    was_running, was_pending = create_batch(store, 2)
    claim(store, limit=1)  # the older one
    assert store.task_cancel(was_pending.id, actor="operate token 3f9a1c") is not None
    assert store.task_cancel(was_running.id) is not None
    pending_cancel, running_cancel = last(store, was_pending.id), last(store, was_running.id)
    assert (pending_cancel.kind, pending_cancel.actor, pending_cancel.detail, pending_cancel.attempt) == (
        K.CANCELLED,
        "operate token 3f9a1c",
        "was pending",
        0,
    )
    assert (running_cancel.actor, running_cancel.detail, running_cancel.attempt) == ("api", "was running", 1)
    assert running_cancel.at == get(store, was_running.id).completed_at


def test_release_names_the_worker_and_the_attempt_it_handed_back(store: Store) -> None:
    task = store.task_create(new())
    [running] = claim(store, worker="w3")
    assert store.task_release(task.id, running.attempt) is True
    event = last(store, task.id)
    assert (event.kind, event.attempt, event.actor, event.detail) == (
        K.RELEASED,
        1,
        "worker w3",
        "worker shutdown",
    )
    assert store.task_release(task.id, running.attempt, reason="claimed ahead, never started") is False
    assert kinds(store, task.id) == [K.CREATED, K.CLAIMED, K.RELEASED]


def test_rescue_writes_rescued_or_lost_signed_by_the_rescuer(store: Store) -> None:
    last_try, retried = create_batch(store, 2, task_type=TaskType.CRAWL)
    claim_expired(store, worker="dead", max_attempts={"crawl": 1}, limit=1)  # the older: its only attempt
    claim_expired(store, worker="dead", limit=1)  # attempts remain (3 by default)
    rescued = {r.id: r.status for r in store.task_rescue(actor="rescuer host:2:cd")}
    assert rescued == {last_try.id: TaskStatus.FAILED, retried.id: TaskStatus.PENDING}
    lost, back = last(store, last_try.id), last(store, retried.id)
    assert (lost.kind, lost.actor, lost.attempt) == (K.LOST, "rescuer host:2:cd", 1)
    assert lost.detail == get(store, last_try.id).error_message and "dead" in lost.detail
    assert (back.kind, back.actor, back.attempt) == (K.RESCUED, "rescuer host:2:cd", 1)
    assert "worker dead stopped renewing its lease" in back.detail


def test_progress_and_lease_renewals_are_not_events(store: Store) -> None:
    task = store.task_create(new())
    [running] = claim(store, worker="w")
    store.task_set_progress([ProgressWrite(task.id, running.attempt, 1, 9)], lease_seconds=30)
    assert store.lease_renew("w", [(task.id, running.attempt)], 30) == 1
    assert kinds(store, task.id) == [K.CREATED, K.CLAIMED]


# -- a transition that loses writes no event ----------------------------------------------------------


def test_writes_that_lose_leave_the_timeline_alone(store: Store) -> None:
    task = store.task_create(new())
    [running] = claim(store)
    store.task_cancel(task.id)
    before = store.task_events(task.id)
    assert store.task_finish([done(running, result={})]) == []
    assert store.task_finish([done(running, error="late")]) == []
    assert store.task_release(task.id, running.attempt) is False
    assert store.task_cancel(task.id) is None
    assert store.task_rescue() == []
    assert store.task_events(task.id) == before
    assert [e.kind for e in before] == [K.CREATED, K.CLAIMED, K.CANCELLED]


def test_a_stale_attempt_writes_no_event(store: Store) -> None:
    store.task_create(new())
    [old] = claim_expired(store, worker="gone")
    store.task_rescue(actor="rescuer r")
    [current] = claim(store, worker="alive")
    assert store.task_finish([done(old, result={"stale": True})]) == []
    assert kinds(store, old.id) == [K.CREATED, K.CLAIMED, K.RESCUED, K.CLAIMED]
    assert last(store, current.id).attempt == 2


def test_cancel_racing_completion_has_one_winner_and_one_matching_event(store: Store, dialect: str) -> None:
    """For each of 40 running tasks, a worker's completion and an API cancel are released at the same
    instant, on separate store objects (as separate processes)."""
    store.task_create_many([new() for _ in range(40)])
    running = claim(store, worker="racer", limit=40)
    start = threading.Barrier(2)

    def finish(mine: Store, task: Task) -> None:
        mine.task_finish([Completion(task.id, task.attempt, 1, 1, result={"won": True})])

    def cancel(mine: Store, task: Task) -> None:
        mine.task_cancel(task.id)

    def side(action: Callable[[Store, Task], Any]) -> None:
        mine = open_again(dialect, store)
        try:
            for task in running:
                start.wait(timeout=10)  # both sides go for this task together
                action(mine, task)
        finally:
            mine.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(side, finish), pool.submit(side, cancel)]:
            future.result(timeout=60)
    tasks = [get(store, task.id) for task in running]
    assert {task.status for task in tasks} <= {TaskStatus.COMPLETED, TaskStatus.CANCELLED}
    for task in tasks:
        final = [k for k in kinds(store, task.id) if k in (K.COMPLETED, K.CANCELLED)]
        assert final == [K(task.status.value)], (task.id, final)


def test_rescue_racing_completion_has_one_winner_and_one_matching_event(store: Store, dialect: str) -> None:
    store.task_create_many([new() for _ in range(20)])
    running = claim_expired(store, worker="slow", limit=20)

    def finish_all() -> None:
        mine = open_again(dialect, store)
        try:
            for task in running:
                mine.task_finish([Completion(task.id, task.attempt, 1, 1, result={})])
        finally:
            mine.close()

    finisher = threading.Thread(target=finish_all)
    finisher.start()
    rescuer = open_again(dialect, store)
    try:
        while finisher.is_alive() or any(get(store, t.id).status is TaskStatus.RUNNING for t in running):
            rescuer.task_rescue(actor="rescuer r")
            finisher.join(timeout=0.001)
    finally:
        rescuer.close()
    for task in running:
        after = get(store, task.id)
        tail = kinds(store, task.id)[2:]
        expected = [K.COMPLETED] if after.status is TaskStatus.COMPLETED else [K.RESCUED]
        assert tail == expected, (after.status, tail)


# -- bulk cancel --------------------------------------------------------------------------------------


def test_bulk_cancel_takes_exactly_the_matching_tasks_with_one_event_each(store: Store) -> None:
    mine = store.task_create_many([new(1, TaskType.OCR), new(1, TaskType.OCR), new(1, TaskType.SEARCH)])
    other = store.task_create(new(2, TaskType.OCR))
    [running] = claim(store, "ocr", worker="w1", limit=1)
    assert running.id == mine[0].id
    cancelled = store.task_cancel_many(1, [TaskStatus.RUNNING], TaskType.OCR, actor="operate token x")
    assert [(c.id, c.worker_id, c.attempt) for c in cancelled] == [(running.id, "w1", 1)]
    assert last(store, running.id).detail == "was running"
    rest = store.task_cancel_many(1, [TaskStatus.PENDING, TaskStatus.RUNNING], actor="cli")
    assert [c.id for c in rest] == [mine[1].id, mine[2].id]
    for task in mine:
        assert kinds(store, task.id).count(K.CANCELLED) == 1
    assert last(store, mine[2].id).actor == "cli"
    assert get(store, other.id).status is TaskStatus.PENDING and kinds(store, other.id) == [K.CREATED]
    assert store.task_cancel_many(1, [TaskStatus.PENDING, TaskStatus.RUNNING]) == []


def test_bulk_cancel_leaves_finished_tasks_alone(store: Store) -> None:
    create_batch(store, 2, project_id=5)
    first, second = claim(store)
    store.task_finish([done(first, result={})])
    before = store.task_events(first.id)
    assert [c.id for c in store.task_cancel_many(5, [TaskStatus.PENDING, TaskStatus.RUNNING])] == [second.id]
    assert store.task_events(first.id) == before and get(store, first.id).status is TaskStatus.COMPLETED


# -- observations -------------------------------------------------------------------------------------


def test_observations_are_recorded_for_existing_tasks_only(store: Store) -> None:
    task = store.task_create(new())
    claim(store, worker="w")
    observed = [
        NewEvent(task.id, K.TIMED_OUT, 1, "worker w", "past its timeout of 0.3 s"),
        NewEvent(task.id, K.KILLED, 1, "worker w", "killed after the grace"),
        NewEvent(999_999, K.KILLED, 1, "worker w"),
    ]
    assert store.task_events_add(observed) == 2
    timed_out, killed = store.task_events(task.id)[-2:]
    assert (timed_out.kind, timed_out.detail, killed.kind, killed.actor) == (
        K.TIMED_OUT,
        "past its timeout of 0.3 s",
        K.KILLED,
        "worker w",
    )
    assert store.task_events(999_999) == []
    assert store.task_events_add([]) == 0


@pytest.mark.parametrize("kind", [K.CREATED, K.COMPLETED, K.CANCELLED])
def test_a_transition_kind_cannot_be_added_by_hand(store: Store, kind: EventKind) -> None:
    task = store.task_create(new())
    with pytest.raises(ValueError, match="written by its transition"):
        store.task_events_add([NewEvent(task.id, kind, 0, "someone")])
    assert kinds(store, task.id) == [K.CREATED]


# -- the change feed ----------------------------------------------------------------------------------


def test_changes_page_through_the_log_in_id_order(store: Store) -> None:
    assert store.task_events_head() == 0 and store.task_changes(0, 10).events == []
    tasks = create_batch(store, 5)
    claim(store, limit=2)
    store.task_cancel(tasks[4].id)
    everything = all_events(store)
    assert len(everything) == 5 + 2 + 1
    assert store.task_events_head() == everything[-1].id
    walked: list[TaskEvent] = []
    after = 0
    while page := store.task_changes(after, 3).events:
        assert len(page) <= 3
        walked += page
        after = page[-1].id
    assert walked == everything
    assert [e.kind for e in everything[-3:]] == [K.CLAIMED, K.CLAIMED, K.CANCELLED]
    assert store.task_changes(everything[-1].id, 10).events == []


def test_get_many_and_running_progress(store: Store) -> None:
    a, b, c = create_batch(store, 3)
    [running] = claim(store, limit=1)
    store.task_set_progress([ProgressWrite(running.id, running.attempt, 4, 10)], lease_seconds=30)
    assert [t.id for t in store.task_get_many([c.id, a.id, 999_999])] == [a.id, c.id]
    assert store.task_get_many([]) == []
    assert store.task_running_progress() == [(running.id, 4, 10)]
    assert b.id not in [t.id for t in store.task_get_many([a.id])]


def test_listen_changes_hears_transitions(store: Store, dialect: str) -> None:
    """Writes through the same store object on SQLite (the API and an embedded worker share one); from
    another store object, as another process, on PostgreSQL."""
    heard = threading.Event()
    stop = store.listen_changes(heard.set)
    writer = store if dialect == "sqlite" else open_again(dialect, store)
    try:
        wait_until(lambda: heard.is_set() or _probe(writer), what="the listener to hear a first change")
        heard.clear()
        task = writer.task_create(new())
        wait_until(heard.is_set, what="a create heard")
        heard.clear()
        claim(writer)
        wait_until(heard.is_set, what="a claim heard")
        heard.clear()
        writer.task_cancel(task.id)
        wait_until(heard.is_set, what="a cancel heard")
    finally:
        stop()
        if writer is not store:
            writer.close()
    heard.clear()
    store.task_create(new())
    assert not heard.is_set(), "heard after stop"


def _probe(writer: Store) -> bool:
    """Create a probe task (LISTEN starts on its own thread; the first ones may come too early)."""
    writer.task_create(new(project_id=99))
    return False


def test_queue_counts_read_what_a_metrics_scrape_shows(store: Store) -> None:
    empty = store.task_queue_counts()
    assert (empty.active, empty.oldest_pending_created_at, empty.events) == ({}, None, {})
    first, *_ = store.task_create_many([new(task_type=TaskType.OCR), new(), new()])
    claim(store, "search", limit=1, worker="w")
    [lost] = claim_expired(store, "search", limit=1, worker="dead", max_attempts={"search": 1})
    store.task_rescue()
    store.task_events_add([NewEvent(first.id, K.KILLED, 0, "worker w")])
    counts = store.task_queue_counts()
    assert counts.active == {("pending", "ocr"): 1, ("running", "search"): 1}
    assert counts.oldest_pending_created_at == first.created_at
    assert counts.events == {"lost": 1, "killed": 1}
    assert get(store, lost.id).status is TaskStatus.FAILED
