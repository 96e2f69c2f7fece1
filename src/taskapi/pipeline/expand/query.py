"""The query both ways: what it asks of a document (``parse_query``), and the query the expansion hands
back to the search step (``expanded_query``).

A query is read as the sources read it: ``OR`` (or ``|``) between groups, a group's words all required;
quotes only group words; ``NOT x`` and ``-x`` exclude ``x`` (it is not required, but it is still one of
the query's own words, never suggested back).

``expanded_query`` writes ``query OR "two words" OR word``: valid for the search step's sources (arXiv
reads ``OR`` between groups, the others take it as text) and safe for Semantic Scholar's bulk syntax
(``+ | - " * ( ) ~`` are its operators): every term is a bare word of letters and digits, or quoted with
no quote inside; the user's own query keeps its words, losing only quotes or parentheses that do not
pair up. It never outgrows the search step's 1,000 characters: the lowest terms are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from taskapi.pipeline.expand.tokens import Vocabulary, unigrams

MAX_QUERY_CHARS = 1_000
"""What the search step accepts as a query."""
_OR = re.compile(r"\s+OR\s+|\|")
_UNSAFE = re.compile(r"[^\w\s-]|_")
_OPERATORS = frozenset({"OR", "AND", "NOT", "ANDNOT"})
_DANGLING = ("OR", "AND", "NOT", "|", "+", "-")


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """What a query asks: ``groups`` (a document matches when it has every key of one group) and
    ``keys`` (every key the query names, the excluded ones too: never suggested)."""

    groups: tuple[frozenset[str], ...]
    keys: frozenset[str]

    def matches(self, document_keys: set[str]) -> bool:
        """Whether a document with these unigram keys matches the query."""
        return any(group <= document_keys for group in self.groups)

    def names(self, term: str | tuple[str, str]) -> bool:
        """Whether ``term`` is the query's own (a query key, or a bigram of query keys)."""
        if isinstance(term, str):
            return term in self.keys
        return term[0] in self.keys and term[1] in self.keys


def _required_text(group: str) -> tuple[str, str]:
    """A group's required words and its excluded ones (after ``NOT`` or a leading ``-``)."""
    required: list[str] = []
    excluded: list[str] = []
    negate = False
    for token in group.replace('"', " ").split():
        if token in _OPERATORS:
            negate = token in ("NOT", "ANDNOT")
            continue
        (excluded if negate or token.startswith("-") else required).append(token)
        negate = False
    return " ".join(required), " ".join(excluded)


def parse_query(query: str, vocabulary: Vocabulary) -> QueryTerms:
    """The query's groups and keys, in the vocabulary's keys (stopwords dropped, plurals folded)."""
    groups: list[frozenset[str]] = []
    named: set[str] = set()
    for part in _OR.split(query):
        required, excluded = _required_text(part)
        keys = unigrams(vocabulary.keys_of(required))
        named |= keys | unigrams(vocabulary.keys_of(excluded))
        if keys:
            groups.append(frozenset(keys))
    return QueryTerms(tuple(dict.fromkeys(groups)), frozenset(named))


def search_clause(term: str) -> str | None:
    """``term`` as one clause of a search query: a bare word of letters and digits, or the term's words
    in quotes (a phrase, a hyphenated word); symbols and operator words (``OR``, ``AND``, ``NOT``) are
    dropped. ``None`` if nothing searchable is left."""
    words = [word.strip("-") for word in _UNSAFE.sub(" ", term).split()]
    words = [word for word in words if word and word.upper() not in _OPERATORS]
    if not words:
        return None
    text = " ".join(words)
    return text if len(words) == 1 and text.isalnum() else f'"{text}"'


def clean_query(query: str) -> str:
    """The user's query as the head of an expanded one: white space collapsed, quotes and parentheses
    dropped when they do not pair up, no operator dangling at either end."""
    text = " ".join(query.split())
    if text.count('"') % 2:
        text = " ".join(text.replace('"', " ").split())
    if not _parentheses_pair(text):
        text = " ".join(text.replace("(", " ").replace(")", " ").split())
    words = text.split(" ") if text else []
    while words and words[-1] in _DANGLING:
        words.pop()
    while words and words[0] in _DANGLING:
        words.pop(0)
    return " ".join(words)


def _parentheses_pair(text: str) -> bool:
    depth = 0
    for char in text:
        if char in "()":
            depth += 1 if char == "(" else -1
            if depth < 0:
                return False
    return depth == 0


def expanded_query(query: str, terms: Iterable[str], *, max_chars: int = MAX_QUERY_CHARS) -> str:
    """``query OR "two words" OR word``: the query, then each term as a clause, best first, without
    repeats, within ``max_chars`` (terms that do not fit are left out)."""
    head = clean_query(query)
    clauses = [head] if head else []
    seen = {head.lower()}
    length = len(head)
    for term in terms:
        clause = search_clause(term)
        if clause is None or clause.lower() in seen:
            continue
        added = len(clause) + (len(" OR ") if clauses else 0)
        if length + added > max_chars:
            continue
        clauses.append(clause)
        seen.add(clause.lower())
        length += added
    return " OR ".join(clauses)
