"""The built-in ``index`` handler run by a real worker on each store: its result, its progress in
papers, incremental runs, ``rebuild``, its params checked at creation, and what the list then finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskapi.domain import InvalidInput, TaskStatus
from taskapi.papers import PageText, PaperRecord, PapersRepository
from taskapi.pipeline.resources import FACTORY
from taskapi.service import TaskService
from taskapi.store.base import Store
from taskapi.worker import ResourceSpec, Worker, load_handlers, params_validators
from tests.pipeline.test_library_handlers import finished, store_url, working
from tests.worker.helpers import fast_options

INDEX = ("taskapi.pipeline.handlers.index",)


def index_worker(store: Store, data_dir: Path) -> Worker:
    handlers = load_handlers(INDEX, builtin=False)
    spec = ResourceSpec(FACTORY, {"database_url": store_url(store), "data_dir": str(data_dir)})
    return Worker(store, handlers, modules=list(INDEX), options=fast_options(), resources=spec)


def service_of(store: Store) -> TaskService:
    return TaskService(store, validators=params_validators(load_handlers(INDEX, builtin=False)))


def run_index(store: Store, data_dir: Path, params: dict[str, object] | None = None) -> dict[str, object]:
    service = service_of(store)
    task = service.create(1, "index", params or {})
    with working(index_worker(store, data_dir)):
        done = finished(service, task.id)
    assert done.status is TaskStatus.COMPLETED, done.error_message
    assert done.progress == done.total, (done.progress, done.total)
    return done.result or {}


def test_index_makes_the_library_searchable_and_runs_again_incrementally(
    library_store: Store, tmp_path: Path
) -> None:
    papers = PapersRepository(library_store)
    ids = papers.import_records(1, [PaperRecord(title=f"Tokamak study {n}") for n in range(5)]).ids
    papers.import_records(2, [PaperRecord(title="Tokamak elsewhere")])
    backend = "sqlite-fts5" if library_store.dialect == "sqlite" else "postgres-tsvector"

    first = run_index(library_store, tmp_path)

    assert first == {
        "indexed": 5,
        "removed": 0,
        "backend": backend,
        "documents_with_fulltext": 0,
        "documents": 5,
        "rebuild": False,
    }
    assert len(papers.search(1, "tokamak", limit=10)) == 5 and papers.index_size(2) == 0

    papers.text_store(ids[0], [PageText(1, "a stellarator appendix", "text")], fence=None)
    again = run_index(library_store, tmp_path)
    assert (again["indexed"], again["documents_with_fulltext"], again["documents"]) == (1, 1, 5)
    assert [hit.paper.id for hit in papers.search(1, "stellarator", limit=10)] == [ids[0]]

    rebuilt = run_index(library_store, tmp_path, {"rebuild": True})
    assert (rebuilt["indexed"], rebuilt["rebuild"]) == (5, True)


@pytest.mark.parametrize("params", [{"rebuild": "yes"}, {"rebuild": 1}])
def test_bad_params_are_refused_when_the_task_is_created(
    library_store: Store, params: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        service_of(library_store).create(1, "index", params)
    assert refused.value.field == "params.rebuild"


def test_an_empty_library_indexes_nothing_and_completes(library_store: Store, tmp_path: Path) -> None:
    result = run_index(library_store, tmp_path)
    assert (result["indexed"], result["removed"], result["documents"]) == (0, 0, 0)
