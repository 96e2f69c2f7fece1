"""How fast a 10,000-entry Zotero-like BibTeX file imports (deselected by default: ``-m bench``).

The file is built to cost what a real export costs: every title with Zotero's capital-protecting
braces, distinct authors (a third with LaTeX accents, so the decoder's cache does not flatter), an
abstract of ~1,000 characters on 70 % of entries (a third of them with ``\\%`` or ``{\\textless}``),
pages, DOI and a ``file`` field on each.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from taskapi.papers.formats import read_records

pytestmark = pytest.mark.bench

ENTRIES = 10_000
WORDS = [
    *("deep", "learning", "graph", "neural", "network", "attention", "transformer", "model", "data"),
    *("analysis", "cats", "study", "effect", "systematic", "review", "protein", "cohort", "randomised"),
    *("trial", "outcome", "clinical", "evidence", "inference", "bayesian"),
]
ACCENTS = (r"{\"u}", r"{\'e}", r"{\o}", r"{\c c}", r"{\~n}")


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS)


def _name(rng: random.Random, accents: bool) -> str:
    letters = "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3)).capitalize()
    return letters[:3] + rng.choice(ACCENTS) + letters[3:] if accents and rng.random() < 0.33 else letters


def _entry(index: int, rng: random.Random) -> str:
    title = " ".join(
        "{" + w.capitalize() + "}" if rng.random() < 0.4 else w for w in (_word(rng) for _ in range(10))
    )
    authors = " and ".join(f"{_name(rng, True)}, {_name(rng, False)}" for _ in range(rng.randint(1, 8)))
    abstract = ""
    if rng.random() < 0.7:
        words = [_word(rng) for _ in range(120)]
        if rng.random() < 0.33:
            words.insert(60, rng.choice([r"95\% of", r"{\textless}0.05", r"{\&}"]))
        abstract = f"\tabstract = {{{' '.join(words)}}},\n"
    return (
        f"@article{{key_{index},\n\ttitle = {{{title}}},\n\tvolume = {{{index % 50}}},\n"
        f"\tdoi = {{10.1000/bench.{index}}},\n{abstract}\tjournal = {{Journal of {{Things}}}},\n"
        f"\tauthor = {{{authors}}},\n\tyear = {{{2000 + index % 25}}},\n\tpages = {{12--34}},\n"
        f"\tfile = {{Full Text PDF:files/{index}/paper.pdf:application/pdf}},\n}}\n"
    )


def test_bibtex_import_speed(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "library.bib"
    path.write_text("\n".join(_entry(index, rng) for index in range(ENTRIES)), encoding="utf-8")

    started, cpu_started = time.perf_counter(), time.process_time()
    records = read_records(path)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started

    assert len(records) == ENTRIES
    rate = ENTRIES / elapsed
    size = path.stat().st_size / 1e6
    print(
        f"\nBibTeX import: {ENTRIES:,} entries ({size:.1f} MB) in {elapsed:.2f} s ({cpu:.2f} s CPU)"
        f" = {rate:,.0f} records/s"
    )
    assert rate > 500, f"{rate:.0f} records/s"
