"""The engine: prep, block, match and cluster in one pure function the ``dedup`` handler calls.

Deterministic: the papers are taken in id order and every candidate list is sorted, so the same
papers give the same groups and the same canonicals, and a second run (on papers whose duplicates
are already marked) finds the same again and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from taskapi.pipeline.dedup.block import TitleBlocks, block_keys, identifier_blocks
from taskapi.pipeline.dedup.cluster import Forest
from taskapi.pipeline.dedup.match import identifier_agrees, location_match, title_match
from taskapi.pipeline.dedup.model import DedupOptions, DedupPaper, DedupResult
from taskapi.pipeline.dedup.prep import Prepared, prepare

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 500
"""Papers of work between two progress calls (a cancel raised from one stops the engine there)."""


class _Ticker:
    """Counts units of work (each paper is prepared, then matched: twice the papers in all) and
    reports every ``PROGRESS_EVERY``; what the callback raises stops the engine."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress, self.total, self.done = progress, total, 0

    def tick(self) -> None:
        self.done += 1
        if self._progress is not None and (self.done % PROGRESS_EVERY == 0 or self.done == self.total):
            self._progress(self.done, self.total)


def find_duplicates(
    papers: Sequence[DedupPaper],
    options: DedupOptions = DedupOptions(),  # noqa: B008 - frozen, so one shared default is safe
    progress: Progress | None = None,
) -> DedupResult:
    """The duplicate groups among ``papers`` (read only; the caller marks ``duplicate_of``)."""
    unique = {paper.id: paper for paper in reversed(papers)}  # a repeated id counts once (the first)
    ordered = [unique[key] for key in sorted(unique)]
    ticker = _Ticker(progress, 2 * len(ordered))
    if progress is not None:
        progress(0, ticker.total)
    prepared: list[Prepared] = []
    for paper in ordered:
        prepared.append(prepare(paper))
        ticker.tick()
    forest = Forest(prepared)
    link_identifiers(prepared, forest)
    link_titles(prepared, forest, options, ticker)
    return forest.result()


def link_identifiers(papers: list[Prepared], forest: Forest) -> None:
    """Join the papers that share an identifier, unless some of their titles clearly differ from the
    others': then the identifier is one that several works carry (a journal supplement's DOI given to
    each of its abstracts) and decides nothing; the title rule still finds true copies among them."""
    for rule, indexes in identifier_blocks(papers):
        titled = [index for index in indexes if papers[index].title]
        first = titled[0] if titled else indexes[0]
        if any(not identifier_agrees(papers[first], papers[other]) for other in titled[1:]):
            continue
        for index in indexes:
            forest.union(first, index, rule)


def _match(a: Prepared, b: Prepared, options: DedupOptions) -> bool:
    return title_match(a, b, options) or location_match(a, b, options)


def link_titles(papers: list[Prepared], forest: Forest, options: DedupOptions, ticker: _Ticker) -> None:
    """Join the candidate pairs of the title blocks that the title rule accepts, unless that would
    join two groups holding different journal DOIs."""
    blocks = TitleBlocks()
    for index, paper in enumerate(papers):
        for other in blocks.candidates(index, block_keys(paper)):
            if forest.same(index, other) or not _match(papers[other], paper, options):
                continue
            if not forest.conflict(index, other):
                forest.union(other, index, "title")
        ticker.tick()
