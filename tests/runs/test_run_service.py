"""``RunService``: what a run's input must be (each mistake named by its field, and nothing created),
where the run's own fields go, and start/get/cancel on each store."""

from __future__ import annotations

from typing import Any

import pytest

from taskapi.domain import InvalidInput, TaskNotCancellable, TaskNotFound, TaskQuery, TaskStatus
from taskapi.run_records import RunNotCancellable, RunNotFound, RunStatus
from taskapi.runs import STEP_ORDER, RunService, plan_run
from taskapi.service import TaskService
from taskapi.signals import Signals, TaskSignal
from taskapi.store.base import Store
from taskapi.worker import load_handlers, params_validators

BUILTIN = params_validators(load_handlers([], builtin=True))
"""The built-in handlers' creation checks: what ``taskapi serve`` hands the task service."""

BAD: list[tuple[dict[str, Any], str]] = [
    ({"steps": ["search", "dedup", "scrape"]}, "steps.2"),
    ({"steps": ["dedup", "search"]}, "steps.1"),
    ({"steps": ["search", "crawl", "dedup"]}, "steps.2"),
    ({"steps": ["search", "search"]}, "steps.1"),
    ({"steps": []}, "steps"),
    ({"steps": "search"}, "steps"),
    ({"query": ""}, "query"),
    ({"query": "   ", "steps": ["keyword_expand"]}, "query"),
    ({"query": None, "steps": ["search"]}, "query"),
    ({"query": 42}, "query"),
    ({"steps": ["dedup"], "params": {"crawl": {"max_papers": 5}}}, "params.crawl"),
    ({"params": {"scrape": {}}}, "params.scrape"),
    ({"params": ["crawl"]}, "params"),
    ({"params": {"crawl": 200}}, "params.crawl"),
    ({"params": {"crawl": {"max_papers": 0}}}, "params.crawl.max_papers"),
    ({"params": {"dedup": {"title_threshold": "high"}}}, "params.dedup.title_threshold"),
    ({"params": {"search": {"limit": 0}}}, "params.search.limit"),
    ({"limit": 0}, "limit"),
    ({"limit": 10_001}, "limit"),
    ({"sources": ["arxiv", "scopus"]}, "sources.1"),
    ({"sources": [], "steps": ["search"]}, "sources"),
    ({"steps": ["dedup"], "query": None, "limit": 10}, "limit"),
    ({"steps": ["dedup"], "query": None, "sources": ["arxiv"]}, "sources"),
    ({"project_id": 0}, "project_id"),
]


@pytest.mark.parametrize(("given", "field"), BAD, ids=[field for _, field in BAD])
def test_bad_input_is_named_by_its_field(given: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"project_id": 1, "query": "graphene", **given}
    with pytest.raises(InvalidInput) as caught:
        plan_run(
            values.pop("project_id"),
            values.pop("query"),
            validators=BUILTIN,
            **values,
        )
    assert caught.value.field == field, caught.value


def test_bad_input_creates_nothing(store: Store) -> None:
    runs = RunService(store, validators=BUILTIN)
    with pytest.raises(InvalidInput):
        runs.start(1, "graphene", params={"crawl": {"max_papers": -1}})
    assert store.task_list(TaskQuery(limit=10)) == []
    assert store.run_get(1) is None


def test_the_defaults_are_all_six_steps_with_the_run_fields_where_they_belong() -> None:
    new = plan_run(1, " graphene ", sources=["arxiv"], limit=20, validators=BUILTIN)
    assert [step.task_type for step in new.steps] == list(STEP_ORDER)
    assert new.query == "graphene"
    params = {step.task_type: step.params for step in new.steps}
    assert params["search"] == {"query": "graphene", "sources": ["arxiv"], "limit": 20}
    assert params["keyword_expand"] == {"query": "graphene"}
    assert params["dedup"] == params["crawl"] == params["ocr"] == params["index"] == {}


def test_step_params_override_the_run_fields() -> None:
    new = plan_run(
        1,
        "graphene",
        limit=20,
        steps=["search", "crawl", "keyword_expand"],
        params={"search": {"limit": 5, "year": "2020"}, "keyword_expand": {"query": "graphite"}},
        validators=BUILTIN,
    )
    params = {step.task_type: step.params for step in new.steps}
    assert params == {
        "search": {"query": "graphene", "limit": 5, "year": "2020"},
        "crawl": {},
        "keyword_expand": {"query": "graphite"},
    }


def test_a_run_without_search_or_keyword_expand_needs_no_query() -> None:
    new = plan_run(
        1, None, steps=["dedup", "crawl"], params={"crawl": {"max_papers": 200}}, validators=BUILTIN
    )
    assert new.query is None and [s.params for s in new.steps] == [{}, {"max_papers": 200}]


# -- start, get, cancel on each store -----------------------------------------------------------------


def test_start_get_and_cancel_on_each_store(store: Store) -> None:
    heard: list[TaskSignal] = []
    signals = Signals()
    signals.subscribe(heard.append)
    runs = RunService.of(TaskService(store, signals, BUILTIN))
    run = runs.start(1, "graphene", steps=["search", "dedup"], actor="cli")
    first = run.steps[0].task_id
    assert first is not None
    assert heard == [TaskSignal("created", first, task_type="search")]  # an embedded worker hears at once
    assert runs.get(run.id) == run
    cancelled = runs.cancel(run.id, actor="cli")
    assert cancelled.status is RunStatus.CANCELLED and cancelled.error == "cancelled by cli"
    assert heard[-1] == TaskSignal("cancelled", first, worker_id=None)
    task = store.task_get(first)
    assert task is not None and task.status is TaskStatus.CANCELLED
    with pytest.raises(RunNotCancellable) as again:
        runs.cancel(run.id)
    assert "already cancelled" in str(again.value)
    assert isinstance(again.value, TaskNotCancellable)  # the API answers 400, the CLI exits 1


def test_an_unknown_run_is_not_found(store: Store) -> None:
    runs = RunService(store)
    for call in (runs.get, runs.cancel):
        with pytest.raises(RunNotFound) as caught:
            call(4242)
        assert str(caught.value) == "Pipeline run 4242 not found"
        assert isinstance(caught.value, TaskNotFound)
    with pytest.raises(InvalidInput):
        runs.get(0)
