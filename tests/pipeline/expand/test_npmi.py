"""Co-occurrence (NPMI) on the planted library, and the two ways its discovery stays bounded (a few
of the query's documents, lossy counting past its memory bound): the numbers reported come from the
exact count either way."""

from __future__ import annotations

import pytest

import taskapi.pipeline.expand.npmi as npmi_module
from taskapi.pipeline.expand import (
    CooccurrenceOptions,
    Vocabulary,
    load_stopwords,
    normalised_pmi,
    parse_query,
)
from taskapi.pipeline.expand.npmi import CooccurrenceOutcome, cooccurrence_terms
from taskapi.pipeline.expand.tokens import term_counts
from tests.pipeline.expand.corpus import PLANTED, QUERY, QUERY_DOCS, Doc, documents


def run(
    options: CooccurrenceOptions, docs: list[Doc] | None = None, query: str = QUERY, relevant: int = 1000
) -> CooccurrenceOutcome:
    """Co-occurrence over ``docs``, discovered in the first ``relevant`` papers about the query (what
    the index would find best)."""
    docs = documents() if docs is None else docs
    vocabulary = Vocabulary()
    about = [doc for doc in docs if doc.title.startswith("Protein folding")][:relevant]
    terms = parse_query(query, vocabulary)
    return cooccurrence_terms(about, docs, terms, vocabulary, options)


def test_the_planted_terms_come_first_as_they_occur_only_with_the_query() -> None:
    found = run(CooccurrenceOptions(max_terms=10))
    assert found.matching_docs == QUERY_DOCS and found.corpus_size == 80
    first, second = found.terms[:2]
    assert sorted([first.term, second.term]) == sorted(PLANTED)
    assert first.score == second.score == 1.0 and first.df == second.df == QUERY_DOCS
    assert all(t.score < 1.0 for t in found.terms[2:])


def test_stopwords_the_querys_words_and_rare_terms_stay_out() -> None:
    terms = run(CooccurrenceOptions(max_terms=100, min_df=2)).terms
    assert not {word for t in terms for word in t.term.split()} & load_stopwords()
    assert not [t for t in terms if set(t.term.split()) <= {"protein", "proteins", "folding"}]
    assert "zymogen" not in {t.term for t in terms} and all(t.df >= 2 for t in terms)
    assert all(t.df >= 25 for t in run(CooccurrenceOptions(max_terms=100, min_df=25)).terms)


def test_a_query_nothing_matches_finds_nothing() -> None:
    found = run(CooccurrenceOptions(), query="quantum chromodynamics")
    assert found.matching_docs == 0 and found.terms == []


def test_npmi_is_one_for_exclusive_terms_zero_for_independent_ones() -> None:
    assert normalised_pmi(20, 20, 20, 80) == pytest.approx(1.0)
    assert normalised_pmi(10, 40, 20, 80) == pytest.approx(0.0)  # p(t|q) = p(t): independent
    assert normalised_pmi(0, 10, 20, 80) == -1.0
    assert normalised_pmi(80, 80, 80, 80) == 0.0  # everywhere: no information
    assert -1.0 <= normalised_pmi(1, 79, 2, 80) <= 1.0


def _big_library() -> list[Doc]:
    """The planted library many times over, each copy with its own ids: 2,400 papers."""
    docs: list[Doc] = []
    for seed in range(30):
        for doc in documents(seed):
            docs.append(Doc(len(docs) + 1, doc.title, doc.abstract))
    return docs


def exact_counts(docs: list[Doc], shown: str) -> tuple[int, int]:
    """(documents holding the term written ``shown``, those of them matching the query), by brute force."""
    vocabulary = Vocabulary()
    query = parse_query(QUERY, vocabulary)
    key = tuple(vocabulary.keys_of(shown))
    df = together = 0
    for doc in docs:
        counts = term_counts(vocabulary.keys_of(f"{doc.title} . {doc.abstract}"))
        if (key[0] if len(key) == 1 else key) in counts:
            df += 1
            together += query.matches(set(vocabulary.keys_of(f"{doc.title} . {doc.abstract}")))
    return df, together


def assert_exact(docs: list[Doc], found: CooccurrenceOutcome) -> None:
    for term in found.terms:
        df, together = exact_counts(docs, term.term)
        assert term.df == df, term
        assert term.score == round(normalised_pmi(together, df, found.matching_docs, len(docs)), 4), term


def test_a_discovery_in_few_of_the_querys_documents_finds_the_top_terms_and_counts_them_exactly() -> None:
    docs = _big_library()
    found = run(CooccurrenceOptions(max_terms=10), docs, relevant=40)  # of 600
    assert found.matching_docs == 30 * QUERY_DOCS and found.corpus_size == len(docs)
    assert sorted(t.term for t in found.terms[:2]) == sorted(PLANTED)
    assert found.terms[0].df == 30 * QUERY_DOCS
    assert_exact(docs, found)  # rare terms may be missed, never miscounted


def test_discovery_past_its_memory_bound_keeps_the_frequent_terms_and_exact_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = _big_library()
    monkeypatch.setattr(npmi_module, "MAX_TRACKED", 200)
    bounded = run(CooccurrenceOptions(max_terms=10), docs)
    assert bounded.matching_docs == 30 * QUERY_DOCS
    assert sorted(t.term for t in bounded.terms[:2]) == sorted(PLANTED)
    assert_exact(docs, bounded)
