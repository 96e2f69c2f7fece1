"""Picking the suggested terms out of scored candidates, the same way for every method.

A candidate is never suggested when fewer than ``min_df`` documents contain it, when it is the query's
own (a query word, a plural of one, or a pair of query words), when it repeats a word ("node node"),
or when a two-word term makes it redundant: a word that mostly occurs inside one eligible two-word
term ("passing" inside "message passing": the pair is in ``SUBSUMED`` of the word's documents and in
``SUBSUMING_DF`` at least), or that a better-scored two-word term already holds ("neural" adds nothing
once "neural network" is in). Ties go to the term more documents contain, then to the alphabet, so a
result is the same on every run and every store.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from taskapi.pipeline.expand.tokens import Term

SCORE_DIGITS = 4
SUBSUMED = 0.8
SUBSUMING_DF = 3
"""A two-word term makes a word redundant only if at least this many documents hold it (a pair met
once or twice is chance, however few documents its word is in)."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A suggested term as the result shows it: ``df`` is how many of the project's documents hold it."""

    term: str
    score: float
    df: int

    def as_result(self) -> dict[str, object]:
        return {"term": self.term, "score": self.score, "df": self.df}


def room(max_terms: int) -> int:
    """How many of the best candidates to rank so that ``max_terms`` remain once redundant words go."""
    return 3 * max_terms + 20


def _order(scores: Mapping[Term, float], df: Mapping[Term, int]) -> Callable[[Term], tuple[float, int, str]]:
    def key(term: Term) -> tuple[float, int, str]:
        return (-scores[term], -df.get(term, 0), term if isinstance(term, str) else " ".join(term))

    return key


def _echo(term: Term) -> bool:
    """A word twice in a row ("node node"): a typo or a list, never a term."""
    return not isinstance(term, str) and term[0] == term[1]


def _subsumed(eligible: Iterable[Term], df: Mapping[Term, int]) -> set[str]:
    """The words that mostly occur inside one of the eligible two-word terms."""
    inside: set[str] = set()
    for term in eligible:
        if not isinstance(term, str):
            inside.update(word for word in term if df[term] >= max(SUBSUMING_DF, SUBSUMED * df.get(word, 0)))
    return inside


def pick(
    scores: Mapping[Term, float],
    df: Mapping[Term, int],
    *,
    max_terms: int,
    min_df: int,
    own: Callable[[Term], bool],
) -> list[Term]:
    """The best ``max_terms`` candidates that may be suggested, best first (see the module's rules)."""
    eligible = [t for t, s in scores.items() if s > 0 and df.get(t, 0) >= min_df and not (own(t) or _echo(t))]
    inside = _subsumed(eligible, df)
    eligible = [term for term in eligible if term not in inside]
    order = _order(scores, df)
    wanted = room(max_terms)
    chosen = _without_held(heapq.nsmallest(wanted, eligible, key=order), max_terms)
    if len(chosen) < max_terms and len(eligible) > wanted:
        chosen = _without_held(sorted(eligible, key=order), max_terms)
    return chosen


def _without_held(ranked: Iterable[Term], max_terms: int) -> list[Term]:
    chosen: list[Term] = []
    held: set[str] = set()
    for term in ranked:
        if isinstance(term, str) and term in held:
            continue
        chosen.append(term)
        if not isinstance(term, str):
            held.update(term)
        if len(chosen) == max_terms:
            break
    return chosen


def rounded(score: float) -> float:
    return round(score, SCORE_DIGITS)
