"""Stage 2, block: the candidate pairs, from a few cheap keys, never all pairs.

Identifier blocks hold the papers sharing one identifier value. Title blocks hold the papers sharing
a title key (the first or the last three content words, each cut to four letters, so that a spelling
or plural difference inside a word still meets) together with an author's surname: the title rule
needs a shared author anyway (or both without authors), and the author in the key keeps the dozens
of "Editorial" papers of a project in small blocks. A pair whose titles are 95 % alike almost always
shares the first or the last three words; the benchmarks measure what this misses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from taskapi.pipeline.dedup.prep import Prepared

IDENTIFIER_RULES = (
    ("doi", "doi"),
    ("arxiv_id", "arxiv_id"),
    ("s2_id", "source_id"),
    ("openalex_id", "source_id"),
    ("pmid", "source_id"),
)
"""Each identifier field and the rule (a key of ``by_rule``) a link through it counts under."""
KEY_WORDS = 3
KEY_LETTERS = 4
MAX_BLOCK_COMPARISONS = 200
"""Earlier members of one block a paper is compared with: bounds the work on a block of hundreds of
look-alikes by one author (a journal's "Editorial" every issue) to a linear cost."""


def identifier_blocks(papers: list[Prepared]) -> Iterator[tuple[str, list[int]]]:
    """``(rule, indexes)`` for every identifier value that two or more papers share, in a stable
    order: rules strongest first, then by the first paper that carries the value."""
    for field, rule in IDENTIFIER_RULES:
        members: dict[str, list[int]] = defaultdict(list)
        for index, paper in enumerate(papers):
            value = getattr(paper, field)
            if value:
                members[value].append(index)
        for indexes in members.values():
            if len(indexes) > 1:
                yield rule, indexes


def block_keys(paper: Prepared) -> list[str]:
    """The blocking keys of a paper for the title rule (a title key with an author's surname) and the
    location rule (its page range with an author's surname)."""
    words = paper.words or tuple(paper.title.split())
    heads = set()
    if words:
        heads.add(" ".join(word[:KEY_LETTERS] for word in words[:KEY_WORDS]))
        heads.add(" ".join(word[:KEY_LETTERS] for word in words[-KEY_WORDS:]))
    if paper.pages and paper.surnames and paper.pages[1] > paper.pages[0]:
        heads.add(f"@{paper.pages[0]}-{paper.pages[1]}")
    names = paper.surnames or ("",)
    return sorted(f"{head}|{name}" for head in heads for name in names)


class TitleBlocks:
    """The title blocks, filled one paper at a time: each paper meets the earlier members of its
    blocks, so every candidate pair comes once per shared block and in a deterministic order."""

    def __init__(self) -> None:
        self._blocks: dict[str, list[int]] = defaultdict(list)

    def candidates(self, index: int, keys: list[str]) -> list[int]:
        """The earlier papers sharing a block with paper ``index`` (ascending), which joins them."""
        found: set[int] = set()
        for key in keys:
            block = self._blocks[key]
            found.update(block[-MAX_BLOCK_COMPARISONS:])
            block.append(index)
        return sorted(found)
