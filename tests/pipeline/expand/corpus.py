"""A small library with planted co-occurrences, for every test of ``keyword_expand``.

80 abstracts of plain English: 20 about protein folding (the query) that also speak of "molecular
dynamics" and "chaperones" (the planted terms), 10 decoys that use "molecular" and "dynamics" apart,
and 50 on other subjects. "zymogen" is said many times, but in one paper only (``min_df`` must keep it
out). The same words fill every paper, with function words in between, so only the planted terms
stand out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

QUERY = "protein folding"
PLANTED = ("molecular dynamics", "chaperone")
QUERY_DOCS, DECOYS, OTHERS = 20, 10, 50
_FILLER = (
    "model data system analysis performance structure process energy signal control design theory "
    "framework error rate sample measurement experiment parameter surface temperature pressure "
    "material network response method solution interaction function distribution estimate field"
)
FILLER = _FILLER.split()
_FUNCTION_WORDS = "the of and in to with for on by from this that these is are was were"
FUNCTION_WORDS = _FUNCTION_WORDS.split()


@dataclass(frozen=True, slots=True)
class Doc:
    """A document as the expansion reads it (``taskapi.papers.IndexedDocument``'s shape)."""

    paper_id: int
    title: str
    abstract: str
    body: str = ""
    score: float = 0.0


def _sentence(rng: random.Random, extra: list[str]) -> str:
    words: list[str] = []
    for word in rng.sample(FILLER, 8) + extra:
        words += [rng.choice(FUNCTION_WORDS), word]
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


def _abstract(rng: random.Random, planted: list[list[str]]) -> str:
    return " ".join(_sentence(rng, extra) for extra in planted)


def abstracts(seed: int = 7) -> list[tuple[str, str]]:
    """(title, abstract) of the 80 papers, the query's first."""
    rng = random.Random(seed)
    papers: list[tuple[str, str]] = []
    for n in range(QUERY_DOCS):
        planted = [["proteins folding"], ["molecular dynamics"], ["chaperones", "the chaperone"], []]
        if n == 0:
            planted.append(["zymogen"] * 6)
        papers.append((f"Protein folding {n}", _abstract(rng, planted)))
    for n in range(DECOYS):
        papers.append((f"Decoy {n}", _abstract(rng, [["molecular"], ["dynamics"], []])))
    for n in range(OTHERS):
        papers.append((f"Other {n}", _abstract(rng, [[], [], []])))
    return papers


def documents(seed: int = 7) -> list[Doc]:
    """The papers as documents, ids from 1 in order."""
    return [Doc(n, title, abstract) for n, (title, abstract) in enumerate(abstracts(seed), start=1)]


def feedback(docs: list[Doc], count: int = 10) -> list[Doc]:
    """The first ``count`` query documents with decreasing scores, as an index would rank them."""
    return [Doc(d.paper_id, d.title, d.abstract, d.body, 10.0 - n) for n, d in enumerate(docs[:count])]
