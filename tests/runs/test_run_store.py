"""Pipeline runs in the store, on each dialect: the next step is created by the transaction that
completes the one before, exactly once, never after the run ended; a failure fails the run, a cancel
(of the run, or of its step's task) ends it cancelled; a rescue runs the same task again.

Tasks reach their states through the store's own worker methods (claim, finish, rescue), as a worker
would move them; ``tests/runs/test_run_chaining.py`` runs real workers."""

from __future__ import annotations

import threading

import pytest

from taskapi.domain import EventKind, NewTask, Task, TaskQuery, TaskStatus, TaskType
from taskapi.run_records import NewRun, PipelineRun, PlannedStep, RunStatus
from taskapi.runs import RunService
from taskapi.store.base import Claim, Completion, Store
from tests.conftest import wait_until

THREE = (
    PlannedStep("search", {"query": "graphene"}),
    PlannedStep("dedup", {}),
    PlannedStep("crawl", {"n": 2}),
)


def new_run(*steps: PlannedStep, project_id: int = 1) -> NewRun:
    return NewRun(project_id, "graphene", steps or THREE)


def claim(store: Store, task_id: int, *, lease_seconds: float = 30.0, max_attempts: int = 3) -> Task:
    """Claim ``task_id`` (the only pending task of its type) as a worker would."""
    task = store.task_get(task_id)
    assert task is not None and task.status is TaskStatus.PENDING, task
    claimed = store.task_claim(
        Claim("worker-1", [task.task_type], 1, lease_seconds, {task.task_type: max_attempts})
    )
    assert [t.id for t in claimed] == [task_id]
    return claimed[0]


def outcome(task: Task, error: str | None = None) -> Completion:
    result = None if error else {"done": task.task_type}
    return Completion(task.id, task.attempt, 2, 2, result=result, error_message=error)


def finish(store: Store, task_id: int, error: str | None = None) -> PipelineRun:
    """Claim and finish ``task_id``; answer the run of that task as it then stands."""
    task = claim(store, task_id)
    assert store.task_finish([outcome(task, error)]) == [task_id]
    run_id = task.params["pipeline_run"]
    run = store.run_get(run_id)
    assert run is not None
    return run


def project_tasks(store: Store, project_id: int = 1) -> list[Task]:
    listed = store.task_list(TaskQuery(project_id=project_id, limit=1000))
    return store.task_get_many([task.id for task in listed])


def current_task(run: PipelineRun) -> int:
    task_id = run.steps[run.current_step].task_id
    assert task_id is not None
    return task_id


# -- starting and chaining ------------------------------------------------------------------------------


def test_a_run_starts_with_its_first_step_as_a_pending_task_created_by_the_caller(store: Store) -> None:
    run = store.run_create(new_run(), actor="cli")
    assert run.status is RunStatus.RUNNING and run.query == "graphene" and run.current_step == 0
    assert [(s.task_type, s.status) for s in run.steps] == [
        ("search", "pending"),
        ("dedup", "waiting"),
        ("crawl", "waiting"),
    ]
    [task] = project_tasks(store)
    assert task.id == run.steps[0].task_id and task.task_type == "search"
    assert task.params == {"pipeline_run": run.id, "query": "graphene"}
    [created] = store.task_events(task.id)
    assert (created.kind, created.actor) == (EventKind.CREATED, "cli")


def test_each_completion_creates_the_next_step_until_the_last_completes_the_run(store: Store) -> None:
    run = store.run_create(new_run())
    seen = [current_task(run)]
    for position in (1, 2):
        run = finish(store, current_task(run))
        assert run.status is RunStatus.RUNNING and run.current_step == position
        assert [s.status for s in run.steps[: position + 1]] == ["completed"] * position + ["pending"]
        seen.append(current_task(run))
        [created] = store.task_events(seen[-1])
        assert created.actor == f"pipeline run {run.id}" and f"step {position + 1} of 3" in created.detail
    run = finish(store, current_task(run))
    assert run.status is RunStatus.COMPLETED and run.ended_at is not None and run.error == ""
    assert [s.status for s in run.steps] == ["completed"] * 3
    tasks = project_tasks(store)
    assert sorted(t.id for t in tasks) == seen  # one task per step, in the order of the steps
    assert [t.task_type for t in sorted(tasks, key=lambda t: t.id)] == ["search", "dedup", "crawl"]
    crawl = store.task_get(seen[2])
    assert crawl is not None and crawl.params == {"pipeline_run": run.id, "n": 2}


def test_a_second_outcome_of_a_step_loses_and_chains_nothing(store: Store) -> None:
    run = store.run_create(new_run())
    task = claim(store, current_task(run))
    assert store.task_finish([outcome(task)]) == [task.id]
    assert store.task_finish([outcome(task)]) == []  # a duplicate write of the same attempt
    assert len(project_tasks(store)) == 2


def test_completions_in_one_batch_chain_each_of_their_runs(store: Store) -> None:
    runs = [store.run_create(new_run(project_id=p)) for p in (1, 2)]
    store.task_create(NewTask(3, TaskType.SEARCH))  # a batch may also hold tasks outside any run
    tasks = store.task_claim(Claim("worker-1", ["search"], 10, 30.0, {}))
    assert len(tasks) == 3
    assert sorted(store.task_finish([outcome(t) for t in tasks])) == sorted(t.id for t in tasks)
    for run in runs:
        after = store.run_get(run.id)
        assert after is not None and after.current_step == 1 and after.steps[1].status == "pending"


def test_completions_of_tasks_outside_runs_leave_runs_alone(store: Store) -> None:
    run = store.run_create(new_run(PlannedStep("dedup", {}), PlannedStep("crawl", {})))
    outsider = store.task_create(NewTask(1, TaskType.CRAWL))
    task = claim(store, outsider.id)
    assert store.task_finish([outcome(task)]) == [outsider.id]
    assert store.run_get(run.id) == run


# -- failing and cancelling ------------------------------------------------------------------------------


def test_a_failed_step_fails_the_run_naming_it_and_no_later_step_is_created(store: Store) -> None:
    run = store.run_create(new_run())
    run = finish(store, current_task(run))
    run = finish(store, current_task(run), error="dedup exploded")
    assert run.status is RunStatus.FAILED and run.failed_step == "dedup" and run.error == "dedup exploded"
    assert [s.status for s in run.steps] == ["completed", "failed", "skipped"]
    assert len(project_tasks(store)) == 2


@pytest.mark.parametrize("running", [False, True], ids=["pending-step", "running-step"])
def test_cancelling_a_run_cancels_its_step_in_flight_and_creates_no_more(store: Store, running: bool) -> None:
    run = store.run_create(new_run())
    run = finish(store, current_task(run))
    step = claim(store, current_task(run)) if running else store.task_get(current_task(run))
    assert step is not None
    cancel = store.run_cancel(run.id, actor="operate token 3f9a1c")
    assert cancel is not None and cancel.status_before is RunStatus.RUNNING
    assert [(t.id, t.worker_id) for t in cancel.cancelled] == [(step.id, "worker-1" if running else None)]
    after = store.run_get(run.id)
    assert after is not None and after.status is RunStatus.CANCELLED
    assert after.error == "cancelled by operate token 3f9a1c"
    assert [s.status for s in after.steps] == ["completed", "cancelled", "skipped"]
    if running:  # the worker's late outcome is refused, and chains nothing
        assert store.task_finish([outcome(step)]) == []
    assert len(project_tasks(store)) == 2
    assert store.task_events(step.id)[-1].actor == "operate token 3f9a1c"


def test_an_ended_run_cannot_be_cancelled_and_an_unknown_one_is_none(store: Store) -> None:
    run = store.run_create(new_run(PlannedStep("dedup", {})))
    finish(store, current_task(run))
    cancel = store.run_cancel(run.id)
    assert cancel is not None and cancel.status_before is RunStatus.COMPLETED and cancel.cancelled == []
    assert store.run_cancel(run.id + 1000) is None
    assert store.run_get(run.id + 1000) is None


@pytest.mark.parametrize("how", ["one", "bulk"])
def test_a_step_cancelled_by_its_task_id_ends_the_run_cancelled(store: Store, how: str) -> None:
    run = store.run_create(new_run())
    step = current_task(run)
    if how == "one":
        assert store.task_cancel(step, actor="cli") is not None
    else:
        assert [t.id for t in store.task_cancel_many(1, [TaskStatus.PENDING], actor="cli")] == [step]
    after = store.run_get(run.id)
    assert after is not None and after.status is RunStatus.CANCELLED
    assert after.error == f"task {step} (search) was cancelled by cli"
    assert len(project_tasks(store)) == 1


def test_a_step_lost_on_its_last_attempt_fails_the_run(store: Store) -> None:
    run = store.run_create(new_run())
    claim(store, current_task(run), lease_seconds=0.001, max_attempts=1)
    wait_until(lambda: store.task_rescue() != [], what="the rescue of the lost step")
    after = store.run_get(run.id)
    assert after is not None and after.status is RunStatus.FAILED and after.failed_step == "search"
    assert "worker lost" in after.error
    assert len(project_tasks(store)) == 1


def test_a_rescued_step_runs_again_as_the_same_task(store: Store) -> None:
    run = store.run_create(new_run())
    first = claim(store, current_task(run), lease_seconds=0.001)
    wait_until(lambda: store.task_rescue() != [], what="the rescue of the lost step")
    again = claim(store, first.id)
    assert again.attempt == 2
    assert store.task_finish([outcome(first)]) == []  # the lost attempt's late outcome loses
    assert store.task_finish([outcome(again)]) == [first.id]
    after = store.run_get(run.id)
    assert after is not None and after.current_step == 1
    assert [t.task_type for t in project_tasks(store)].count("search") == 1


# -- races ------------------------------------------------------------------------------------------------


def race_cancel_and_completion(store: Store, run_id: int, task: Task) -> None:
    """Complete ``task`` and cancel its run at the same moment, from two threads."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def complete() -> None:
        start.wait()
        store.task_finish([outcome(task)])

    def cancel() -> None:
        start.wait()
        try:
            RunService(store).cancel(run_id)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=complete), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []


def test_a_cancel_racing_the_completion_of_its_step_leaves_no_step_behind(store: Store) -> None:
    """Whichever wins, the run ends cancelled, nothing of it is left pending or running, and no step
    has two tasks (on PostgreSQL: no deadlock between a completion and a cancel either)."""
    for _ in range(15):
        run = store.run_create(new_run())
        race_cancel_and_completion(store, run.id, claim(store, current_task(run)))
        after = store.run_get(run.id)
        assert after is not None and after.status is RunStatus.CANCELLED
        made = [s for s in after.steps if s.task_id is not None]
        assert len(made) in (1, 2)
        assert all(s.status in ("completed", "cancelled") for s in made), after.steps
        assert made[-1].status == "cancelled"
    assert [t for t in project_tasks(store) if not t.status.is_final] == []
