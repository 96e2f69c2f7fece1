"""Pseudo-relevance feedback, RM3-style: the terms of the documents that best match the query.

After Anserini's RM3 (the model behind Pyserini's ``set_rm3(fb_terms, fb_docs, original_query_weight)``),
with two-word terms and an idf factor added:

1. the top ``fb_docs`` documents for the query, from the project's full-text index, each weighted by
   its share of their relevance scores (``P(D|Q)``; equal shares if the engine's scores cannot be
   compared that way);
2. the relevance model: for every unigram and bigram ``t``, ``sum_D P(D|Q) * tf(t, D) / |D|``;
3. each term's weight multiplied by its idf over the whole project's index (BM25's
   ``log(1 + (N - df + 0.5) / (df + 0.5))``): words every paper uses sink, the documents' own
   vocabulary rises. Anserini drops terms in more than 10% of the collection instead; a project's
   library is about one subject, where its central terms are exactly the frequent ones;
4. the best ``fb_terms`` (the task's ``max_terms``) are kept, their weights scaled to sum to
   ``1 - original_query_weight`` (RM3's interpolation: the query's own terms hold the rest).

The idf needs one pass over the project; the common words that cannot reach the top (their ``df``
bounded by the first documents, ``sample.py``) are not counted in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, islice

from taskapi.pipeline.expand.corpus import Document, count_frequencies, document_text, keys_stream
from taskapi.pipeline.expand.query import QueryTerms
from taskapi.pipeline.expand.sample import SAMPLE_DOCS, Share, promising
from taskapi.pipeline.expand.terms import Suggestion, pick, room, rounded
from taskapi.pipeline.expand.tokens import Term, Vocabulary, split_terms, term_counts


@dataclass(frozen=True, slots=True)
class PrfOptions:
    """RM3's knobs under Pyserini's names, and the floor every method shares."""

    fb_terms: int = 10
    fb_docs: int = 10
    original_query_weight: float = 0.5
    min_df: int = 2


@dataclass(frozen=True, slots=True)
class PrfOutcome:
    terms: list[Suggestion]
    corpus_size: int
    feedback_docs: int


def feedback_weights(scores: Sequence[float]) -> list[float]:
    """``P(D|Q)`` of the feedback documents: each score's share of their sum. The engines disagree on
    sign (SQLite's ``bm25`` is negative, better when lower), so magnitudes are compared when every
    score has the same sign; otherwise, or with a score that is not finite, every document weighs
    the same."""
    if not scores:
        return []
    comparable = all(s > 0 for s in scores) or all(s < 0 for s in scores)
    total = sum(abs(s) for s in scores)
    if not comparable or not math.isfinite(total) or total <= 0:
        return [1.0 / len(scores)] * len(scores)
    return [abs(s) / total for s in scores]


def relevance_model(feedback: Sequence[Document], vocabulary: Vocabulary) -> dict[Term, float]:
    """``sum_D P(D|Q) * tf(t, D) / |D|`` for every unigram and bigram of the feedback documents."""
    model: dict[Term, float] = {}
    for document, weight in zip(feedback, feedback_weights([d.score for d in feedback]), strict=True):
        counts = term_counts(vocabulary.keys_of(document_text(document)))
        length = sum(counts.values())
        for term, count in counts.items():
            model[term] = model.get(term, 0.0) + weight * count / length
    return model


def idf(df: float, documents: float) -> float:
    """BM25's idf: positive however common the term (a term in every document still weighs a little)."""
    return math.log(1.0 + (documents - df + 0.5) / (df + 0.5))


def prf_terms(
    feedback: Sequence[Document],
    documents: Iterable[Document],
    query: QueryTerms,
    vocabulary: Vocabulary,
    options: PrfOptions,
) -> PrfOutcome:
    """The expansion terms of ``query`` from its ``feedback`` documents, with idf over ``documents``
    (the whole index, read once; its first documents also tell which common words to leave out)."""
    model = relevance_model(feedback, vocabulary)
    stream = keys_stream(documents, vocabulary)
    sample = list(islice(stream, SAMPLE_DOCS))

    def bounds(term: Term, share: Share) -> tuple[float, float]:
        fewest, most = share  # the more documents hold a term, the less it weighs
        return model[term] * idf(most * len(sample), len(sample)), model[term] * idf(
            fewest * len(sample), len(sample)
        )

    candidates = [term for term in model if not query.names(term)]
    candidates = promising(candidates, sample, bounds, room(options.fb_terms))
    counted = count_frequencies(chain(sample, stream), *split_terms(candidates))
    size = max(counted.documents, len(feedback))
    scores = {term: model[term] * idf(counted.df[term], size) for term in candidates}
    chosen = pick(scores, counted.df, max_terms=options.fb_terms, min_df=options.min_df, own=query.names)
    total = sum(scores[term] for term in chosen)
    share = 1.0 - options.original_query_weight
    terms = [
        Suggestion(vocabulary.shown(term), rounded(share * scores[term] / total), counted.df[term])
        for term in chosen
    ]
    return PrfOutcome(terms=terms, corpus_size=size, feedback_docs=len(feedback))
