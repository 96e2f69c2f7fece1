"""The built-in ``keyword_expand`` handler run by a real worker (its ``def`` handler in a child process)
on each store: both methods on an indexed library, the ``variants`` method of the older params, an
empty library, a task without a query, and its params checked at creation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taskapi.domain import InvalidInput, Task, TaskStatus
from taskapi.papers import PaperRecord, PapersRepository
from taskapi.pipeline.expand import EMPTY_INDEX
from taskapi.pipeline.resources import FACTORY
from taskapi.service import TaskService
from taskapi.store.base import Store
from taskapi.worker import ResourceSpec, Worker, load_handlers, params_validators
from tests.pipeline.expand.corpus import PLANTED, QUERY, QUERY_DOCS, abstracts
from tests.pipeline.test_library_handlers import finished, store_url, working
from tests.worker.helpers import fast_options

KEYWORD_EXPAND = ("taskapi.pipeline.handlers.keyword_expand",)


def service_of(store: Store) -> TaskService:
    return TaskService(store, validators=params_validators(load_handlers(KEYWORD_EXPAND, builtin=False)))


def run_tasks(store: Store, data_dir: Path, *params: dict[str, Any]) -> list[Task]:
    """Create a ``keyword_expand`` task of project 1 per ``params`` and run them all to their end."""
    service = service_of(store)
    tasks = [service.create(1, "keyword_expand", p) for p in params]
    spec = ResourceSpec(FACTORY, {"database_url": store_url(store), "data_dir": str(data_dir)})
    handlers = load_handlers(KEYWORD_EXPAND, builtin=False)
    worker = Worker(store, handlers, modules=list(KEYWORD_EXPAND), options=fast_options(), resources=spec)
    with working(worker):
        return [finished(service, task.id) for task in tasks]


def test_both_methods_suggest_the_planted_terms_with_a_query_the_search_step_takes(
    library_store: Store, tmp_path: Path
) -> None:
    papers = PapersRepository(library_store)
    papers.import_records(1, [PaperRecord(title=t, abstract=a) for t, a in abstracts()])
    papers.index_update(1, rebuild=False, fence=None)
    prf, cooccurrence = run_tasks(
        library_store,
        tmp_path,
        {"query": QUERY, "max_terms": 5, "method": "prf"},
        {"query": QUERY, "max_terms": 5, "method": "cooccurrence", "min_df": 3},
    )
    for task in (prf, cooccurrence):
        assert task.status is TaskStatus.COMPLETED, task.error_message
        result = task.result or {}
        assert set(result) >= {"query", "terms", "expanded_query", "method", "corpus_size"}
        assert sorted(t["term"] for t in result["terms"][:2]) == sorted(PLANTED)
        assert all(set(t) == {"term", "score", "df"} for t in result["terms"]) and len(result["terms"]) == 5
        head = result["expanded_query"].split(" OR ")[:3]
        assert head[0] == QUERY and sorted(head[1:]) == ['"molecular dynamics"', "chaperone"]
        assert result["corpus_size"] == 80
        assert task.progress == task.total and task.total is not None and task.total >= 80
    assert (prf.result or {})["feedback_docs"] == 10
    assert (cooccurrence.result or {})["matching_docs"] == QUERY_DOCS
    assert all(t["df"] >= 3 for t in (cooccurrence.result or {})["terms"])


def test_an_empty_library_completes_with_no_terms_and_the_older_keywords_still_get_variants(
    library_store: Store, tmp_path: Path
) -> None:
    empty, variants, without_query = run_tasks(
        library_store, tmp_path, {"query": QUERY}, {"keywords": ["graph neural network"]}, {}
    )
    assert empty.status is TaskStatus.COMPLETED, empty.error_message
    assert (empty.result or {})["terms"] == [] and (empty.result or {})["note"] == EMPTY_INDEX
    assert variants.status is TaskStatus.COMPLETED, variants.error_message
    assert (variants.result or {})["keywords"] == {
        "graph neural network": ["GNN", "graph neural networks", "graph-neural-network"]
    }
    assert without_query.status is TaskStatus.FAILED
    assert "params.query" in (without_query.error_message or "")


def test_wrong_params_are_refused_when_the_task_is_created(library_store: Store) -> None:
    service = service_of(library_store)
    with pytest.raises(InvalidInput) as refused:
        service.create(1, "keyword_expand", {"query": QUERY, "method": "word2vec"})
    assert refused.value.field == "params.method"
    with pytest.raises(InvalidInput):
        service.create(1, "keyword_expand", {"query": QUERY, "max_terms": 500})
