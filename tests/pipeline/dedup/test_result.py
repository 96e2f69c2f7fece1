"""The answer the handler writes from: canonicals, counts by rule, determinism, progress, bad input."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from taskapi.pipeline.dedup import DedupPaper, find_duplicates
from tests.pipeline.dedup.conftest import MakePaper

AUTHORS = ["Smith, John A.", "Garcia, Maria"]
TITLE = "Sparse attention for long documents in biomedical retrieval"


def test_the_canonical_has_a_doi_then_a_pdf_then_most_fields(paper: MakePaper) -> None:
    common = {"authors": AUTHORS, "year": 2020}
    papers = [
        paper(1, TITLE, has_pdf=True, filled_fields=12, **common),
        paper(2, TITLE, doi="10.1000/journal", filled_fields=3, **common),
        paper(3, TITLE, doi="10.48550/arXiv.2001.00001", has_pdf=True, filled_fields=12, **common),
        paper(10, "Another work on dense retrieval models", has_pdf=True, filled_fields=2, **common),
        paper(11, "Another work on dense retrieval models", filled_fields=9, **common),
        paper(12, "Another work on dense retrieval models", has_pdf=True, filled_fields=5, **common),
        paper(20, "A third work entirely about tokenisers", filled_fields=4, **common),
        paper(21, "A third work entirely about tokenisers", filled_fields=4, **common),
    ]
    result = find_duplicates(papers)
    assert result.groups == [[2, 1, 3], [12, 10, 11], [20, 21]]
    assert result.duplicate_of == {1: 2, 3: 2, 10: 12, 11: 12, 21: 20}


def test_by_rule_counts_every_marked_duplicate_once(paper: MakePaper) -> None:
    papers = [
        paper(1, TITLE, authors=AUTHORS, doi="10.1000/x"),
        paper(2, TITLE, authors=AUTHORS, doi="10.1000/X"),
        paper(3, TITLE.upper(), authors=["J. Smith"], year=2020),
        paper(4, "Attention is all you need", arxiv_id="1706.03762"),
        paper(5, "Attention Is All You Need", arxiv_id="arXiv:1706.03762v5"),
        paper(6, "Attention is all you need.", doi="10.48550/arxiv.1706.03762", pmid="123"),
        paper(7, "Attention is all you need", pmid="123"),
    ]
    result = find_duplicates(papers)
    assert result.groups == [[1, 2, 3], [6, 4, 5, 7]]
    assert result.by_rule == {"doi": 1, "arxiv_id": 2, "source_id": 1, "title": 1}
    assert sum(result.by_rule.values()) == len(result.duplicate_of) == result.marked_duplicate == 5
    assert result.papers_checked == 7


def test_transitive_links_make_one_group(paper: MakePaper) -> None:
    """A and B share a DOI (their titles differ, not clearly), B and C a title (C has no DOI), A and C
    nothing: one group of three."""
    papers = [
        paper(
            1,
            "Sparse attention over long documents for retrieval in biomedicine",
            doi="10.1000/x",
            authors=AUTHORS,
            year=2020,
        ),
        paper(2, TITLE, doi="10.1000/x", authors=AUTHORS, year=2020),
        paper(3, TITLE + ".", authors=["J. Smith"], year=2021),
    ]
    result = find_duplicates(papers)
    assert result.groups == [[1, 2, 3]]
    assert result.by_rule == {"doi": 1, "arxiv_id": 0, "source_id": 0, "title": 1}


def _library(paper: MakePaper) -> list[DedupPaper]:
    rng = random.Random(7)
    words = ["graph", "neural", "protein", "cohort", "trial", "retrieval", "sparse", "model", "risk", "cell"]
    papers: list[DedupPaper] = []
    for work in range(300):
        title = " ".join(rng.choice(words) for _ in range(6)) + f" study {work}"
        authors = [f"Author{rng.randrange(50)}, {rng.choice('ABCDE')}."]
        for copy in range(rng.choice([1, 1, 2, 3])):
            doi = f"10.1000/{work}" if copy == 0 and work % 3 else None
            papers.append(paper(len(papers) + 1, title.upper() if copy else title, authors=authors, doi=doi))
    return papers


def test_the_same_papers_in_any_order_give_the_same_answer(paper: MakePaper) -> None:
    papers = _library(paper)
    first = find_duplicates(papers)
    shuffled = papers[:]
    random.Random(1).shuffle(shuffled)
    again = find_duplicates(shuffled)
    assert first.groups and first == again
    assert find_duplicates(list(reversed(papers))) == first


def test_a_second_run_on_the_marked_library_finds_the_same(paper: MakePaper) -> None:
    """The handler runs over every paper, duplicates included: the second run must change nothing."""
    papers = _library(paper)
    first = find_duplicates(papers)
    canonical = {group[0] for group in first.groups}
    assert all(paper_id not in first.duplicate_of for paper_id in canonical)
    assert find_duplicates(papers).duplicate_of == first.duplicate_of


def test_progress_is_reported_every_few_hundred_papers(paper: MakePaper) -> None:
    papers = [paper(i, f"Work number {i} on retrieval", authors=[f"Writer{i}, A."]) for i in range(2500)]
    calls: list[tuple[int, int]] = []
    find_duplicates(papers, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 5000) and calls[-1] == (5000, 5000)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
    assert max(gaps) <= 1000


def test_an_exception_from_progress_stops_the_engine(paper: MakePaper) -> None:
    class Cancelled(Exception):
        pass

    def progress(done: int, total: int) -> None:
        if done >= 1000:
            raise Cancelled

    papers = [paper(i, f"Work number {i}", authors=["Writer, A."]) for i in range(3000)]
    with pytest.raises(Cancelled):
        find_duplicates(papers, progress=progress)


def test_nothing_to_compare(paper: MakePaper) -> None:
    result = find_duplicates([])
    assert (result.papers_checked, result.groups, result.duplicate_of) == (0, [], {})
    assert result.by_rule == {"doi": 0, "arxiv_id": 0, "source_id": 0, "title": 0}
    assert find_duplicates([paper(1, None), paper(2, None)]).groups == []


def test_mistyped_and_oversized_fields_are_missing_not_fatal(paper: MakePaper) -> None:
    hostile = paper(
        1,
        TITLE + " x" * 60_000,
        authors=["", "   ", ",", "et al.", "Smith, John A.", 42],
        year="2020",
        venue=17,
        volume="Ph.D.",
        issue=["3"],
        pages="Suppl-29; author reply 31",
        doi="not a doi",
        arxiv_id=2101.00001,
        s2_id="zz",
        openalex_id=None,
        pmid=True,
    )
    twin = replace(hostile, id=2, title=TITLE + " x" * 60_000)
    result = find_duplicates([hostile, twin, paper(3, "", authors=["Smith, J."])])
    assert result.groups == [[1, 2]]


def test_a_huge_block_of_look_alikes_stays_fast(paper: MakePaper) -> None:
    """3,000 author-less "Editorial" papers share one block; each meets a bounded number of others."""
    papers = [
        paper(i, "Editorial", venue="Journal", volume=str(i), issue="1", pages=str(i)) for i in range(3000)
    ]
    result = find_duplicates(papers)
    assert result.groups == []
