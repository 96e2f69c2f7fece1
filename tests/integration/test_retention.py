"""Retention on every store: finished tasks older than the limit go, with their timelines, in bounded
batches; everything else stays; each batch leaves a record, so a pruned id is known as pruned; ids
(of tasks and of events) are never given again."""

from __future__ import annotations

from datetime import timedelta

from taskapi.domain import TaskStatus, utcnow
from taskapi.store.base import Store
from tests.integration.conftest import open_again
from tests.integration.test_store_conformance import (
    _in_threads,
    claim,
    create_batch,
    done,
    get,
    new,
    wait_past,
)

AGE = 0.3  # seconds: the retention of these tests


def finished_long_ago(store: Store, count: int, project_id: int = 1) -> list[int]:
    """``count`` tasks that ended (completed, failed, cancelled in turn) more than ``AGE`` ago."""
    tasks = create_batch(store, count, project_id=project_id)
    running = claim(store, limit=count)
    for index, task in enumerate(running):
        if index % 3 == 0:
            store.task_finish([done(task, result={})])
        elif index % 3 == 1:
            store.task_finish([done(task, error="boom")])
        else:
            store.task_cancel(task.id)
    latest = max(t.completed_at for t in (get(store, task.id) for task in tasks) if t.completed_at)
    wait_past(latest + timedelta(seconds=AGE))
    return [task.id for task in tasks]


def test_prune_deletes_old_finished_tasks_and_their_events_only(store: Store) -> None:
    old = finished_long_ago(store, 6)
    still_running = store.task_create(new(2))
    claim(store, limit=1)
    just_finished = store.task_create(new(3))
    [running] = claim(store, limit=1)
    store.task_finish([done(running, result={})])
    waiting = store.task_create(new(4))
    before = utcnow()

    assert store.task_prune(AGE) == 6

    for task_id in old:
        assert store.task_get(task_id) is None and store.task_events(task_id) == []
        record = store.task_pruned(task_id)
        assert record is not None and record.older_than_seconds == AGE
        assert before - timedelta(seconds=1) <= record.pruned_at <= utcnow() + timedelta(seconds=1)
    statuses = {task_id: get(store, task_id).status for task_id in (still_running.id, just_finished.id)}
    assert statuses == {still_running.id: TaskStatus.RUNNING, just_finished.id: TaskStatus.COMPLETED}
    for kept in (still_running.id, just_finished.id, waiting.id):
        assert store.task_events(kept) != [] and store.task_pruned(kept) is None
    assert store.task_prune(AGE) == 0


def test_prune_works_in_batches_and_records_each(store: Store) -> None:
    old = finished_long_ago(store, 7)
    assert store.task_prune(AGE, limit=3) == 7
    assert all(store.task_pruned(task_id) is not None for task_id in old)
    assert store.task_get_many(old) == []


def test_an_id_outside_every_pruned_range_is_not_pruned(store: Store) -> None:
    old = finished_long_ago(store, 3)
    store.task_prune(AGE)
    assert store.task_pruned(max(old) + 1_000) is None
    assert store.task_pruned(0) is None


def test_ids_are_never_given_again_after_the_newest_tasks_are_pruned(store: Store) -> None:
    old = finished_long_ago(store, 3)
    head = store.task_events_head()
    assert store.task_prune(AGE) == 3
    assert store.task_events_head() == 0  # the whole log went with its tasks
    fresh = store.task_create(new())
    assert fresh.id > max(old)
    [created] = store.task_events(fresh.id)
    assert created.id > head, "an event id was given again: a change-feed reader would skip it"


def test_pruners_on_two_hosts_at_once_delete_each_task_once(store: Store, dialect: str) -> None:
    old = finished_long_ago(store, 30)

    def prune(_: int) -> int:
        mine = open_again(dialect, store)
        try:
            return mine.task_prune(AGE, limit=4)
        finally:
            mine.close()

    assert sum(_in_threads(2, prune)) == 30
    assert store.task_get_many(old) == []


def test_a_task_that_outlived_a_pruning_is_dated_by_the_one_that_deleted_it(store: Store) -> None:
    """The first pruning deletes the ids around a task still running; a later one deletes it: each id
    is dated by the pruning that deleted it, not by the first whose id span holds it."""
    first, straggler, last = create_batch(store, 3)
    [a, b, c] = claim(store, limit=3)
    store.task_finish([done(a, result={}), done(c, result={})])
    age_past(store, last.id)
    assert store.task_prune(AGE) == 2
    early = store.task_pruned(first.id)
    assert early is not None and store.task_pruned(last.id) == early
    assert store.task_pruned(straggler.id) is None  # inside the span, not deleted: not pruned

    store.task_finish([done(b, result={})])
    age_past(store, straggler.id)
    assert store.task_prune(AGE) == 1
    later = store.task_pruned(straggler.id)
    assert later is not None and later.pruned_at > early.pruned_at
    assert store.task_pruned(first.id) == early


def age_past(store: Store, task_id: int) -> None:
    """Wait until the finished task ``task_id`` is older than ``AGE``."""
    completed_at = get(store, task_id).completed_at
    assert completed_at is not None
    wait_past(completed_at + timedelta(seconds=AGE))
