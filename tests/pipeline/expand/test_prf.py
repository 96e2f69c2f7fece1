"""Pseudo-relevance feedback on the planted library: the planted terms come out on top; stopwords, the
query's own words (and their plurals) and terms in fewer than ``min_df`` documents never do."""

from __future__ import annotations

import pytest

from taskapi.pipeline.expand import PrfOptions, Vocabulary, feedback_weights, load_stopwords, parse_query
from taskapi.pipeline.expand.prf import idf, prf_terms
from tests.pipeline.expand.corpus import PLANTED, QUERY, QUERY_DOCS, documents, feedback


def run(options: PrfOptions) -> list[dict[str, object]]:
    docs, vocabulary = documents(), Vocabulary()
    found = prf_terms(feedback(docs), docs, parse_query(QUERY, vocabulary), vocabulary, options)
    assert found.corpus_size == len(docs) and found.feedback_docs == 10
    return [term.as_result() for term in found.terms]


def test_the_planted_terms_come_first_with_their_document_frequencies() -> None:
    terms = run(PrfOptions(fb_terms=10))
    assert [t["term"] for t in terms[:2]] == sorted(PLANTED)
    assert [t["df"] for t in terms[:2]] == [QUERY_DOCS, QUERY_DOCS]
    assert len(terms) == 10


def test_stopwords_and_the_querys_own_terms_are_never_suggested() -> None:
    terms = [str(t["term"]) for t in run(PrfOptions(fb_terms=100, min_df=1))]
    assert not {word for term in terms for word in term.split()} & load_stopwords()
    own = {"protein", "proteins", "folding"}
    assert not [term for term in terms if set(term.split()) <= own]  # a pair with one of them may be


def test_min_df_keeps_out_a_term_said_often_in_one_paper_only() -> None:
    assert "zymogen" in {t["term"] for t in run(PrfOptions(fb_terms=100, min_df=1))}
    kept = run(PrfOptions(fb_terms=100, min_df=2))
    assert "zymogen" not in {t["term"] for t in kept}
    assert all(int(str(t["df"])) >= 2 for t in kept)
    assert all(int(str(t["df"])) >= 21 for t in run(PrfOptions(fb_terms=100, min_df=21)))


def test_the_scores_share_what_the_original_query_leaves_and_are_ordered() -> None:
    terms = run(PrfOptions(fb_terms=5, original_query_weight=0.3))
    scores = [float(str(t["score"])) for t in terms]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(0.7, abs=1e-3)


def test_a_word_that_lives_inside_a_planted_pair_is_not_suggested_alone() -> None:
    terms = {t["term"] for t in run(PrfOptions(fb_terms=100, min_df=1))}
    assert "molecular dynamics" in terms
    assert "chaperone" in terms  # a word of its own, in no pair


def test_feedback_weights_follow_the_engines_scores_whatever_their_sign() -> None:
    assert feedback_weights([3.0, 1.0]) == [0.75, 0.25]
    assert feedback_weights([-3.0, -1.0]) == [0.75, 0.25]  # SQLite's bm25: lower is better
    assert feedback_weights([2.0, 0.0]) == [0.5, 0.5]
    assert feedback_weights([float("inf"), 1.0]) == [0.5, 0.5]
    assert feedback_weights([]) == []


def test_idf_weighs_rare_terms_more_and_never_drops_to_zero() -> None:
    assert idf(1, 100) > idf(10, 100) > idf(100, 100) > 0
