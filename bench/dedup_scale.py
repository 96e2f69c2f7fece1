"""Dedup at scale: 100,000 synthetic papers with planted duplicates, ``find_duplicates`` timed.

    .venv/bin/python -m bench.dedup_scale                 # 100,000 papers
    .venv/bin/python -m bench.dedup_scale --papers 20000  # smaller

The papers are made up but shaped like a project's library after a few searches: works with 1-8
authors, titles of 4-16 words, venues, volumes, pages, DOIs on most; a fifth of the works come twice
or more, as another source exports them (the title's case and punctuation changed, a typo, a
diacritic lost; the authors in another format; the DOI missing; the venue abbreviated; pages
written "123-30"; the subtitle or all authors but the first dropped; "[Review]" added; a year
later), some as an arXiv preprint beside the journal version. Near misses that must stay
apart are planted too: an editor's "Editorial" in every issue, "Part I" / "Part II", a title with
": A Survey" added by the same authors, the same title ten years apart.

Measured: seconds and peak RSS of ``find_duplicates`` alone (targets: <= 30 s, <= 1 GiB on 2 cores,
with margin left for the database), the largest gap between two progress calls, and pairwise
precision / recall against the planted groups. Results: ``bench/results/dedup-scale-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT
from bench.dedup_quality import score
from taskapi.pipeline.dedup import DedupPaper, find_duplicates

SEED = 20250312
SYLLABLES = [
    "ka",
    "ri",
    "to",
    "me",
    "lu",
    "sa",
    "no",
    "vi",
    "de",
    "ra",
    "po",
    "li",
    "ne",
    "ta",
    "mo",
    "su",
    "ge",
    "ba",
    "ti",
    "co",
    "ro",
    "fa",
    "le",
    "mi",
    "da",
    "zu",
    "pe",
    "ho",
]
GIVEN = [
    "Anna",
    "Jose",
    "Li",
    "Wei",
    "Maria",
    "John",
    "Ahmed",
    "Sofia",
    "Yuki",
    "Lars",
    "Chloe",
    "Omar",
    "Ines",
    "Ravi",
    "Elena",
    "Piotr",
    "Zoe",
]
DIACRITICS = {"a": "á", "e": "é", "o": "ö", "u": "ü", "n": "ñ", "c": "ç"}
TARGET_SECONDS = 30.0
TARGET_MIB = 1024.0


@dataclass(slots=True)
class Work:
    """One true work and the facts its copies share."""

    title: str
    authors: list[tuple[str, str]]  # (surname, given)
    year: int
    venue: str
    volume: str
    issue: str
    first_page: int
    last_page: int
    doi: str | None
    openalex_id: str | None = None
    arxiv_id: str | None = None  # once a preprint of it was made
    copies: list[DedupPaper] = field(default_factory=list)


class Maker:
    """Deterministic synthetic library: the same seed gives the same papers."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = sorted({self._word(2, 4) for _ in range(6000)})
        self.surnames = sorted({self._word(2, 4).capitalize() for _ in range(30000)})
        self.venues = sorted({" ".join(self._word(2, 4).capitalize() for _ in range(3)) for _ in range(1500)})
        self.next_id = 0

    def _word(self, low: int, high: int) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(low, high)))

    def work(self) -> Work:
        rng = self.rng
        authors = [(rng.choice(self.surnames), rng.choice(GIVEN)) for _ in range(rng.randint(1, 8))]
        title = " ".join(rng.choice(self.words) for _ in range(rng.randint(4, 16))).capitalize()
        if rng.random() < 0.2:
            title += ": " + " ".join(rng.choice(self.words) for _ in range(rng.randint(3, 6)))
        doi = f"10.{rng.randint(1000, 9999)}/{self._word(2, 3)}.{rng.randint(1, 10**6)}"
        first = rng.randint(2, 3000)
        return Work(
            title,
            authors,
            rng.randint(1990, 2024),
            rng.choice(self.venues),
            str(rng.randint(1, 120)),
            str(rng.randint(1, 12)),
            first,
            first + rng.randint(3, 25),
            doi if rng.random() < 0.7 else None,
            f"W{rng.randint(10**8, 10**10)}",
        )

    def paper(self, work: Work, **changes: Any) -> DedupPaper:
        self.next_id += 1
        paper = DedupPaper(
            id=self.next_id,
            title=work.title,
            authors=tuple(f"{surname}, {given}" for surname, given in work.authors),
            year=work.year,
            venue=work.venue,
            volume=work.volume,
            issue=work.issue,
            pages=f"{work.first_page}-{work.last_page}",
            doi=work.doi,
            arxiv_id=None,
            s2_id=None,
            openalex_id=None,
            pmid=None,
            filled_fields=9,
        )
        return replace(paper, **changes)

    # -- how another source writes the same work ----------------------------------------------------

    def variant(self, work: Work) -> DedupPaper:
        rng = self.rng
        changes: dict[str, Any] = {"title": self._title_variant(work.title)}
        authors = work.authors if rng.random() < 0.85 else work.authors[:1]  # "Smith J, et al."
        changes["authors"] = tuple(self._author_format(surname, given) for surname, given in authors)
        if rng.random() < 0.1:  # online first one year, in print the next
            changes["year"] = work.year + 1
        if rng.random() < 0.5:
            changes["doi"] = None
        if rng.random() < 0.3:
            changes["venue"] = " ".join(word[:4] for word in work.venue.split())
        if rng.random() < 0.2:
            changes["pages"] = f"{work.first_page}-{str(work.last_page)[-2:]}"
        if rng.random() < 0.2:
            changes["volume"] = changes["issue"] = None
        if rng.random() < 0.3:  # found again through OpenAlex
            changes["openalex_id"] = work.openalex_id
        if work.arxiv_id and rng.random() < 0.3:  # Semantic Scholar knows the preprint of the article
            changes["arxiv_id"] = work.arxiv_id
        return self.paper(work, **changes)

    def preprint(self, work: Work) -> DedupPaper:
        arxiv = f"{(work.year - 1) % 100:02d}{self.rng.randint(1, 12):02d}.{self.rng.randint(10000, 99999)}"
        work.arxiv_id = work.arxiv_id or arxiv
        arxiv = work.arxiv_id
        return self.paper(
            work,
            year=work.year - 1,
            venue="arXiv",
            volume=None,
            issue=None,
            pages=None,
            doi=f"10.48550/arXiv.{arxiv}" if self.rng.random() < 0.5 else None,
            arxiv_id=arxiv,
        )

    def _title_variant(self, title: str) -> str:
        rng = self.rng
        choice = rng.random()
        if choice < 0.3:
            return title.upper() if rng.random() < 0.3 else title.title()
        if choice < 0.5:
            words = title.split()
            at = rng.randrange(len(words))
            words[at] = words[at] + rng.choice([":", ",", " -", "."])
            return " ".join(words) + "."
        if choice < 0.7 and len(title) > 40:
            at = rng.randrange(len(title))
            return title[:at] + rng.choice("abcdefghij") + title[at + 1 :]
        if choice < 0.85:
            return "".join(DIACRITICS.get(c, c) if rng.random() < 0.1 else c for c in title)
        if choice < 0.92 and ": " in title:
            return title.split(": ")[0]  # the subtitle dropped
        if choice < 0.96:
            return title + rng.choice([" [Review]", " (Structured abstract)", ". [Chinese]"])
        return title

    def _author_format(self, surname: str, given: str) -> str:
        form = self.rng.randrange(4)
        if form == 0:
            return f"{given} {surname}"
        if form == 1:
            return f"{given[0]}. {surname}"
        if form == 2:
            return f"{surname.upper()} {given[0]}"
        return f"{surname}, {given[0]}."

    # -- near misses that must stay apart -------------------------------------------------------------

    def editorials(self, works: list[Work]) -> None:
        """An editor's "Editorial" in every issue of a few years of one journal."""
        editor = [(self.rng.choice(self.surnames), self.rng.choice(GIVEN))]
        venue = self.rng.choice(self.venues)
        for year in range(2010, 2016):
            for issue in range(1, 13):
                page = 1 + 100 * (issue - 1)
                works.append(
                    Work("Editorial", editor, year, venue, str(year - 1990), str(issue), page, page, None)
                )

    def series(self, works: list[Work]) -> None:
        """Part I / Part II, a survey of the same name, the same title ten years apart."""
        base = self.work()
        later = base.year + 10 if base.year < 2014 else base.year - 10
        works += [
            base,
            replace(base, title=base.title + ", part I", doi=None, copies=[]),
            replace(base, title=base.title + ", part II", first_page=base.last_page + 1, doi=None, copies=[]),
            replace(self.work(), title=base.title + ": A Survey", authors=base.authors, year=base.year),
            replace(self.work(), title=base.title, authors=base.authors, year=later),
        ]


def library(size: int, seed: int) -> tuple[list[DedupPaper], list[list[int]]]:
    """``size`` papers (shuffled ids) and the planted groups, as indexes into the list."""
    maker = Maker(seed)
    works: list[Work] = []
    for _ in range(40):
        maker.editorials(works)
    for _ in range(400):
        maker.series(works)
    while len(works) < size * 0.8:
        works.append(maker.work())
    papers: list[DedupPaper] = []
    for work in works:
        work.copies.append(maker.paper(work))
    rng = maker.rng
    made = len(works)
    while made < size:
        work = rng.choice(works)
        if work.title == "Editorial" or ": A Survey" in work.title or "part I" in work.title:
            continue
        work.copies.append(maker.preprint(work) if rng.random() < 0.15 else maker.variant(work))
        made += 1
    for work in works:
        papers += work.copies
    order = list(range(len(papers)))
    rng.shuffle(order)
    papers = [replace(papers[i], id=position + 1) for position, i in enumerate(order)]
    where = {old: new for new, old in enumerate(order)}
    groups, start = [], 0
    for work in works:
        indexes = [where[start + k] for k in range(len(work.copies))]
        start += len(work.copies)
        if len(indexes) > 1:
            groups.append(indexes)
    return papers, groups


# -- the measurement ---------------------------------------------------------------------------------


def _peak_mib() -> float:
    """This process's peak resident memory since the last reset (Linux ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Start the peak over from the current size, so it measures the engine and not the input."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


@dataclass(slots=True)
class Progress:
    """The progress calls the engine makes: how many, and the most papers of work between two."""

    calls: int = 0
    last: int = 0
    widest: int = 0

    def __call__(self, done: int, total: int) -> None:
        self.calls += 1
        self.widest = max(self.widest, done - self.last)
        self.last = done


def measure(papers: list[DedupPaper], groups: list[list[int]]) -> dict[str, Any]:
    progress = Progress()
    _reset_peak()
    before = _peak_mib()
    began = time.perf_counter()
    result = find_duplicates(papers, progress=progress)
    seconds = time.perf_counter() - began
    peak = _peak_mib()
    position = {paper.id: index for index, paper in enumerate(papers)}
    found = [[position[i] for i in group] for group in result.groups]
    return {
        "papers": len(papers),
        "planted_groups": len(groups),
        "planted_duplicates": sum(len(g) - 1 for g in groups),
        "found_groups": len(result.groups),
        "marked_duplicate": len(result.duplicate_of),
        "by_rule": result.by_rule,
        "seconds": round(seconds, 2),
        "papers_per_second": round(len(papers) / seconds),
        "rss_before_mib": round(before),
        "peak_rss_mib": round(peak),
        "progress_calls": progress.calls,
        "widest_progress_gap": progress.widest,
        **score(len(papers), groups, found),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    began = time.perf_counter()
    papers, groups = library(args.papers, args.seed)
    print(f"made {len(papers):,} papers in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    figures = measure(papers, groups)
    verdict = {
        f"<= {TARGET_SECONDS:.0f} s": figures["seconds"] <= TARGET_SECONDS,
        f"<= {TARGET_MIB:.0f} MiB peak RSS": figures["peak_rss_mib"] <= TARGET_MIB,
        "progress at least every 1,000 papers of work": figures["widest_progress_gap"] <= 1000,
    }
    for key, value in figures.items():
        print(f"{key:>28}: {value:.4f}" if isinstance(value, float) else f"{key:>28}: {value}")
    for target, met in verdict.items():
        print(f"{target:>46}: {'met' if met else 'MISSED'}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"dedup-scale-{stamp}.json"
    meta = {"stamp": stamp, "command": " ".join(sys.argv), "seed": args.seed}
    path.write_text(json.dumps({"meta": meta, "figures": figures, "targets": verdict}, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
