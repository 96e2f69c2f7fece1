"""Page texts and the full-text index on both stores, through the repository: what ocr stores and reads
back, which papers ocr works on, and what an index run writes, removes and finds (incrementally, on
rebuild, fenced), as keyword_expand and the list read it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskapi.papers import (
    PAPERS_COMPONENT,
    FenceLost,
    IndexedDocument,
    PageText,
    PaperFile,
    PaperRecord,
    PapersRepository,
    _index,
)
from taskapi.papers.errors import PaperNotFound
from taskapi.store._queries import Component, Migration
from taskapi.store.base import Store
from taskapi.store.postgres import PostgresStore
from taskapi.store.sqlite import SQLiteStore
from tests.papers.conftest import StartTask


def pdf(n: int) -> PaperFile:
    return PaperFile(f"{n:064x}", 100 + n, None, "application/pdf", f"pdf/{n:064x}.pdf", datetime.now(UTC))


def add(
    papers: PapersRepository, *titles: str, project_id: int = 1, abstract: str | None = None
) -> list[int]:
    records = [PaperRecord(title=title, abstract=abstract) for title in titles]
    return papers.import_records(project_id, records).ids


def found(papers: PapersRepository, q: str, project_id: int | None = 1) -> list[int]:
    return [hit.paper.id for hit in papers.search(project_id, q, limit=100)]


def index(papers: PapersRepository, project_id: int = 1, **options: object) -> tuple[int, int, int]:
    result = papers.index_update(project_id, rebuild=bool(options.get("rebuild")), fence=None)
    return result.indexed, result.removed, result.documents_with_fulltext


# -- page texts ---------------------------------------------------------------------------------------


def test_stored_pages_read_back_in_order_and_replace_the_earlier_ones(papers: PapersRepository) -> None:
    [paper] = add(papers, "Scanned")
    assert papers.paper_text(paper) == [] and papers.text_summary(paper) is None

    pages = [PageText(2, "second\npage", "tesseract", 91.5), PageText(1, "first page", "text", None)]
    papers.text_store(paper, pages, fence=None)

    assert papers.paper_text(paper) == sorted(pages, key=lambda p: p.page)
    assert papers.text_summary(paper) == {"pages": 2, "chars": 21, "engines": {"text": 1, "tesseract": 1}}
    papers.text_store(paper, [PageText(1, "only one now", "text")], fence=None)
    assert papers.paper_text(paper) == [PageText(1, "only one now", "text", None)]
    assert papers.text_summary(paper) == {"pages": 1, "chars": 12, "engines": {"text": 1, "tesseract": 0}}
    papers.text_store(paper, [], fence=None)
    assert papers.paper_text(paper) == []


def test_page_text_is_kept_as_both_stores_can_hold_it(papers: PapersRepository) -> None:
    [paper] = add(papers, "Odd bytes")
    papers.text_store(paper, [PageText(1, "nul\x00here \ud800 and \u00e9", "text")], fence=None)
    assert papers.paper_text(paper)[0].text == "nulhere  and \u00e9"


@pytest.mark.parametrize(
    ("pages", "says"),
    [
        ([PageText(0, "x", "text")], "count from 1"),
        ([PageText(1, "x", "text"), PageText(1, "y", "text")], "given twice"),
        ([PageText(1, "x", "easyocr")], "engine must be one of"),
        ([PageText(1, "x", "tesseract", float("nan"))], "finite"),
    ],
)
def test_wrong_pages_are_refused_before_anything_is_written(
    papers: PapersRepository, pages: list[PageText], says: str
) -> None:
    [paper] = add(papers, "Kept")
    papers.text_store(paper, [PageText(1, "kept", "text")], fence=None)
    with pytest.raises(ValueError, match=says):
        papers.text_store(paper, pages, fence=None)
    assert papers.paper_text(paper) == [PageText(1, "kept", "text")]


def test_storing_text_of_an_unknown_paper_is_not_found(papers: PapersRepository) -> None:
    with pytest.raises(PaperNotFound):
        papers.text_store(4242, [PageText(1, "x", "text")], fence=None)


def test_a_cancelled_task_stores_no_text(
    papers: PapersRepository, library_store: Store, start_task: StartTask
) -> None:
    [paper] = add(papers, "Fenced")
    fence = start_task()
    papers.text_store(paper, [PageText(1, "while running", "text")], fence=fence)
    assert library_store.task_cancel(fence.task_id) is not None
    with pytest.raises(FenceLost):
        papers.text_store(paper, [PageText(1, "too late", "text")], fence=fence)
    assert [p.text for p in papers.paper_text(paper)] == ["while running"]


def test_ocr_targets_are_the_papers_with_a_pdf_and_no_text(
    papers: PapersRepository, start_task: StartTask
) -> None:
    no_pdf, read, unread, duplicate, other = add(papers, "No PDF", "Read", "Unread", "Copy", "Other")
    [elsewhere] = add(papers, "Elsewhere", project_id=2)
    for n, paper in enumerate([read, unread, duplicate, other, elsewhere], start=1):
        papers.file_attach(paper, pdf(n))
    papers.text_store(read, [PageText(1, "done", "text")], fence=None)
    papers.dedup_apply(1, {duplicate: unread}, fence=start_task())

    targets = papers.ocr_targets(1, None)
    assert [t.paper_id for t in targets] == [unread, other]
    assert targets[0].sha256 == pdf(2).sha256 and targets[0].path == pdf(2).path
    assert [t.paper_id for t in papers.ocr_targets(1, None, limit=1)] == [unread]
    # Named: in that order, text or not, duplicates too; never without a PDF or of another project.
    named = papers.ocr_targets(1, [other, no_pdf, read, duplicate, elsewhere, 4242, read])
    assert [t.paper_id for t in named] == [other, read, duplicate]
    assert [t.paper_id for t in papers.ocr_targets(1, [other, read], limit=1)] == [other]


# -- the index ----------------------------------------------------------------------------------------


def test_an_index_run_visits_only_what_changed_since_the_last(papers: PapersRepository) -> None:
    graphs, trees, flowers = add(papers, "Graph colouring", "Binary trees", "Wild flowers")
    assert found(papers, "graph") == [] and papers.index_size(1) == 0  # never indexed: nothing found

    assert index(papers) == (3, 0, 0)
    assert found(papers, "graph") == [graphs] and papers.index_size(1) == 3
    assert index(papers) == (0, 0, 0)  # nothing changed: nothing to do

    papers.import_records(1, [PaperRecord(title="Orchids")])  # a new paper
    papers.text_store(flowers, [PageText(1, "a body about graph theory", "text")], fence=None)
    assert found(papers, "orchid") == []  # not indexed yet
    assert index(papers) == (2, 0, 1)
    assert found(papers, "orchid") != [] and set(found(papers, "graph")) == {graphs, flowers}
    assert found(papers, "trees") == [trees]


def test_a_merge_that_fills_an_abstract_queues_the_paper_again(papers: PapersRepository) -> None:
    [paper] = papers.import_records(1, [PaperRecord(title="Sparse paper", doi="10.1000/sparse")]).ids
    index(papers)
    assert found(papers, "hypergraph") == []
    papers.import_records(1, [PaperRecord(doi="10.1000/sparse", abstract="On hypergraph partitioning.")])
    assert index(papers) == (1, 0, 0)
    assert found(papers, "hypergraph") == [paper]


def test_papers_that_become_duplicates_leave_the_index(
    papers: PapersRepository, start_task: StartTask
) -> None:
    canonical, copy = add(papers, "Attention is all you need", "Attention is all you need (preprint)")
    index(papers)
    assert sorted(found(papers, "attention")) == [canonical, copy]

    papers.dedup_apply(1, {copy: canonical}, fence=start_task())
    indexed, removed, _ = index(papers)

    assert (indexed, removed) == (0, 1)  # the copy out (the canonical's indexed fields did not change)
    assert found(papers, "attention") == [canonical] and papers.index_size(1) == 1
    assert [d.paper_id for d in papers.index_documents(1)] == [canonical]


def test_rebuild_visits_every_paper_of_the_project_only(papers: PapersRepository) -> None:
    add(papers, "One", "Two", "Three")
    add(papers, "Elsewhere", project_id=2)
    index(papers)
    assert index(papers, rebuild=True) == (3, 0, 0)
    assert index(papers) == (0, 0, 0)
    assert papers.index_size(2) == 0 and found(papers, "elsewhere", project_id=2) == []
    assert index(papers, 2) == (1, 0, 0) and found(papers, "elsewhere", project_id=2) != []
    assert found(papers, "elsewhere") == []  # project 1 does not see project 2's papers
    assert len(found(papers, "elsewhere", project_id=None)) == 1  # every project's index


def test_progress_is_reported_in_papers_batch_by_batch(papers: PapersRepository) -> None:
    add(papers, *(f"Paper {n}" for n in range(7)))
    calls: list[tuple[int, int]] = []
    result = papers.index_update(
        1, rebuild=False, fence=None, progress=lambda d, t: calls.append((d, t)), batch_size=3
    )
    assert result.indexed == 7 and calls == [(0, 7), (3, 7), (6, 7), (7, 7)]


def test_a_batch_ends_where_its_page_text_grows_too_large(
    papers: PapersRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long papers are indexed a few per transaction (SQLite's writer is never held long)."""
    ids = add(papers, *(f"Paper {n}" for n in range(5)))
    for paper in ids[1:3]:
        papers.text_store(paper, [PageText(1, "x" * 60, "text")], fence=None)
    monkeypatch.setattr(_index, "BATCH_TEXT_CHARS", 100)
    calls: list[tuple[int, int]] = []
    result = papers.index_update(1, rebuild=False, fence=None, progress=lambda d, t: calls.append((d, t)))
    assert result.indexed == 5 and result.documents_with_fulltext == 2
    assert calls == [(0, 5), (2, 5), (5, 5)]  # [plain, 60 chars] then [60 chars, plain, plain]


def test_a_change_after_its_paper_was_visited_is_visited_by_the_next_run(papers: PapersRepository) -> None:
    first, second = add(papers, "Original title", "Another paper")

    def edit_first(done: int, total: int) -> None:
        if done == 1:  # the first paper's batch is written; the run goes on with the second
            papers.text_store(first, [PageText(1, "late words", "text")], fence=None)

    assert papers.index_update(1, rebuild=False, fence=None, progress=edit_first, batch_size=1).indexed == 2
    assert found(papers, "late") == []
    assert index(papers) == (1, 0, 1)
    assert found(papers, "late") == [first] and found(papers, "another") == [second]


def test_the_index_dequeues_a_paper_only_at_the_seq_it_read(
    papers: PapersRepository, library_store: Store
) -> None:
    """A change committed between a run's read of the queue and its dequeue (a concurrent transaction,
    on PostgreSQL) bumps the entry's seq: the run's dequeue leaves it for the next run."""
    [paper] = add(papers, "Original title")
    queries = papers._queries
    with library_store.reading() as tx:
        [read] = tx.fetch(queries["index_queue_batch"], {"project_id": 1, "after_id": 0, "limit": 10})
    papers.text_store(paper, [PageText(1, "late words", "text")], fence=None)  # committed meanwhile
    with library_store.transaction() as tx:
        tx.execute(queries["index_dequeue"], {"done": json.dumps([[read["paper_id"], read["seq"]]])})
    assert index(papers) == (1, 0, 1) and found(papers, "late") == [paper]
    with library_store.reading() as tx:
        assert tx.fetch(queries["index_queue_batch"], {"project_id": 1, "after_id": 0, "limit": 10}) == []


def test_a_cancelled_index_run_writes_nothing_more(
    papers: PapersRepository, library_store: Store, start_task: StartTask
) -> None:
    add(papers, "One", "Two", "Three", "Four")
    fence = start_task()

    def cancel_after_first_batch(done: int, total: int) -> None:
        if done == 2:
            assert library_store.task_cancel(fence.task_id) is not None

    with pytest.raises(FenceLost):
        papers.index_update(1, rebuild=False, fence=fence, progress=cancel_after_first_batch, batch_size=2)
    assert papers.index_size(1) == 2  # the first batch stays; nothing after the cancel
    assert index(papers) == (2, 0, 0)  # the next run visits only what is left


# -- what keyword_expand reads --------------------------------------------------------------------------


def test_documents_are_read_in_id_order_batch_by_batch_with_bounded_bodies(papers: PapersRepository) -> None:
    ids = add(papers, *(f"Paper {n}" for n in range(5)), abstract="An abstract.")
    papers.text_store(
        ids[2], [PageText(2, "page two", "text"), PageText(1, "page one", "tesseract", 80.0)], fence=None
    )
    add(papers, "Elsewhere", project_id=2)
    index(papers)
    index(papers, 2)

    documents = list(papers.index_documents(1, batch=2))

    assert [d.paper_id for d in documents] == ids
    assert documents[2] == IndexedDocument(ids[2], "Paper 2", "An abstract.", "page one\n\npage two", 0.0)
    assert documents[0].body == "" and documents[0].score == 0.0
    assert [d.body for d in papers.index_documents(1, body_chars=4)][2] == "page"


def test_search_documents_answers_the_best_documents_first(papers: PapersRepository) -> None:
    [title] = add(papers, "Protein folding")
    [abstract] = add(papers, "Another study", abstract="On protein structure.")
    [body] = add(papers, "Unrelated")
    papers.text_store(body, [PageText(1, "we mention protein once", "text")], fence=None)
    add(papers, "Nothing to see")
    index(papers)

    documents = papers.search_documents(1, "protein", limit=10)

    assert [d.paper_id for d in documents] == [title, abstract, body]  # title > abstract > body
    assert documents[2].body == "we mention protein once"
    assert documents[0].score > documents[1].score > documents[2].score > 0
    assert [d.paper_id for d in papers.search_documents(1, "protein", limit=1)] == [title]
    assert papers.search_documents(7, "protein", limit=5) == []


# -- the migration ------------------------------------------------------------------------------------


class FirstMigrationOnly(Component):
    """The papers library as version 0001 built it."""

    def migrations(self, dialect: str) -> tuple[Migration, ...]:
        return Component.migrations(self, dialect)[:1]


@contextmanager
def unmigrated_store(dialect: str, tmp_path: Path) -> Iterator[Store]:
    if dialect == "sqlite":
        sqlite = SQLiteStore(tmp_path / "old.db")
        yield sqlite
        sqlite.close()
        return
    from tests.integration.pg import empty_database

    with empty_database() as url:
        postgres = PostgresStore(url, min_size=1, max_size=2)
        yield postgres
        postgres.close()


def test_the_papers_a_library_had_before_the_index_existed_wait_for_its_first_run(
    library_dialect: str, tmp_path: Path
) -> None:
    with unmigrated_store(library_dialect, tmp_path) as store:
        assert store.migrate([FirstMigrationOnly(PAPERS_COMPONENT.name, PAPERS_COMPONENT.package)])[-1] == (
            "papers/0001"
        )
        old = PapersRepository(store)
        ids = old.import_records(1, [PaperRecord(title=f"Old tokamak {n}") for n in range(3)]).ids

        assert store.migrate([PAPERS_COMPONENT]) == ["papers/0002", "papers/0003"]

        papers = PapersRepository(store)
        assert papers.index_update(1, rebuild=False, fence=None).indexed == 3
        assert sorted(hit.paper.id for hit in papers.search(1, "tokamak", limit=10)) == ids
