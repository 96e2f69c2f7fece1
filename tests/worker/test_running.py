"""A task runs: running, then completed with its result or failed with a bounded message; only
handled types are claimed. Async (``search``) and sync (``crawl``, in a child process) handlers both."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from taskapi.domain import TaskStatus
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from taskapi.worker.results import MAX_ERROR_CHARS
from tests.worker.helpers import drain, get, make_worker, running, wait_final, wait_task

KINDS = ["search", "crawl"]  # async handler, sync handler


@pytest.mark.parametrize("task_type", KINDS)
def test_a_task_shows_running_with_live_progress_then_completed_with_its_result(
    task_type: str, service: TaskService, store: SQLiteStore, marks: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    task = service.create(1, task_type, {"mode": "gate", "gate": str(gate), "dir": str(marks)})
    with running(make_worker(store)):
        live = wait_task(store, task.id, lambda t: t.progress == 1, what="running with progress 1/3")
        assert live.status is TaskStatus.RUNNING
        assert live.started_at is not None and live.completed_at is None
        assert (live.progress, live.total) == (1, 3)
        gate.touch()
        done = wait_final(store, task.id)
    assert done.status is TaskStatus.COMPLETED
    assert done.result == {"gated": True}
    assert done.progress == done.total == 3
    assert done.started_at is not None and done.completed_at is not None
    assert done.started_at <= done.completed_at
    assert done.error_message == ""


@pytest.mark.parametrize("task_type", KINDS)
def test_a_handler_that_reported_nothing_shows_one_of_one(
    task_type: str, service: TaskService, store: SQLiteStore
) -> None:
    task = service.create(1, task_type, {"mode": "return", "value": {"answer": 42}})
    drain(make_worker(store))
    done = get(store, task.id)
    assert done.status is TaskStatus.COMPLETED
    assert done.result == {"answer": 42}
    assert (done.progress, done.total) == (1, 1)
    assert done.completed_at is not None


@pytest.mark.parametrize("task_type", KINDS)
def test_results_none_and_non_objects_are_stored_as_json_objects(
    task_type: str, service: TaskService, store: SQLiteStore
) -> None:
    none = service.create(1, task_type, {"mode": "return", "value": None})
    listed = service.create(1, task_type, {"mode": "return", "value": [1, 2]})
    drain(make_worker(store))
    assert get(store, none.id).result == {}
    assert get(store, listed.id).result == {"value": [1, 2]}


@pytest.mark.parametrize("task_type", KINDS)
def test_a_non_json_result_fails_the_task_saying_so(
    task_type: str, service: TaskService, store: SQLiteStore
) -> None:
    task = service.create(1, task_type, {"mode": "nonjson"})
    drain(make_worker(store))
    failed = get(store, task.id)
    assert failed.status is TaskStatus.FAILED
    assert failed.result is None
    assert "not JSON" in failed.error_message
    assert "set" in failed.error_message  # names what could not be stored


@pytest.mark.parametrize("task_type", KINDS)
def test_a_raised_exception_fails_the_task_with_a_bounded_message_and_logs_the_traceback(
    task_type: str, service: TaskService, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    message = "x" * 10_000
    task = service.create(1, task_type, {"mode": "raise", "message": message})
    with caplog.at_level(logging.ERROR, logger="taskapi.worker"):
        drain(make_worker(store))
    failed = get(store, task.id)
    assert failed.status is TaskStatus.FAILED
    assert failed.error_message.startswith("RuntimeError: xxx")
    assert len(failed.error_message) <= MAX_ERROR_CHARS <= 2000
    assert "Traceback" not in failed.error_message
    assert failed.result is None
    assert failed.completed_at is not None
    assert "Traceback (most recent call last)" in caplog.text
    assert 'raise RuntimeError(ctx.params.get("message", "boom"))' in caplog.text


def test_a_worker_claims_only_the_types_it_has_handlers_for(service: TaskService, store: SQLiteStore) -> None:
    search = service.create(1, "search", {"mode": "return"})
    crawl = service.create(1, "crawl", {"mode": "return"})
    ocr = service.create(1, "ocr", {})
    dedup = service.create(1, "dedup", {"records": []})  # a built-in type, not loaded: builtin=False
    worker = make_worker(store, types={"search"})
    drain(worker)
    assert worker.stats.claimed == 1
    assert get(store, search.id).status is TaskStatus.COMPLETED
    for waiting in (crawl, ocr, dedup):
        task = get(store, waiting.id)
        assert task.status is TaskStatus.PENDING
        assert task.attempt == 0 and task.started_at is None
    drain(make_worker(store))  # search and crawl: the crawl task runs now, ocr and dedup still wait
    assert get(store, crawl.id).status is TaskStatus.COMPLETED
    assert get(store, ocr.id).status is TaskStatus.PENDING
    assert get(store, dedup.id).status is TaskStatus.PENDING
