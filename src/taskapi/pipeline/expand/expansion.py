"""One expansion run over a project's library: the checks before any counting (an empty index, a query
with no words, a query nothing matches: each an empty ``terms`` list with a ``note``, not an error),
the chosen method, and the result ``keyword_expand`` returns (PIPELINE.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from taskapi.pipeline.expand.corpus import READ_BATCH, Corpus, Document, Progress, Reading
from taskapi.pipeline.expand.npmi import DISCOVERY_DOCS, CooccurrenceOptions, cooccurrence_terms
from taskapi.pipeline.expand.prf import PrfOptions, prf_terms
from taskapi.pipeline.expand.query import QueryTerms, expanded_query, parse_query
from taskapi.pipeline.expand.terms import Suggestion
from taskapi.pipeline.expand.tokens import Vocabulary

Method = Literal["prf", "cooccurrence"]
EMPTY_INDEX = "the project's index is empty: run index first"
NO_WORDS = "the query has no words to expand from (only stopwords or symbols)"
NO_MATCH = "no indexed document of the project matches the query"


@dataclass(frozen=True, slots=True)
class ExpandOptions:
    """The task's params (defaults of PIPELINE.md; ``original_query_weight`` is RM3's, for ``prf``)."""

    method: Method = "prf"
    max_terms: int = 10
    fb_docs: int = 10
    min_df: int = 2
    original_query_weight: float = 0.5


@dataclass(frozen=True, slots=True)
class Expansion:
    """What a run found: ``as_result()`` is the task's result."""

    query: str
    method: Method
    terms: list[Suggestion]
    corpus_size: int
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "query": self.query,
            "terms": [term.as_result() for term in self.terms],
            "expanded_query": expanded_query(self.query, [term.term for term in self.terms]),
            "method": self.method,
            "corpus_size": self.corpus_size,
        }
        if self.note is not None:
            result["note"] = self.note
        return result | self.details


def expand(
    corpus: Corpus, project_id: int, query: str, options: ExpandOptions, progress: Progress | None = None
) -> Expansion:
    """Suggest terms for ``query`` from the project's indexed documents, by ``options.method``."""
    size = corpus.index_size(project_id)
    if size == 0:
        return Expansion(query, options.method, [], 0, EMPTY_INDEX)
    vocabulary = Vocabulary()
    terms = parse_query(query, vocabulary)
    if not terms.groups:
        return Expansion(query, options.method, [], size, NO_WORDS)
    run = _Run(corpus, project_id, query, terms, options, size, vocabulary, progress)
    return run.cooccurrence() if options.method == "cooccurrence" else run.prf()


@dataclass(frozen=True, slots=True)
class _Run:
    corpus: Corpus
    project_id: int
    query: str
    terms: QueryTerms
    options: ExpandOptions
    size: int
    vocabulary: Vocabulary
    progress: Progress | None

    def documents(self, reading: Reading) -> Iterator[Document]:
        return reading.read(self.corpus.index_documents(self.project_id, batch=READ_BATCH))

    def cooccurrence(self) -> Expansion:
        relevant = self.search(DISCOVERY_DOCS)
        if isinstance(relevant, Expansion):
            return relevant
        reading = Reading(total=len(relevant) + self.size, report=self.progress, done=len(relevant))
        options = CooccurrenceOptions(self.options.max_terms, self.options.min_df)
        found = cooccurrence_terms(relevant, self.documents(reading), self.terms, self.vocabulary, options)
        note = None if found.matching_docs else NO_MATCH
        details = {"matching_docs": found.matching_docs}
        return Expansion(self.query, "cooccurrence", found.terms, found.corpus_size, note, details)

    def search(self, limit: int) -> Sequence[Document] | Expansion:
        """The index's best documents for the query, or the answer when there are none."""
        method = self.options.method
        try:
            found = self.corpus.search_documents(self.project_id, self.query, limit=limit)
        except ValueError as exc:  # the index's own parser refused the query (too many words, ...)
            return Expansion(self.query, method, [], self.size, f"the index cannot search this query: {exc}")
        if not found:
            detail = "feedback_docs" if method == "prf" else "matching_docs"
            return Expansion(self.query, method, [], self.size, NO_MATCH, {detail: 0})
        return found

    def prf(self) -> Expansion:
        options = self.options
        feedback = self.search(options.fb_docs)
        if isinstance(feedback, Expansion):
            return feedback
        reading = Reading(total=len(feedback) + self.size, report=self.progress, done=len(feedback))
        knobs = PrfOptions(options.max_terms, options.fb_docs, options.original_query_weight, options.min_df)
        found = prf_terms(feedback, self.documents(reading), self.terms, self.vocabulary, knobs)
        details = {"feedback_docs": found.feedback_docs}
        return Expansion(self.query, "prf", found.terms, found.corpus_size, None, details)
