"""Stage 3, match: whether two candidate papers are one work, as readable rules with explicit vetoes.

- Identifier rule: a shared identifier is one work unless the titles clearly differ (one DOI is
  sometimes given to every abstract of a journal supplement).
- Title rule: normalised titles with ``fuzz.ratio`` >= the threshold (never ``token_set_ratio``: it
  scores "Graph Attention Networks" against "Graph Attention Networks: A Survey" 100), or a long
  title (60 characters or more) that the other continues with a subtitle or a translation at the
  same volume or first page; the same numbers ("Part I" / "Part II") and qualifiers ("adult" /
  "pediatric", "reply", "survey") in both titles; years within the tolerance; a shared author
  surname and initial (or both without authors).
- Location rule: the same multi-page range in the same volume and issue, a shared author, years
  within the tolerance: one work whatever the titles say (an export's translated title).
- Vetoes: both have DOIs that differ (unless one is a preprint's); the venues clearly differ while
  volume and first page do not both agree; volume and first page both differ. A title that many
  papers carry ("Editorial", "Editor's Comments", "Reply") must agree on volume or first page and
  differ in none of volume, issue, first page and venue. A preprint's venue, volume and pages are
  not its journal version's, so they veto nothing. Exports mangle pages ("Suppl-29", "t-8") too
  often for a first page alone to veto an ordinary title.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from taskapi.papers.records import titles_clearly_differ
from taskapi.pipeline.dedup.model import DedupOptions
from taskapi.pipeline.dedup.prep import Prepared
from taskapi.pipeline.dedup.venue import venues_differ


def identifier_agrees(a: Prepared, b: Prepared) -> bool:
    """Two papers sharing an identifier are one work unless their titles clearly differ."""
    return not titles_clearly_differ(a.title_raw, b.title_raw)


def title_match(a: Prepared, b: Prepared, options: DedupOptions) -> bool:
    """The title rule and its vetoes; cheap tests first (most candidate pairs fail one)."""
    if not a.title or not b.title:
        return False
    if not years_agree(a.year, b.year, options.year_tolerance) or not numbers_agree(a, b):
        return False
    if a.qualifiers != b.qualifiers or not authors_agree(a, b):
        return False
    if not titles_alike(a, b, options.title_threshold):
        return False
    return not vetoed(a, b)


def location_match(a: Prepared, b: Prepared, options: DedupOptions) -> bool:
    """The location rule: the same multi-page range (from page 1 only with the same volume and issue:
    article numbers restart there), no volume, issue or DOI that differs, years within the tolerance
    and a shared author is one work whatever its titles say (a translation, a cut subtitle)."""
    pages = a.pages
    if pages is None or pages != b.pages or pages[1] <= pages[0]:
        return False
    if pages[0] == 1 and not (_same(a.volume, b.volume) and _same(a.issue, b.issue)):
        return False
    if _differ(a.volume, b.volume) or _differ(a.issue, b.issue) or _differ(a.doi, b.doi):
        return False
    if (
        not a.title
        or not b.title
        or not a.author_keys
        or not years_agree(a.year, b.year, options.year_tolerance)
    ):
        return False
    return authors_agree(a, b) and numbers_agree(a, b)


def titles_alike(a: Prepared, b: Prepared, threshold: float) -> bool:
    """``fuzz.ratio`` >= threshold; or one long title continued in the other by a subtitle or a
    translation ("X" and "X. Surgical considerations", "X; <its translation>") where volume or first
    page say it is the same place (else "X" and "X: A Survey" by the same authors would meet)."""
    if fuzz.ratio(a.title, b.title, score_cutoff=threshold) >= threshold:
        return True
    if not (a.title in b.prefixes or b.title in a.prefixes):
        return False
    return _same(a.volume, b.volume) or _same(a.first_page, b.first_page)


def years_agree(a: int | None, b: int | None, tolerance: int) -> bool:
    """Years within the tolerance; a missing year contradicts nothing."""
    return a is None or b is None or abs(a - b) <= tolerance


def numbers_agree(a: Prepared, b: Prepared) -> bool:
    """The same numbers in both titles; "COVID-19" and "COVID19" agree (the digits are the same)."""
    return a.numbers == b.numbers or "".join(a.numbers) == "".join(b.numbers)


def authors_agree(a: Prepared, b: Prepared) -> bool:
    """At least one author surname + initial in common (an author without a given name meets any
    initial), or neither lists authors."""
    if not a.author_keys or not b.author_keys:
        return not a.author_keys and not b.author_keys
    if any(key in b.author_keys for key in a.author_keys):
        return True
    return _bare_meets(a, b) or _bare_meets(b, a)


def _bare_meets(a: Prepared, b: Prepared) -> bool:
    return any(" " not in key and key in b.all_surnames for key in a.author_keys)


def _differ(a: str | None, b: str | None) -> bool:
    return bool(a and b and a != b)


def _same(a: str | None, b: str | None) -> bool:
    return bool(a and a == b)


def vetoed(a: Prepared, b: Prepared) -> bool:
    """Evidence that two look-alike titles are different works."""
    if _differ(a.doi, b.doi) and not (a.doi_preprint or b.doi_preprint):
        return True
    if a.preprint or b.preprint:
        return False
    venue_differs = venues_differ(a.venue, b.venue)
    if a.generic or b.generic:
        located = _same(a.volume, b.volume) or _same(a.first_page, b.first_page)
        differs = (
            _differ(a.volume, b.volume) or _differ(a.issue, b.issue) or _differ(a.first_page, b.first_page)
        )
        return not located or differs or venue_differs
    same_place = (_same(a.volume, b.volume) and _same(a.first_page, b.first_page)) or (
        a.pages is not None and a.pages == b.pages and a.pages[1] > a.pages[0]
    )
    if venue_differs and not same_place:
        return True
    return _differ(a.volume, b.volume) and _differ(a.first_page, b.first_page)
