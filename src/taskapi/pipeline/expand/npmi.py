"""Co-occurrence: the terms that keep company with the query across the whole project, by document-level
normalised PMI (Bouma, 2009).

For a term ``t`` and the event ``q`` "the document matches the query", over the project's ``N``
documents: ``npmi = log(p(t, q) / (p(t) p(q))) / -log p(t, q)``, from 1 (``t`` only ever occurs with
the query) through 0 (independent) to -1. Only the pairs (term, query) are counted, never term x term:

1. discovery, cheap: the candidates are the terms of the ``DISCOVERY_DOCS`` documents the project's
   full-text index finds best for the query (those that match it, as this package reads a query)
   that at least two of them and half a percent of them hold, less the common words that cannot
   reach the top (``sample.py``: the first documents of the stream bound each one's ``df``);
2. one streamed pass over every document counts ``df(t)`` and ``c(t, q)`` exactly for them.

A term is suggested when ``c(t, q) >= min(2, min_df)`` (a term met with the query once says little),
at least 1% of the query's documents hold it (NPMI favours rare terms), and ``df(t) >= min_df``. Every
number reported comes from the exact count; discovery only decides which terms are counted. Memory
stays bounded: past ``MAX_TRACKED`` distinct terms, discovery drops the rarest (lossy counting).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain, islice, pairwise

from taskapi.pipeline.expand.corpus import Document, Frequencies, count_frequencies, keys_stream
from taskapi.pipeline.expand.query import QueryTerms
from taskapi.pipeline.expand.sample import SAMPLE_DOCS, Share, promising, share_interval
from taskapi.pipeline.expand.terms import Suggestion, pick, room, rounded
from taskapi.pipeline.expand.tokens import Term, Vocabulary, split_terms

DISCOVERY_DOCS = 1_000
"""The documents the index finds best for the query whose terms are discovered."""
MAX_TRACKED = 1_000_000
"""Distinct terms kept while discovering (about 150 MB at most); past it the rarest are dropped."""
MIN_SHARE_OF_QUERY_DOCS = 0.01


@dataclass(frozen=True, slots=True)
class CooccurrenceOptions:
    max_terms: int = 10
    min_df: int = 2


@dataclass(frozen=True, slots=True)
class CooccurrenceOutcome:
    terms: list[Suggestion]
    corpus_size: int
    matching_docs: int


@dataclass(slots=True)
class Discovery:
    """The terms of the discovered documents that match the query, with how many of them hold each."""

    matching: int = 0
    together: Counter[Term] = field(default_factory=Counter)
    _floor: int = 1

    def add(self, keys: list[str], found: set[str]) -> None:
        found.discard("")
        self.matching += 1
        self.together.update(found)
        self.together.update(set(filter(all, pairwise(keys))))
        if len(self.together) > MAX_TRACKED:
            self._drop_rarest()

    def _drop_rarest(self) -> None:
        """Make half the room free by dropping the rarest terms (lossy counting: they may come back)."""
        while len(self.together) > MAX_TRACKED // 2:
            for term in [t for t, count in self.together.items() if count <= self._floor]:
                del self.together[term]
            self._floor += 1


def discover(relevant: Iterable[Document], vocabulary: Vocabulary, query: QueryTerms) -> Discovery:
    """The terms of the ``relevant`` documents that match ``query``."""
    found = Discovery()
    for keys in keys_stream(relevant, vocabulary):
        unigrams = set(keys)
        if query.matches(unigrams):
            found.add(keys, unigrams)
    return found


def normalised_pmi(together: float, df: float, matching: float, documents: float) -> float:
    """Normalised PMI of a term (in ``df`` documents) and the query (in ``matching``), ``together`` in
    both, out of ``documents``; 0 when the term and the query are in every document."""
    if together <= 0:
        return -1.0
    joint = together / documents
    if joint >= 1.0:
        return 0.0
    return math.log(joint / ((df / documents) * (matching / documents))) / -math.log(joint)


def candidates_of(
    found: Discovery, sample: list[list[str]], query: QueryTerms, options: CooccurrenceOptions
) -> list[Term]:
    """The terms worth an exact count (see the module); ``sample``: the first documents' key lists."""
    least = max(min(2, options.min_df), math.ceil(MIN_SHARE_OF_QUERY_DOCS / 2 * found.matching))
    candidates = [term for term, n in found.together.items() if n >= least and not query.names(term)]
    others = [keys for keys in sample if not query.matches(set(keys))]
    if not found.matching or not others:
        return candidates
    share = max(1, len(sample) - len(others)) / len(sample)  # of the documents that match

    def npmi_of(with_query: float, elsewhere: float) -> float:
        together = share * with_query
        return normalised_pmi(together, together + (1 - share) * elsewhere, share, 1)

    def bounds(term: Term, elsewhere: Share) -> tuple[float, float]:
        low, high = share_interval(found.together[term], found.matching)
        return npmi_of(low, elsewhere[1]), npmi_of(high, elsewhere[0])

    return promising(candidates, others, bounds, room(options.max_terms))


def cooccurrence_terms(
    relevant: Iterable[Document],
    documents: Iterable[Document],
    query: QueryTerms,
    vocabulary: Vocabulary,
    options: CooccurrenceOptions,
) -> CooccurrenceOutcome:
    """The terms of the highest NPMI with ``query`` over ``documents`` (the whole project, read once),
    discovered in the ``relevant`` documents (the index's best for the query)."""
    found = discover(relevant, vocabulary, query)
    stream = keys_stream(documents, vocabulary)
    sample = list(islice(stream, SAMPLE_DOCS))
    words, pairs = split_terms(candidates_of(found, sample, query, options))
    counted = count_frequencies(chain(sample, stream), words, pairs, within=query)
    return _outcome(counted, vocabulary, query, options)


def _outcome(
    counted: Frequencies, vocabulary: Vocabulary, query: QueryTerms, options: CooccurrenceOptions
) -> CooccurrenceOutcome:
    size, matching = counted.documents, counted.matching
    least = max(min(2, options.min_df), math.ceil(MIN_SHARE_OF_QUERY_DOCS * matching))
    scores = {
        term: normalised_pmi(together, counted.df[term], matching, size)
        for term, together in counted.together.items()
        if together >= least
    }
    chosen = pick(scores, counted.df, max_terms=options.max_terms, min_df=options.min_df, own=query.names)
    terms = [Suggestion(vocabulary.shown(t), rounded(scores[t]), counted.df[t]) for t in chosen]
    return CooccurrenceOutcome(terms=terms, corpus_size=size, matching_docs=matching)
