"""Stage 2, block: the candidate pairs, from a few cheap keys, never all pairs.

Identifier blocks hold the papers sharing one identifier value. Title blocks hold the papers sharing
a title key (the first or the last three content words, each cut to four letters, so that a spelling
or plural difference inside a word still meets) together with an author's surname: the title rule
needs a shared author anyway (or both without authors), and the author in the key keeps the dozens
of "Editorial" papers of a project in small blocks. A pair whose titles are 95 % alike almost always
shares the first or the last three words; the benchmarks measure what this misses. Location blocks
hold the papers with one page range and one first author's surname (the location rule's pairs).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterator

from taskapi.pipeline.dedup.prep import Prepared
from taskapi.pipeline.dedup.prep_title import content_words

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
    location rule (its page range with the first author's surname)."""
    words = content_words(paper.title) or tuple(paper.title.split())
    heads = set()
    if words:
        heads.add(" ".join(word[:KEY_LETTERS] for word in words[:KEY_WORDS]))
        heads.add(" ".join(word[:KEY_LETTERS] for word in words[-KEY_WORDS:]))
    names = paper.surnames or ("",)
    keys = [f"{head}|{name}" for head in heads for name in names]
    if paper.pages and paper.surnames and paper.pages[1] > paper.pages[0]:
        keys.append(f"@{paper.pages[0]}-{paper.pages[1]}|{paper.surnames[0]}")
    return keys


class TitleBlocks:
    """The title blocks, filled one paper at a time: each paper meets the earlier members of its
    blocks, so every candidate pair comes once per shared block and in a deterministic order.

    A block is held by the CRC-32 of its key and, while it has one member, as that member alone:
    most blocks never get a second (a key string and a list per block cost 100,000 papers ~200 MB).
    Two keys with one CRC only bring a few more candidates, always the same ones.
    """

    def __init__(self) -> None:
        self._blocks: dict[int, int | list[int]] = {}

    def candidates(self, index: int, keys: list[str]) -> list[int]:
        """The earlier papers sharing a block with paper ``index`` (ascending), which joins them."""
        found: set[int] = set()
        blocks = self._blocks
        for key in keys:
            code = zlib.crc32(key.encode())
            held = blocks.get(code)
            if held is None:
                blocks[code] = index
            elif isinstance(held, int):
                found.add(held)
                blocks[code] = [held, index]
            else:
                found.update(held[-MAX_BLOCK_COMPARISONS:])
                held.append(index)
        found.discard(index)
        return sorted(found)
