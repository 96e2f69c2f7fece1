"""Stage 4, cluster: links into groups by union-find, and each group's canonical paper.

A weak link (the title rule) never joins two groups that hold different journal DOIs: without this
guard, one paper without a DOI that looks like two DOI'd papers would chain them into one group.
"""

from __future__ import annotations

from taskapi.pipeline.dedup.model import RULES, DedupResult
from taskapi.pipeline.dedup.prep import Prepared


class Forest:
    """Union-find over paper indexes (path halving, union by size), counting links by rule."""

    def __init__(self, papers: list[Prepared]) -> None:
        self._papers = papers
        self._parent = list(range(len(papers)))
        self._size = [1] * len(papers)
        self._dois: dict[int, frozenset[str]] = {
            index: frozenset({paper.doi})
            for index, paper in enumerate(papers)
            if paper.doi and not paper.doi_preprint
        }
        self.by_rule = dict.fromkeys(RULES, 0)

    def find(self, index: int) -> int:
        parent = self._parent
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    def same(self, a: int, b: int) -> bool:
        return self.find(a) == self.find(b)

    def conflict(self, a: int, b: int) -> bool:
        """Whether the groups of ``a`` and ``b`` hold journal DOIs and none in common."""
        left, right = self._dois.get(self.find(a)), self._dois.get(self.find(b))
        return bool(left and right and left.isdisjoint(right))

    def union(self, a: int, b: int, rule: str) -> bool:
        """Join the groups of ``a`` and ``b``; ``True`` if they were apart (one more duplicate)."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        if self._size[root_a] < self._size[root_b]:
            root_a, root_b = root_b, root_a
        self._parent[root_b] = root_a
        self._size[root_a] += self._size[root_b]
        dois = self._dois.pop(root_b, frozenset())
        if dois:
            self._dois[root_a] = self._dois.get(root_a, frozenset()) | dois
        self.by_rule[rule] += 1
        return True

    def result(self) -> DedupResult:
        """Groups of two or more, each canonical first then by id, ordered by canonical id."""
        members: dict[int, list[int]] = {}
        for index in range(len(self._parent)):
            members.setdefault(self.find(index), []).append(index)
        groups: list[list[int]] = []
        duplicate_of: dict[int, int] = {}
        for indexes in members.values():
            if len(indexes) < 2:
                continue
            papers = [self._papers[index] for index in indexes]
            canonical = min(papers, key=canonical_rank)
            others = sorted(paper.id for paper in papers if paper is not canonical)
            groups.append([canonical.id, *others])
            duplicate_of.update(dict.fromkeys(others, canonical.id))
        groups.sort(key=lambda group: group[0])
        return DedupResult(len(self._parent), groups, duplicate_of, dict(self.by_rule))


def canonical_rank(paper: Prepared) -> tuple[int, bool, int, int]:
    """The canonical is the paper with a DOI (a journal's before a preprint's), then a PDF, then the
    most fields, then the oldest (lowest id): the same paper whatever order the input came in."""
    doi_rank = 0 if paper.doi and not paper.doi_preprint else 1 if paper.doi else 2
    return doi_rank, not paper.has_pdf, -paper.filled, paper.id
