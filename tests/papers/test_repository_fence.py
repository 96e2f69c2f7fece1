"""Fenced writes on both stores: a task that was cancelled, or rescued and retried, writes nothing more
to the library, and a batch that found out wrote nothing of itself."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import pytest

from taskapi.domain import NewTask, TaskStatus, TaskType, utcnow
from taskapi.papers import Fence, FenceLost, Paper, PaperFile, PaperRecord, PapersRepository
from taskapi.store.base import Claim, Store
from taskapi.store.db import Tx
from taskapi.store.postgres import PostgresStore
from tests.conftest import WaitUntil, wait_until
from tests.papers.conftest import StartTask, emptied

PDF = PaperFile("f" * 64, 10, None, "application/pdf", "pdf/f.pdf", datetime(2024, 1, 1, tzinfo=UTC))


def records(count: int, prefix: str = "Paper") -> list[PaperRecord]:
    return [PaperRecord(title=f"{prefix} {n}", doi=f"10.1000/{prefix.lower()}.{n}") for n in range(count)]


def library(papers: PapersRepository) -> list[Paper]:
    return papers.paper_list(None, limit=1000, include_duplicates=True)


def rescue_and_retry(store: Store, start_task: StartTask) -> tuple[Fence, Fence]:
    """A task whose worker was lost (lease run out, rescued) and that another worker claimed again:
    the fence of the lost attempt and the fence of the new one."""
    lost = start_task(lease_seconds=0.001)
    wait_until(lambda: utcnow() > _lease_of(store, lost.task_id), what="the lease to run out")
    assert [r.id for r in store.task_rescue()] == [lost.task_id]
    [retried] = store.task_claim(Claim("worker-2", ["search"], 10, 30.0, {}))
    assert (retried.id, retried.attempt) == (lost.task_id, lost.attempt + 1)
    return lost, Fence(retried.id, retried.attempt)


def _lease_of(store: Store, task_id: int) -> datetime:
    task = store.task_get(task_id)
    assert task is not None and task.lease_expires_at is not None
    return task.lease_expires_at


WRITES: dict[str, Callable[[PapersRepository, Fence, list[int]], object]] = {
    "import_records": lambda papers, fence, ids: papers.import_records(1, records(3, "late"), fence=fence),
    "dedup_apply": lambda papers, fence, ids: papers.dedup_apply(1, {ids[1]: ids[0]}, fence=fence),
    "file_attach": lambda papers, fence, ids: papers.file_attach(ids[0], PDF, fence=fence),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_cancelled_task_writes_nothing(
    papers: PapersRepository, library_store: Store, start_task: StartTask, write: str
) -> None:
    fence = start_task()
    ids = papers.import_records(1, records(2), fence=fence).ids
    assert library_store.task_cancel(fence.task_id) is not None
    before = library(papers)
    with pytest.raises(FenceLost) as lost:
        WRITES[write](papers, fence, ids)
    assert lost.value.fence == fence
    assert library(papers) == before


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_rescued_task_writes_nothing_and_its_retry_does(
    papers: PapersRepository, library_store: Store, start_task: StartTask, write: str
) -> None:
    ids = papers.import_records(1, records(2)).ids
    lost, retry = rescue_and_retry(library_store, start_task)
    before = library(papers)
    with pytest.raises(FenceLost):
        WRITES[write](papers, lost, ids)
    assert library(papers) == before
    WRITES[write](papers, retry, ids)
    assert library(papers) != before


class CancelBeforeBatch:
    """The store, whose ``n``-th write transaction is preceded by a cancel of the task (as if the user
    cancelled while the import ran)."""

    def __init__(self, store: Store, task_id: int, n: int) -> None:
        self.store, self.dialect, self.task_id, self.n = store, store.dialect, task_id, n
        self.count = 0

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        self.count += 1
        if self.count == self.n:
            assert self.store.task_cancel(self.task_id) is not None
        with self.store.transaction() as tx:
            yield tx

    def reading(self) -> AbstractContextManager[Tx]:
        return self.store.reading()


def test_a_cancel_between_batches_keeps_the_earlier_batches_and_writes_no_more(
    library_store: Store, start_task: StartTask
) -> None:
    fence = start_task()
    papers = PapersRepository(cast(Store, CancelBeforeBatch(library_store, fence.task_id, n=3)))
    with pytest.raises(FenceLost):
        papers.import_records(1, records(10), fence=fence, batch_size=4)
    reader = PapersRepository(library_store)
    assert sorted(p.doi or "" for p in library(reader)) == sorted(r.doi or "" for r in records(8))


class HeldOpen:
    """The store, whose write transactions stay open (their work done, not committed) until released."""

    def __init__(self, store: Store) -> None:
        self.store, self.dialect = store, store.dialect
        self.inside, self.release = threading.Event(), threading.Event()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self.store.transaction() as tx:
            yield tx
            self.inside.set()
            assert self.release.wait(timeout=10)

    def reading(self) -> AbstractContextManager[Tx]:
        return self.store.reading()


@pytest.mark.postgres
def test_on_postgres_a_cancel_waits_for_the_fenced_batch_in_flight(
    shared_postgres_library: Store, wait: WaitUntil
) -> None:
    store = emptied(shared_postgres_library)
    task = store.task_create(NewTask(1, TaskType.SEARCH))
    [claimed] = store.task_claim(Claim("worker-1", ["search"], 1, 30.0, {}))
    fence = Fence(claimed.id, claimed.attempt)
    held = HeldOpen(store)
    done: dict[str, Any] = {}
    writer = threading.Thread(
        target=lambda: done.update(
            result=PapersRepository(cast(Store, held)).import_records(1, records(2), fence=fence)
        )
    )
    canceller = threading.Thread(target=lambda: done.update(cancel=store.task_cancel(task.id)))
    writer.start()
    assert held.inside.wait(timeout=10)
    canceller.start()
    wait(lambda: _lock_waiters(cast(PostgresStore, store)) == 1, what="the cancel to wait for the batch")
    held.release.set()
    writer.join(timeout=10)
    canceller.join(timeout=10)
    assert done["result"].created == 2 and done["cancel"] is not None
    cancelled = store.task_get(task.id)
    assert cancelled is not None and cancelled.status == TaskStatus.CANCELLED
    with pytest.raises(FenceLost):
        PapersRepository(store).import_records(1, records(1, "after"), fence=fence)


def _lock_waiters(store: PostgresStore) -> int:
    with psycopg.connect(store.url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return 0 if row is None else int(row[0])
