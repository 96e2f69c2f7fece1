"""One behaviour for every store: the conformance suite runs on each dialect of the ``store`` fixture.

It talks only to the ``Store`` protocol (no SQL), so a second implementation passes it or is wrong.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from taskapi.domain import Cursor, NewTask, Task, TaskQuery, TaskStatus, TaskType, utcnow
from taskapi.store.base import Claim, Completion, ListedTask, ProgressWrite, Store
from tests.conftest import wait_until
from tests.integration.conftest import open_again

TYPES = list(TaskType)
TINY_LEASE = 0.001


# -- helpers ------------------------------------------------------------------------------------------


def new(project_id: int = 1, task_type: TaskType = TaskType.SEARCH, **params: Any) -> NewTask:
    return NewTask(project_id=project_id, task_type=task_type, params=dict(params))


def create_batch(store: Store, count: int, **kwargs: Any) -> list[Task]:
    """``count`` tasks in one transaction: they share one ``created_at`` (a tie broken by id)."""
    return store.task_create_many([new(**kwargs) for _ in range(count)])


def wait_past(moment: datetime) -> None:
    """Wait until the clock has moved past ``moment``, so the next write gets a later time."""
    wait_until(lambda: utcnow() > moment, what=f"the clock to pass {moment.isoformat()}")


def claim(
    store: Store,
    *types: str,
    worker: str = "worker-1",
    limit: int = 100,
    lease_seconds: float = 30.0,
    max_attempts: Mapping[str, int] | None = None,
) -> list[Task]:
    return store.task_claim(
        Claim(
            worker_id=worker,
            task_types=list(types) or [t.value for t in TYPES],
            limit=limit,
            lease_seconds=lease_seconds,
            max_attempts=max_attempts or {},
        )
    )


def claim_expired(store: Store, *types: str, **kwargs: Any) -> list[Task]:
    """Claim with a lease that has run out by the time this returns (the worker is as good as dead)."""
    tasks = claim(store, *types, lease_seconds=TINY_LEASE, **kwargs)
    for task in tasks:
        expires = task.lease_expires_at
        assert expires is not None
        wait_past(expires)
    return tasks


def get(store: Store, task_id: int) -> Task:
    task = store.task_get(task_id)
    assert task is not None, f"task {task_id} vanished"
    return task


def everything(store: Store) -> list[ListedTask]:
    return store.task_list(TaskQuery(limit=1000))


def ids(rows: Iterable[ListedTask | Task]) -> list[int]:
    return [row.id for row in rows]


def newest_first(tasks: Iterable[Task]) -> list[int]:
    return [t.id for t in sorted(tasks, key=lambda t: (t.created_at, t.id), reverse=True)]


def done(task: Task, result: dict[str, Any] | None = None, error: str | None = None) -> Completion:
    return Completion(
        id=task.id, attempt=task.attempt, progress=5, total=5, result=result, error_message=error
    )


# -- create and get -----------------------------------------------------------------------------------


def test_create_stores_a_pending_task_with_the_spec_defaults(store: Store) -> None:
    before = utcnow()
    created = store.task_create(new(7, TaskType.OCR, query="graphene", n=[1, 2]))
    after = utcnow()
    assert created.project_id == 7 and created.task_type == "ocr"
    assert created.status is TaskStatus.PENDING
    assert (created.progress, created.total, created.attempt) == (0, 0, 0)
    assert created.params == {"query": "graphene", "n": [1, 2]}
    assert created.result is None and created.error_message == ""
    assert created.started_at is None and created.completed_at is None
    assert created.worker_id is None and created.lease_expires_at is None
    assert created.created_at.utcoffset() == timedelta(0)
    assert before <= created.created_at <= after
    assert get(store, created.id) == created  # full precision survives the round trip


def test_create_many_gives_increasing_ids_and_one_created_at(store: Store) -> None:
    tasks = create_batch(store, 5)
    assert ids(tasks) == sorted(ids(tasks)) and len(set(ids(tasks))) == 5
    assert len({t.created_at for t in tasks}) == 1
    later = store.task_create(new())
    assert later.id > max(ids(tasks))


def test_create_many_is_all_or_nothing(store: Store) -> None:
    store.task_create(new(1))
    batch = [new(2), new(2), NewTask(2, TaskType.SEARCH, {"bad": object()})]
    with pytest.raises((TypeError, ValueError)):
        store.task_create_many(batch)
    assert [t.project_id for t in everything(store)] == [1]
    # the failed batch left no transaction open: the next write works and lands
    assert store.task_create(new(3)).project_id == 3
    assert len(everything(store)) == 2


def test_get_unknown_id_is_none(store: Store) -> None:
    store.task_create(new())
    assert store.task_get(10_000) is None


# -- list: filters, order, limit, paging --------------------------------------------------------------


def seed(store: Store) -> list[Task]:
    """48 tasks in four batches at four distinct times, over 3 projects, 6 types and all 5 statuses."""
    for batch in range(4):
        created = store.task_create_many(
            [new(1 + i % 3, TYPES[(i // 3 + batch) % 6], i=i) for i in range(12)]
        )
        wait_past(created[0].created_at)
    running = claim(store, "search", "ocr", "dedup", limit=12)
    store.task_finish([done(t, result={"ok": True}) for t in running[:4]])
    store.task_finish([done(t, error="boom") for t in running[4:8]])
    pending = [row for row in everything(store) if row.status is TaskStatus.PENDING]
    for row in pending[::3]:
        assert store.task_cancel(row.id) is not None
    tasks = [get(store, row.id) for row in everything(store)]
    assert {t.status for t in tasks} == set(TaskStatus), "the seed must hold every status"
    return tasks


def _matches(task: Task, filters: Mapping[str, Any]) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "project_id": lambda v: task.project_id == v,
        "status": lambda v: task.status == v,
        "task_type": lambda v: task.task_type == v,
        "created_after": lambda v: task.created_at > v,
        "created_before": lambda v: task.created_at < v,
        "after": lambda v: (task.created_at, task.id) < (v.created_at, v.id),
    }
    return all(checks[name](value) for name, value in filters.items())


def _filter_values(tasks: Sequence[Task]) -> dict[str, Any]:
    times = sorted({t.created_at for t in tasks})
    middle = sorted(tasks, key=lambda t: (t.created_at, t.id))[len(tasks) // 2]
    return {
        "project_id": 1,
        "status": TaskStatus.PENDING,
        "task_type": TaskType.SEARCH,
        "created_after": times[0],  # strict: the first batch is out
        "created_before": times[-1],  # strict: the last batch is out
        "after": Cursor(middle.created_at, middle.id),
    }


def test_list_every_filter_combination_matches_a_reference(store: Store) -> None:
    tasks = seed(store)
    values = _filter_values(tasks)
    for size in range(len(values) + 1):
        for names in itertools.combinations(values, size):
            filters = {name: values[name] for name in names}
            expected = newest_first(t for t in tasks if _matches(t, filters))
            if size == 1:
                assert 0 < len(expected) < len(tasks), f"seed does not exercise {names}"
            got = store.task_list(TaskQuery(limit=1000, **filters))
            assert ids(got) == expected, f"filters {filters}"


@pytest.mark.parametrize("status", list(TaskStatus))
def test_list_by_each_status(store: Store, status: TaskStatus) -> None:
    tasks = seed(store)
    expected = newest_first(t for t in tasks if t.status is status)
    got = store.task_list(TaskQuery(status=status, limit=1000))
    assert expected and ids(got) == expected
    assert {row.status for row in got} == {status}


def test_list_rows_carry_the_list_fields(store: Store) -> None:
    task = store.task_create(new(4, TaskType.CRAWL))
    [running] = claim(store, "crawl")
    store.task_set_progress([ProgressWrite(task.id, running.attempt, 3, 9)], lease_seconds=30)
    [row] = store.task_list(TaskQuery(project_id=4))
    assert row == ListedTask(
        id=task.id,
        project_id=4,
        task_type="crawl",
        status=TaskStatus.RUNNING,
        progress=3,
        total=9,
        created_at=task.created_at,
    )


def test_list_orders_newest_first_and_ties_by_id_descending(store: Store) -> None:
    first = create_batch(store, 3)
    wait_past(first[0].created_at)
    second = create_batch(store, 3)
    assert ids(everything(store)) == sorted(ids(second), reverse=True) + sorted(ids(first), reverse=True)


def test_list_limit(store: Store) -> None:
    tasks = create_batch(store, 5)
    assert ids(store.task_list(TaskQuery(limit=1))) == [max(ids(tasks))]
    assert len(store.task_list(TaskQuery(limit=4))) == 4
    assert len(store.task_list(TaskQuery(limit=50))) == 5


def test_list_of_nothing_is_empty(store: Store) -> None:
    assert store.task_list(TaskQuery()) == []
    store.task_create(new(1))
    assert store.task_list(TaskQuery(project_id=2)) == []


def _pages(store: Store, query: TaskQuery) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor: Cursor | None = None
    while True:
        page = store.task_list(replace(query, after=cursor))
        if not page:
            return pages
        pages.append(ids(page))
        cursor = Cursor(page[-1].created_at, page[-1].id)


def test_keyset_paging_walks_every_task_once_across_ties(store: Store) -> None:
    for _ in range(3):  # batches of 7 share a created_at: pages of 3 cut through the ties
        batch = create_batch(store, 7)
        wait_past(batch[0].created_at)
    pages = _pages(store, TaskQuery(limit=3))
    assert [len(p) for p in pages] == [3] * 7
    walked = [task_id for page in pages for task_id in page]
    assert walked == ids(everything(store))


def test_keyset_paging_with_filters(store: Store) -> None:
    tasks = seed(store)
    query = TaskQuery(project_id=1, limit=4)
    walked = [task_id for page in _pages(store, query) for task_id in page]
    assert walked == newest_first(t for t in tasks if t.project_id == 1)


def test_cursor_past_the_oldest_task_gives_an_empty_page(store: Store) -> None:
    [oldest, *_] = create_batch(store, 3)
    assert store.task_list(TaskQuery(after=Cursor(oldest.created_at, oldest.id))) == []


def test_created_after_and_before_are_strict(store: Store) -> None:
    early = create_batch(store, 2)
    wait_past(early[0].created_at)
    middle = create_batch(store, 2)
    wait_past(middle[0].created_at)
    late = create_batch(store, 2)
    moment = middle[0].created_at
    after = store.task_list(TaskQuery(created_after=moment))
    before = store.task_list(TaskQuery(created_before=moment))
    between = store.task_list(TaskQuery(created_after=early[0].created_at, created_before=late[0].created_at))
    assert set(ids(after)) == set(ids(late))
    assert set(ids(before)) == set(ids(early))
    assert set(ids(between)) == set(ids(middle))


# -- cancel -------------------------------------------------------------------------------------------


def test_cancel_pending(store: Store) -> None:
    task = store.task_create(new())
    cancelled = store.task_cancel(task.id)
    assert cancelled is not None
    assert (cancelled.id, cancelled.worker_id, cancelled.attempt) == (task.id, None, 0)
    after = get(store, task.id)
    assert after.status is TaskStatus.CANCELLED
    assert after.completed_at is not None and after.completed_at >= task.created_at


def test_cancel_running_names_the_worker(store: Store) -> None:
    task = store.task_create(new())
    claim(store, worker="worker-7")
    cancelled = store.task_cancel(task.id)
    assert cancelled is not None
    assert (cancelled.worker_id, cancelled.attempt) == ("worker-7", 1)
    after = get(store, task.id)
    assert after.status is TaskStatus.CANCELLED and after.completed_at is not None


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
def test_cancel_final_task_is_none_and_changes_nothing(store: Store, final: str) -> None:
    task = store.task_create(new())
    if final == "cancelled":
        store.task_cancel(task.id)
    else:
        [running] = claim(store)
        error = "boom" if final == "failed" else None
        store.task_finish([done(running, result=None if error else {"n": 1}, error=error)])
    before = get(store, task.id)
    assert before.status == final
    assert store.task_cancel(task.id) is None
    assert get(store, task.id) == before


def test_cancel_unknown_is_none(store: Store) -> None:
    assert store.task_cancel(123_456) is None


# -- claim --------------------------------------------------------------------------------------------


def test_claim_takes_only_the_requested_types(store: Store) -> None:
    store.task_create_many([new(task_type=t) for t in TYPES])
    claimed = claim(store, "ocr", "crawl")
    assert sorted(t.task_type for t in claimed) == ["crawl", "ocr"]
    assert {row.task_type for row in everything(store) if row.status is TaskStatus.PENDING} == {
        t.value for t in TYPES
    } - {"ocr", "crawl"}


def test_claim_takes_the_oldest_first(store: Store) -> None:
    old = create_batch(store, 2)
    wait_past(old[0].created_at)
    young = create_batch(store, 2)
    first = claim(store, limit=3)
    assert ids(first) == [*ids(old), min(ids(young))]
    assert ids(claim(store, limit=3)) == [max(ids(young))]


def test_claim_respects_the_batch_limit(store: Store) -> None:
    create_batch(store, 5)
    assert len(claim(store, limit=3)) == 3
    assert len(claim(store, limit=3)) == 2
    assert claim(store, limit=3) == []


def test_claim_marks_the_task_running_for_this_worker(store: Store) -> None:
    task = store.task_create(new())
    before = utcnow()
    [claimed] = claim(store, worker="worker-9", lease_seconds=60)
    after = utcnow()
    assert claimed.id == task.id and claimed.status is TaskStatus.RUNNING
    assert claimed.worker_id == "worker-9" and claimed.attempt == 1
    assert claimed.started_at is not None and before <= claimed.started_at <= after
    assert claimed.lease_expires_at is not None
    assert before + timedelta(seconds=60) <= claimed.lease_expires_at <= after + timedelta(seconds=60)
    assert get(store, task.id) == claimed


def test_claim_applies_max_attempts_per_type(store: Store) -> None:
    store.task_create_many([new(task_type=TaskType.SEARCH), new(task_type=TaskType.OCR)])
    claimed = {t.task_type: t for t in claim(store, max_attempts={"search": 7})}
    assert claimed["search"].max_attempts == 7
    assert claimed["ocr"].max_attempts == 3  # the default when the map does not name the type


def test_a_claimed_task_is_not_claimed_again(store: Store) -> None:
    create_batch(store, 3)
    first = claim(store, worker="a")
    assert len(first) == 3
    assert claim(store, worker="b") == []


def test_a_cancelled_task_is_never_claimed(store: Store) -> None:
    kept, cancelled = create_batch(store, 2)
    store.task_cancel(cancelled.id)
    assert ids(claim(store)) == [kept.id]
    assert get(store, cancelled.id).status is TaskStatus.CANCELLED


def test_each_claim_is_a_new_attempt(store: Store) -> None:
    task = store.task_create(new())
    claim_expired(store)
    store.task_rescue()
    [again] = claim(store)
    assert again.id == task.id and again.attempt == 2


# -- progress, finish, release: fenced by (id, attempt) ------------------------------------------------


def test_progress_is_recorded_and_extends_the_lease(store: Store) -> None:
    store.task_create(new())
    [task] = claim(store, lease_seconds=1)
    assert task.lease_expires_at is not None
    lost = store.task_set_progress([ProgressWrite(task.id, task.attempt, 4, 10)], lease_seconds=600)
    assert lost == []
    after = get(store, task.id)
    assert (after.progress, after.total) == (4, 10)
    assert after.lease_expires_at is not None and after.lease_expires_at > task.lease_expires_at


def test_completion_sets_result_and_completed_at(store: Store) -> None:
    store.task_create(new())
    [task] = claim(store)
    assert store.task_finish([done(task, result={"papers_found": 15})]) == [task.id]
    after = get(store, task.id)
    assert after.status is TaskStatus.COMPLETED and after.result == {"papers_found": 15}
    assert (after.progress, after.total, after.error_message) == (5, 5, "")
    assert after.completed_at is not None and task.started_at is not None
    assert after.completed_at >= task.started_at
    assert after.lease_expires_at is None


def test_failure_sets_error_message_and_completed_at(store: Store) -> None:
    store.task_create(new())
    [task] = claim(store)
    assert store.task_finish([done(task, error="ValueError: no sources")]) == [task.id]
    after = get(store, task.id)
    assert after.status is TaskStatus.FAILED and after.error_message == "ValueError: no sources"
    assert after.result is None and after.completed_at is not None


def test_finish_batch_reports_only_the_writes_that_won(store: Store) -> None:
    store.task_create_many([new(), new()])
    live, gone = claim(store)
    store.task_cancel(gone.id)
    assert store.task_finish([done(live, result={}), done(gone, result={})]) == [live.id]
    assert get(store, gone.id).status is TaskStatus.CANCELLED


def _stale_attempt(store: Store) -> tuple[Task, Task]:
    """A task whose first attempt lost its lease and was claimed again: (old attempt, new attempt)."""
    store.task_create(new())
    [old] = claim_expired(store)
    assert [r.id for r in store.task_rescue()] == [old.id]
    [current] = claim(store)
    assert current.attempt == old.attempt + 1
    return old, current


def test_stale_attempt_writes_nothing(store: Store) -> None:
    old, current = _stale_attempt(store)
    store.task_set_progress([ProgressWrite(current.id, current.attempt, 1, 10)], lease_seconds=30)
    before = get(store, current.id)
    assert store.task_set_progress([ProgressWrite(old.id, old.attempt, 9, 9)], lease_seconds=30) == [old.id]
    assert store.task_finish([done(old, result={"stale": True})]) == []
    assert store.task_finish([done(old, error="stale")]) == []
    assert store.task_release(old.id, old.attempt) is False
    assert get(store, current.id) == before


def test_writes_after_cancel_are_dropped(store: Store) -> None:
    store.task_create(new())
    [task] = claim(store)
    store.task_cancel(task.id)
    before = get(store, task.id)
    assert store.task_set_progress([ProgressWrite(task.id, task.attempt, 3, 3)], lease_seconds=30) == [
        task.id
    ]
    assert store.task_finish([done(task, result={"late": True})]) == []
    assert store.task_release(task.id, task.attempt) is False
    assert get(store, task.id) == before
    assert before.status is TaskStatus.CANCELLED and before.result is None


def test_release_hands_the_task_back_without_using_an_attempt(store: Store) -> None:
    task = store.task_create(new())
    [running] = claim(store)
    store.task_set_progress([ProgressWrite(task.id, running.attempt, 2, 4)], lease_seconds=30)
    assert store.task_release(task.id, running.attempt) is True
    after = get(store, task.id)
    assert after.status is TaskStatus.PENDING and after.attempt == 0
    assert after.worker_id is None and after.started_at is None and after.lease_expires_at is None
    assert after.progress == 0
    assert store.task_release(task.id, running.attempt) is False  # pending now: nothing to release
    assert claim(store)[0].attempt == 1


# -- leases and rescue --------------------------------------------------------------------------------


def test_lease_renew_extends_only_this_workers_running_tasks(store: Store) -> None:
    store.task_create_many([new(), new(), new(), new()])
    mine = claim(store, worker="mine", limit=3, lease_seconds=5)
    [theirs] = claim(store, worker="theirs", lease_seconds=5)
    store.task_cancel(mine[2].id)
    held = [(task.id, task.attempt) for task in mine]
    assert store.lease_renew("mine", [*held, (theirs.id, theirs.attempt)], 600) == 2
    for task in mine[:2]:
        renewed = get(store, task.id).lease_expires_at
        assert renewed is not None and task.lease_expires_at is not None
        assert renewed > task.lease_expires_at + timedelta(seconds=500)
    assert get(store, theirs.id).lease_expires_at == theirs.lease_expires_at
    assert store.lease_renew("nobody", held, 600) == 0
    assert store.lease_renew("mine", [], 600) == 0


def test_lease_renew_skips_a_row_of_this_worker_whose_attempt_it_does_not_hold(store: Store) -> None:
    """The worker lost track of a task (or holds an older attempt of it): renewing what it holds
    leaves that row's lease to expire, and the rescuer hands the task back."""
    kept, forgotten = store.task_create(new()), store.task_create(new())
    claim_expired(store, worker="w", limit=2)
    stale = [(kept.id, 1), (forgotten.id, 2)]  # attempt 2 of ``forgotten`` was never claimed
    assert store.lease_renew("w", stale, 600) == 1
    assert get(store, forgotten.id).lease_expires_at is not None
    assert [(r.id, r.status) for r in store.task_rescue()] == [(forgotten.id, TaskStatus.PENDING)]
    assert get(store, kept.id).status is TaskStatus.RUNNING


def test_rescue_leaves_live_leases_alone(store: Store) -> None:
    store.task_create(new())
    [task] = claim(store, lease_seconds=600)
    assert store.task_rescue() == []
    assert get(store, task.id) == task


def test_rescue_returns_a_lost_task_to_pending_while_attempts_remain(store: Store) -> None:
    task = store.task_create(new())
    [lost] = claim_expired(store, worker="dead-worker")
    [rescued] = store.task_rescue()
    assert (rescued.id, rescued.status, rescued.attempt) == (task.id, TaskStatus.PENDING, 1)
    after = get(store, task.id)
    assert after.status is TaskStatus.PENDING and after.attempt == lost.attempt == 1
    assert after.worker_id is None and after.lease_expires_at is None
    assert after.completed_at is None and after.error_message == ""
    assert store.task_rescue() == []


def test_rescue_fails_a_lost_task_out_of_attempts(store: Store) -> None:
    task = store.task_create(new())
    claim_expired(store, worker="dead-worker", max_attempts={"search": 1})
    [rescued] = store.task_rescue()
    assert (rescued.id, rescued.status, rescued.attempt) == (task.id, TaskStatus.FAILED, 1)
    after = get(store, task.id)
    assert after.status is TaskStatus.FAILED and after.completed_at is not None
    assert "dead-worker" in after.error_message and "lost" in after.error_message
    assert claim(store) == []


def test_rescue_never_revives_a_cancelled_task(store: Store) -> None:
    task = store.task_create(new())
    claim_expired(store)
    store.task_cancel(task.id)
    before = get(store, task.id)
    assert store.task_rescue() == []
    assert get(store, task.id) == before
    assert claim(store) == []


def test_task_states(store: Store) -> None:
    a, b, c = create_batch(store, 3)
    claim(store, limit=1)
    store.task_cancel(c.id)
    states = {s.id: (s.status, s.attempt) for s in store.task_states([a.id, b.id, c.id, 99_999])}
    assert states == {
        a.id: (TaskStatus.RUNNING, 1),
        b.id: (TaskStatus.PENDING, 0),
        c.id: (TaskStatus.CANCELLED, 0),
    }
    assert store.task_states([]) == []


# -- concurrency: separate store objects, as separate processes would be -------------------------------


def _in_threads(count: int, job: Callable[[int], Any]) -> list[Any]:
    start = threading.Barrier(count)

    def run(index: int) -> Any:
        start.wait(timeout=10)
        return job(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_claims_never_hand_out_a_task_twice(store: Store, dialect: str) -> None:
    created = store.task_create_many([new(task_type=TYPES[i % 6]) for i in range(500)])

    def drain(index: int) -> list[int]:
        mine = open_again(dialect, store)
        try:
            got: list[int] = []
            while batch := claim(mine, worker=f"w{index}", limit=7):
                got.extend(ids(batch))
            return got
        finally:
            mine.close()

    per_worker = _in_threads(8, drain)
    claimed = [task_id for got in per_worker for task_id in got]
    assert len(claimed) == len(set(claimed)), "a task was claimed twice"
    assert sorted(claimed) == ids(created)
    assert sum(1 for got in per_worker if got) > 1, "one thread took everything: no contention tested"


def test_concurrent_cancels_have_exactly_one_winner(store: Store, dialect: str) -> None:
    task = store.task_create(new())

    def cancel(_: int) -> bool:
        mine = open_again(dialect, store)
        try:
            return mine.task_cancel(task.id) is not None
        finally:
            mine.close()

    assert sorted(_in_threads(50, cancel)) == [False] * 49 + [True]
    assert get(store, task.id).status is TaskStatus.CANCELLED
