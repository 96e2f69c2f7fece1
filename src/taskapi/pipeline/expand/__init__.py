"""``keyword_expand``'s algorithms: terms that co-occur with a query in the project's own literature.

Pure code over a ``Corpus`` (the papers library satisfies it): ``tokens`` (words, two-word terms, the
shipped stopword list), ``corpus`` (documents, the counting pass), ``prf`` (pseudo-relevance
feedback, RM3-style), ``npmi`` (document-level NPMI co-occurrence), ``sample`` (leaving common words
out of the counts), ``terms`` (picking the suggestions), ``query`` (reading a query, writing
``expanded_query``), ``variants`` (spelling variants of given keywords), ``expansion`` (one run and
its result).
"""

from taskapi.pipeline.expand.corpus import Corpus, Document, count_frequencies, document_text, keys_stream
from taskapi.pipeline.expand.expansion import (
    EMPTY_INDEX,
    NO_MATCH,
    NO_WORDS,
    ExpandOptions,
    Expansion,
    expand,
)
from taskapi.pipeline.expand.npmi import CooccurrenceOptions, cooccurrence_terms, normalised_pmi
from taskapi.pipeline.expand.prf import PrfOptions, feedback_weights, prf_terms
from taskapi.pipeline.expand.query import QueryTerms, clean_query, expanded_query, parse_query, search_clause
from taskapi.pipeline.expand.terms import Suggestion
from taskapi.pipeline.expand.tokens import Vocabulary, load_stopwords, singular
from taskapi.pipeline.expand.variants import expand_keywords, keyword_variants

__all__ = [
    "EMPTY_INDEX",
    "NO_MATCH",
    "NO_WORDS",
    "CooccurrenceOptions",
    "Corpus",
    "Document",
    "ExpandOptions",
    "Expansion",
    "PrfOptions",
    "QueryTerms",
    "Suggestion",
    "Vocabulary",
    "clean_query",
    "cooccurrence_terms",
    "count_frequencies",
    "document_text",
    "expand",
    "expand_keywords",
    "expanded_query",
    "feedback_weights",
    "keys_stream",
    "keyword_variants",
    "load_stopwords",
    "normalised_pmi",
    "parse_query",
    "prf_terms",
    "search_clause",
    "singular",
]
