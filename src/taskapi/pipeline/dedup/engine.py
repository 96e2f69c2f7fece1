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
    result = forest.result()
    result.papers_checked = len(papers)
    return result


def link_identifiers(papers: list[Prepared], forest: Forest) -> None:
    """Join the papers of each shared identifier whose titles do not clearly differ. Within a block,
    a paper joins the first earlier "title" it agrees with (a supplement's DOI block splits into its
    abstracts); a paper without a title joins only a block whose titled papers are one work."""
    for rule, indexes in identifier_blocks(papers):
        leaders: list[int] = []
        untitled: list[int] = []
        for index in indexes:
            if not papers[index].title:
                untitled.append(index)
                continue
            leader = next((lead for lead in leaders if identifier_agrees(papers[lead], papers[index])), None)
            if leader is None:
                leaders.append(index)
            else:
                forest.union(leader, index, rule)
        anchor = _untitled_anchor(leaders, untitled)
        if anchor is not None:
            for index in untitled:
                forest.union(anchor, index, rule)


def _match(a: Prepared, b: Prepared, options: DedupOptions) -> bool:
    return title_match(a, b, options) or location_match(a, b, options)


def _untitled_anchor(leaders: list[int], untitled: list[int]) -> int | None:
    """Whom the untitled papers of an identifier block join: its one titled work, or each other when
    no paper has a title; nobody when the block holds several works (which one would be a guess)."""
    if len(leaders) == 1:
        return leaders[0]
    return untitled[0] if untitled and not leaders else None


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
