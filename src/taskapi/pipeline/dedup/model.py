"""The dedup engine's input, options and answer: plain values, so the engine stays a pure function
that a handler, a benchmark or a test calls alike (no store, no task context)."""

from __future__ import annotations

from dataclasses import dataclass, field

RULES = ("doi", "arxiv_id", "source_id", "title")
"""The rules that link two papers, strongest first: the keys of ``DedupResult.by_rule``."""


@dataclass(frozen=True, slots=True)
class DedupPaper:
    """One paper of a project as the engine sees it (the caller maps its rows to these).

    ``authors`` are display names in any format ("Smith, John A.", "John A. Smith", "SMITH J");
    identifiers may come raw or normalised (the engine normalises them again, cheaply).
    ``has_pdf`` and ``filled_fields`` only choose which copy of a work is kept (the canonical).
    """

    id: int
    title: str | None
    authors: tuple[str, ...]
    year: int | None
    venue: str | None
    volume: str | None
    issue: str | None
    pages: str | None
    doi: str | None
    arxiv_id: str | None
    s2_id: str | None
    openalex_id: str | None
    pmid: str | None
    has_pdf: bool = False
    filled_fields: int = 0


@dataclass(frozen=True)
class DedupOptions:
    """``title_threshold``: ``rapidfuzz.fuzz.ratio`` (0..100) of normalised titles from which two
    titles are one; ``year_tolerance``: how many years apart two copies of one work may be dated."""

    title_threshold: float = 95.0
    year_tolerance: int = 1


@dataclass
class DedupResult:
    """What the engine found; it changes nothing itself (the caller writes ``duplicate_of``).

    ``groups``: each group of two or more papers, its canonical first, the others by id; groups
    ordered by canonical id. ``duplicate_of``: every non-canonical member to its canonical.
    ``by_rule``: the marked duplicates by the rule whose link added them to their group.
    """

    papers_checked: int
    groups: list[list[int]] = field(default_factory=list)
    duplicate_of: dict[int, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))

    @property
    def marked_duplicate(self) -> int:
        return len(self.duplicate_of)
