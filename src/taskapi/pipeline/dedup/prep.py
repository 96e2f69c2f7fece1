"""Stage 1, prep: each paper once into the comparable form the later stages read (no pair work here).

The title is prepared in ``prep_title``, the authors in ``authors``; here identifiers are normalised
again (an arXiv DOI also gives the arXiv id), and volume, issue, pages and venue are reduced to what
the vetoes compare. Mistyped fields count as missing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from taskapi.papers.records import (
    fold,
    normalise_arxiv_id,
    normalise_doi,
    normalise_openalex_id,
    normalise_pmid,
    normalise_s2_id,
)
from taskapi.pipeline.dedup.authors import authors_of
from taskapi.pipeline.dedup.model import DedupPaper
from taskapi.pipeline.dedup.prep_title import (
    STOPWORDS,
    clean_title,
    continued_prefixes,
    is_generic,
    qualifiers,
    title_numbers,
)

PREPRINT_DOI_PREFIXES = ("10.48550/", "10.1101/")
"""arXiv's and bioRxiv/medRxiv's DOIs: a preprint's DOI differs from its journal version's."""
PREPRINT_VENUES = frozenset({"arxiv", "biorxiv", "medrxiv", "ssrn", "preprints", "research square", "corr"})
BLOCK_AUTHORS = 5
"""Authors whose surnames enter a paper's blocking keys: the first ones and the last one (those that
two copies of a work keep; a list cut with "et al." keeps the first), and the first author's other
reading (a name whose parts may have been swapped)."""
VENUES_CACHED = 65536
"""Distinct venues whose prepared words are kept (a library repeats few venues many times)."""
_DIGITS = re.compile(r"\d+")
_PAGES = re.compile(r"^\s*[A-Za-z]{0,2}(\d{1,7})(?:\s*[-\u2010-\u2015]+\s*[A-Za-z]{0,2}(\d{1,7}))?\s*$")


@dataclass(slots=True)
class Prepared:
    """A paper in the form the blocking and matching stages compare."""

    id: int
    title: str  # the folded title, "" when missing
    title_raw: str | None
    prefixes: frozenset[str]  # the folded title cut before a subtitle, where long enough
    numbers: tuple[str, ...]  # the numbers a title carries ("part 2", "type 1", a year)
    qualifiers: frozenset[str]  # "adult", "pediatric", "reply" ...
    author_keys: tuple[str, ...]  # every key of every author ("smith j"; "smith" without a given name)
    all_surnames: tuple[str, ...]
    surnames: tuple[str, ...]  # the surnames that enter the blocking keys
    year: int | None
    doi: str | None
    doi_preprint: bool
    arxiv_id: str | None
    s2_id: str | None
    openalex_id: str | None
    pmid: str | None
    venue: tuple[str, ...]  # folded venue words without stopwords
    preprint: bool  # a preprint's record (DOI, arXiv id or venue says so): venue and volume differ
    volume: str | None
    issue: str | None
    first_page: str | None
    pages: tuple[int, int] | None  # a clean page range ("2243-5" is 2243-2245), else None
    generic: bool  # a title that many different papers carry ("Editorial", "Reply")
    has_pdf: bool
    filled: int


def first_number(value: object) -> str | None:
    """The first run of digits without leading zeros ("S358" -> "358", "Pt 11" -> "11")."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    match = _DIGITS.search(value[:100])
    return (match.group(0).lstrip("0") or "0") if match else None


def volume_key(value: object) -> str | None:
    """A volume's first number, or its folded text when it has none ("Ph.D." is ``phd``)."""
    number = first_number(value)
    if number is not None or not isinstance(value, str):
        return number
    return fold(value[:40]).replace(" ", "") or None


def page_range(value: object) -> tuple[int, int] | None:
    """``(first, last)`` of a clean page field ("123-130", "S12-S19", "2243-5", "e12724"); ``None``
    for what exports make of pages otherwise ("Suppl-29", "t-8", "62 p")."""
    if not isinstance(value, str) or not (match := _PAGES.match(value[:50])):
        return None
    first, last = match.group(1), match.group(2) or match.group(1)
    if len(last) < len(first):  # "2243-5"
        last = first[: len(first) - len(last)] + last
    return int(first), int(last)


@functools.lru_cache(maxsize=VENUES_CACHED)
def venue_words(venue: str | None) -> tuple[str, ...]:
    """The venue's words without stopwords and numbers ("AMCIS 2017 Proceedings": the year is no
    part of the venue's name)."""
    if not venue:
        return ()
    return tuple(word for word in fold(venue[:300]).split() if word not in STOPWORDS and not word.isdigit())


def _is_preprint(doi: str | None, arxiv_id: str | None, venue: tuple[str, ...]) -> bool:
    if arxiv_id or (doi and doi.startswith(PREPRINT_DOI_PREFIXES)):
        return True
    return bool(venue) and (venue[0] in PREPRINT_VENUES or " ".join(venue[:2]) in PREPRINT_VENUES)


def _author_fields(names: object) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """``(every key, every surname, the surnames for the blocking keys)`` of a paper's authors."""
    authors = authors_of(names if isinstance(names, tuple | list) else ())
    if not authors:
        return (), (), ()
    keys = tuple(dict.fromkeys(key for one in authors for key in one.keys))
    surnames = tuple(dict.fromkeys(name for one in authors for name in one.surnames))
    picked = (*authors[:BLOCK_AUTHORS], *authors[BLOCK_AUTHORS:][-1:])
    blocking = tuple(dict.fromkeys([*(one.surnames[0] for one in picked), *authors[0].surnames[1:]]))
    return keys, surnames, blocking


def _filled(paper: DedupPaper) -> int:
    """Fields the paper has, for choosing the canonical when the caller did not count them."""
    values = (paper.title, paper.year, paper.venue, paper.volume, paper.issue, paper.pages, paper.doi)
    return paper.filled_fields or sum(1 for value in values if value) + (1 if paper.authors else 0)


def prepare(paper: DedupPaper) -> Prepared:
    """One paper's comparable form. Mistyped fields (the caller's data is hostile) count as missing."""
    keys, surnames, blocking = _author_fields(paper.authors)
    cleaned = clean_title(paper.title if isinstance(paper.title, str) else None)
    title = fold(cleaned)
    doi = normalise_doi(paper.doi)
    arxiv_id = normalise_arxiv_id(paper.arxiv_id) or (normalise_arxiv_id(doi) if doi else None)
    venue = venue_words(paper.venue if isinstance(paper.venue, str) else None)
    year = paper.year if isinstance(paper.year, int) and not isinstance(paper.year, bool) else None
    return Prepared(
        id=paper.id,
        title=title,
        title_raw=paper.title if isinstance(paper.title, str) else None,
        prefixes=continued_prefixes(cleaned),
        numbers=title_numbers(title),
        qualifiers=qualifiers(title),
        author_keys=keys,
        all_surnames=surnames,
        surnames=blocking,
        year=year,
        doi=doi,
        doi_preprint=bool(doi and doi.startswith(PREPRINT_DOI_PREFIXES)),
        arxiv_id=arxiv_id,
        s2_id=normalise_s2_id(paper.s2_id),
        openalex_id=normalise_openalex_id(paper.openalex_id),
        pmid=normalise_pmid(paper.pmid),
        venue=venue,
        preprint=_is_preprint(doi, arxiv_id, venue),
        volume=volume_key(paper.volume),
        issue=first_number(paper.issue),
        first_page=first_number(paper.pages),
        pages=page_range(paper.pages),
        generic=is_generic(title),
        has_pdf=paper.has_pdf is True,
        filled=_filled(paper),
    )
