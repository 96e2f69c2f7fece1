"""``expand`` over the real library on each store: the project's full-text index gives the feedback
documents, ``index_documents`` the whole project; empty libraries and hopeless queries answer notes."""

from __future__ import annotations

import pytest

from taskapi.papers import PaperRecord, PapersRepository
from taskapi.pipeline.expand import EMPTY_INDEX, NO_MATCH, NO_WORDS, ExpandOptions, expand
from tests.pipeline.expand.corpus import PLANTED, QUERY, QUERY_DOCS, abstracts

METHODS = ["prf", "cooccurrence"]


def indexed_library(papers: PapersRepository, project_id: int = 1) -> None:
    records = [PaperRecord(title=title, abstract=abstract) for title, abstract in abstracts()]
    papers.import_records(project_id, records)
    papers.index_update(project_id, rebuild=False, fence=None)


@pytest.mark.parametrize("method", METHODS)
def test_the_planted_terms_come_first_from_the_projects_index(papers: PapersRepository, method: str) -> None:
    indexed_library(papers)
    calls: list[tuple[int, int]] = []
    options = ExpandOptions(method="prf" if method == "prf" else "cooccurrence")
    result = expand(papers, 1, QUERY, options, lambda done, total: calls.append((done, total))).as_result()
    assert sorted(t["term"] for t in result["terms"][:2]) == sorted(PLANTED)
    assert [t["df"] for t in result["terms"][:2]] == [QUERY_DOCS, QUERY_DOCS]
    assert (result["query"], result["method"], result["corpus_size"]) == (QUERY, method, 80)
    assert result["expanded_query"].startswith(f"{QUERY} OR ")
    assert "note" not in result
    assert calls and calls[-1][0] == calls[-1][1]  # documents read, to the last
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.mark.parametrize("method", METHODS)
def test_an_empty_index_answers_no_terms_and_says_why(papers: PapersRepository, method: str) -> None:
    papers.import_records(1, [PaperRecord(title="Protein folding, not indexed yet")])
    options = ExpandOptions(method="prf" if method == "prf" else "cooccurrence")
    result = expand(papers, 1, QUERY, options).as_result()
    assert result == {
        "query": QUERY,
        "terms": [],
        "expanded_query": QUERY,
        "method": method,
        "corpus_size": 0,
        "note": EMPTY_INDEX,
    }


@pytest.mark.parametrize("method", METHODS)
def test_a_query_of_stopwords_or_of_absent_words_answers_a_note(
    papers: PapersRepository, method: str
) -> None:
    indexed_library(papers)
    options = ExpandOptions(method="prf" if method == "prf" else "cooccurrence")
    assert expand(papers, 1, "the of which", options).note == NO_WORDS
    absent = expand(papers, 1, "quantum chromodynamics", options)
    assert (absent.note, absent.terms, absent.corpus_size) == (NO_MATCH, [], 80)


def test_another_projects_papers_change_nothing(papers: PapersRepository) -> None:
    indexed_library(papers)
    before = expand(papers, 1, QUERY, ExpandOptions(method="cooccurrence")).as_result()
    noise = [PaperRecord(title=f"Chaperone {n}", abstract="chaperone molecular dynamics") for n in range(30)]
    papers.import_records(2, noise)
    papers.index_update(2, rebuild=False, fence=None)
    assert expand(papers, 1, QUERY, ExpandOptions(method="cooccurrence")).as_result() == before
