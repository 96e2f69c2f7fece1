"""Group commit of HTTP creates (``taskapi.api.grouping``): the creates that wait while a write is
under way are committed together, and each still gets its own answer, on both stores.

The groups are made deterministic by holding the writing thread: a create sent while it is held
starts a write that cannot run yet, and those sent after it wait for the next group."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from taskapi.api import create_app
from taskapi.api.grouping import CreateGroups
from taskapi.domain import EventKind, InvalidInput, StoreUnavailable, Task, TaskQuery
from taskapi.service import TaskService
from taskapi.store import Store
from tests.helpers.server import TASKS, envelope, serving_in_thread

Call = tuple[int, str, dict[str, Any] | None, str]


@contextmanager
def held_writer(service: TaskService) -> Iterator[tuple[CreateGroups, threading.Event]]:
    """Groups over one writing thread that is busy until the event is set."""
    threads = ThreadPoolExecutor(1, thread_name_prefix="test-groups")
    release = threading.Event()
    threads.submit(release.wait)
    try:
        yield CreateGroups(service, threads), release
    finally:
        release.set()
        threads.shutdown(wait=True)


def create_while_held(service: TaskService, calls: list[Call]) -> list[Task | BaseException]:
    """Send ``calls`` while the writer is held (the first starts a write, the rest wait behind it),
    then let it go; answer each call's outcome, in order."""

    async def run() -> list[Task | BaseException]:
        with held_writer(service) as (groups, release):
            sent = [asyncio.ensure_future(groups.create(*call)) for call in calls]
            await asyncio.sleep(0)  # one turn of the loop: every create has queued or started its write
            release.set()
            return await asyncio.gather(*sent, return_exceptions=True)

    return asyncio.run(run())


def stored(store: Store) -> int:
    return len(store.task_list(TaskQuery(limit=1_000)))


def created_events(store: Store, task_id: int) -> list[tuple[EventKind, str]]:
    return [(event.kind, event.actor) for event in store.task_events(task_id)]


def test_creates_that_arrive_during_a_write_are_committed_as_one_group(store: Store) -> None:
    service = TaskService(store)
    calls: list[Call] = [(1 + i % 3, "ocr", {"n": i}, "api") for i in range(10)]

    outcomes = create_while_held(service, calls)

    tasks = [outcome for outcome in outcomes if isinstance(outcome, Task)]
    assert len(tasks) == 10, outcomes
    for task, (project_id, task_type, params, _) in zip(tasks, calls, strict=True):
        assert (task.project_id, task.task_type, task.params) == (project_id, task_type, params)
        assert store.task_get(task.id) == task
        assert created_events(store, task.id) == [(EventKind.CREATED, "api")]
    # the first went alone; the nine behind it in one transaction: one time, ids in their order
    group = tasks[1:]
    assert len({task.created_at for task in group}) == 1
    assert [task.id for task in group] == list(range(group[0].id, group[0].id + 9))
    assert group[0].id > tasks[0].id


def test_each_create_of_a_group_keeps_its_own_answer(store: Store) -> None:
    service = TaskService(store)
    calls: list[Call] = [
        (1, "ocr", None, "api"),  # starts the first write alone
        (1, "search", {"query": "graphene"}, "api"),
        (1, "no-such-type", None, "api"),
        (1, "crawl", {"bad": "\x00"}, "api"),
        (2, "index", {}, "operate token 3f9a1c"),
        (0, "ocr", None, "api"),
    ]

    outcomes = create_while_held(service, calls)

    first, search, bad_type, bad_params, index, bad_project = outcomes
    assert isinstance(first, Task) and isinstance(search, Task) and isinstance(index, Task)
    assert isinstance(bad_type, InvalidInput) and bad_type.field == "task_type"
    assert isinstance(bad_params, InvalidInput) and bad_params.field == "params"
    assert isinstance(bad_project, InvalidInput) and bad_project.field == "project_id"
    assert search.params == {"query": "graphene"}
    assert created_events(store, search.id) == [(EventKind.CREATED, "api")]
    assert created_events(store, index.id) == [(EventKind.CREATED, "operate token 3f9a1c")]
    assert stored(store) == 3  # the refused ones wrote nothing


def test_a_client_that_leaves_does_not_stop_its_group(store: Store) -> None:
    service = TaskService(store)

    async def run() -> tuple[list[Task], bool]:
        with held_writer(service) as (groups, release):
            sent = [asyncio.ensure_future(groups.create(1, "ocr", {"n": i}, "api")) for i in range(4)]
            await asyncio.sleep(0)
            sent[2].cancel()  # its client hung up while it waited
            release.set()
            answered = await asyncio.gather(sent[0], sent[1], sent[3])
            return list(answered), sent[2].cancelled()

    answered, left = asyncio.run(run())
    assert left
    assert [task.params for task in answered] == [{"n": 0}, {"n": 1}, {"n": 3}]
    # written all the same, as a plain create already on its thread would be: only its answer is lost
    assert stored(store) == 4


def test_a_store_error_is_the_answer_of_every_create_of_the_group(store: Store) -> None:
    service = TaskService(store)
    store.close()

    outcomes = create_while_held(service, [(1, "ocr", {"n": i}, "api") for i in range(5)])

    assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes), outcomes


def test_concurrent_creates_over_http_each_answer_their_own_task(store: Store) -> None:
    service = TaskService(store)
    count = 120

    async def create_all(base_url: str) -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post(TASKS, json={"project_id": 1, "task_type": "ocr", "params": {"n": n}})
                    for n in range(count)
                )
            )
        return [envelope(answer, 201)["data"] for answer in answers]

    with serving_in_thread(create_app(service, listen=False)) as base_url:
        created = asyncio.run(create_all(base_url))
        with httpx.Client(base_url=base_url) as client:
            shown = [envelope(client.get(f"{TASKS}/{task['id']}"), 200)["data"] for task in created]

    assert [task["params"] for task in created] == [{"n": n} for n in range(count)]
    assert len({task["id"] for task in created}) == count
    assert shown == created
    assert stored(store) == count


def test_a_create_after_the_threads_stopped_is_refused_and_does_not_block_the_next(store: Store) -> None:
    service = TaskService(store)
    threads = ThreadPoolExecutor(1)
    threads.shutdown()
    groups = CreateGroups(service, threads)

    async def run() -> list[Task | BaseException]:
        first = await asyncio.gather(groups.create(1, "ocr", None, "api"), return_exceptions=True)
        second = await asyncio.wait_for(
            asyncio.gather(groups.create(1, "ocr", None, "api"), return_exceptions=True), timeout=5
        )
        return [*first, *second]

    outcomes = asyncio.run(run())

    assert [type(outcome) for outcome in outcomes] == [RuntimeError, RuntimeError]
    assert stored(store) == 0
