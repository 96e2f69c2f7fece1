"""Runs driven by a real worker on each store, with fast stand-ins for the six steps
(``tests.handlers.pipeline_steps``): the whole chain, a failing step, a cancel in the middle of a step."""

from __future__ import annotations

from pathlib import Path

from taskapi.domain import TaskQuery, TaskStatus
from taskapi.run_records import PipelineRun, RunStatus
from taskapi.runs import RunService
from taskapi.store.base import Store
from tests.worker.helpers import make_worker, running, wait_until

STEPS = ("tests.handlers.pipeline_steps",)


def ended(runs: RunService, run_id: int, timeout: float = 20.0) -> PipelineRun:
    def final() -> PipelineRun | None:
        run = runs.get(run_id)
        return run if run.status.is_final else None

    run = wait_until(final, timeout=timeout, what=f"pipeline run {run_id} to end")
    assert run is not None
    return run


def step_types(store: Store) -> list[str]:
    """The type of every task of project 1, oldest first."""
    return [task.task_type for task in reversed(store.task_list(TaskQuery(project_id=1, limit=1000)))]


def test_a_worker_runs_all_six_steps_in_order_each_once(store: Store, runs: RunService) -> None:
    run = runs.start(1, "graphene", params={"crawl": {"n": 5}})
    with running(make_worker(store, STEPS)):
        done = ended(runs, run.id)
    assert done.status is RunStatus.COMPLETED, done
    assert [(s.task_type, s.status) for s in done.steps] == [(t, "completed") for t in step_types(store)]
    assert step_types(store) == ["search", "dedup", "crawl", "ocr", "index", "keyword_expand"]
    for step in done.steps:
        assert step.task_id is not None
        task = store.task_get(step.task_id)
        assert task is not None and task.result == {"step": step.task_type, "run": run.id, "attempt": 1}
        assert task.params["pipeline_run"] == run.id
    crawl = store.task_get(done.steps[2].task_id or 0)
    assert crawl is not None and (crawl.progress, crawl.total) == (5, 5)


def test_a_failing_step_fails_the_run_naming_it_and_no_later_step_is_created(
    store: Store, runs: RunService
) -> None:
    run = runs.start(1, "graphene", steps=["search", "dedup", "crawl"], params={"dedup": {"fail": "no luck"}})
    with running(make_worker(store, STEPS)):
        done = ended(runs, run.id)
    assert (done.status, done.failed_step, done.error) == (RunStatus.FAILED, "dedup", "RuntimeError: no luck")
    assert [s.status for s in done.steps] == ["completed", "failed", "skipped"]
    assert step_types(store) == ["search", "dedup"]


def test_a_run_cancelled_mid_step_stops_that_step_and_creates_no_more(
    store: Store, runs: RunService, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    params = {"crawl": {"gate": str(gate), "dir": str(tmp_path)}}
    run = runs.start(1, None, steps=["dedup", "crawl", "ocr"], params=params)
    worker = make_worker(store, STEPS)
    with running(worker):

        def crawling() -> int | None:
            step = runs.get(run.id).steps[1]
            return step.task_id if step.status == "running" else None

        crawl = wait_until(crawling, what="the crawl step to run")
        assert crawl is not None
        wait_until(lambda: any(tmp_path.glob(f"{crawl}.1.started")), what="the crawl handler to start")
        cancelled = runs.cancel(run.id, actor="cli")
        assert cancelled.status is RunStatus.CANCELLED
        wait_until(lambda: worker.running_ids == [], what="the worker to stop the crawl handler")
        gate.touch()  # too late: nothing of this run may run again
        task = store.task_get(crawl)
        assert task is not None and task.status is TaskStatus.CANCELLED
    assert [s.status for s in runs.get(run.id).steps] == ["completed", "cancelled", "skipped"]
    assert step_types(store) == ["dedup", "crawl"]
