"""Title preparation: the normalised title and what the match stage reads off it.

The contract's normalisation (NFKD, ASCII, lower-case, punctuation to spaces) comes after the noise
that exports add and that is no part of a title is cut: HTML, a trailing "[Chinese]" language tag,
"[Review] [33 refs]", "(Structured abstract)", an "[Erratum appears in ...]" note, Ovid's "LA: Chi"
and "<ORIGINAL> ..." tails. Numbers ("Part II", "Five-year", "type 1") and qualifiers ("adult",
"pediatric", "reply") are kept aside: titles a few letters apart that differ in them are other works.
"""

from __future__ import annotations

import html
import re

from taskapi.papers.records import fold

MAX_TITLE_CHARS = 1000
"""Longest title compared (a title field holding a whole abstract is cut)."""
CONTINUED_TITLE_CHARS = 60
"""A title at least this long, followed in another by a subtitle or a translation, is that title."""
GENERIC_WORDS = 3
GENERIC_CHARS = 60
STOPWORDS_TEXT = "a an the of in on at and or for to from with by as is are does do its their into via"
STOPWORDS = frozenset(STOPWORDS_TEXT.split())
NOTHING: frozenset[str] = frozenset()
"""The one empty set most titles share (a library of 100,000 papers holds no 200,000 empty sets)."""

_TAGS = re.compile(r"<(?!ORIGINAL>)[^>]{0,200}>")
_NOISE = re.compile(
    r"(\s*\[(?:[A-Z][a-z]+|review|abstract[^\]]{0,40}|\d+ refs)\]\.?"  # [Chinese], [Review], [33 refs]
    r"|\s*\([^()\d]{1,60}\)\.?"  # (Structured abstract), (Brief record)
    r"|\s*[.(\[]\s*erratum (?:appears )?in\b.*"  # [Erratum appears in N Engl J Med 2009;360:2487]
    r"|\s+(?:LA|TO):\s.*"  # Ovid's language and original-title notes
    r"|\s*<ORIGINAL>.*)+\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SUBTITLE = re.compile(r"\s*(?:[:;?!]|\.\s|\s-+\s|\s\()")
_GENERIC = re.compile(
    r"^(?:editor|comment|reply|response|letter|erratum|correct|corrigend|retract|introduc|preface|forew"
    r"|in this issue|book review|news|obituar|announce|index|contents|abstracts|highlights|guest)"
)
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9"}
_NUMBERED = re.compile(
    r"\b(?:part|phase|type|stage|grade|class|volume|vol|chapter|section) (i{1,3}|iv|vi{0,3}|ix)\b"
)
_NUMBER_WORDS = {
    word: str(value)
    for value, words in enumerate(
        (
            "zero",
            "one first",
            "two second",
            "three third",
            "four fourth",
            "five fifth",
            "six sixth",
            "seven seventh",
            "eight eighth",
            "nine ninth",
            "ten tenth",
            "eleven",
            "twelve",
        )
    )
    for word in words.split()
}
_NUMBER = re.compile(r"\d+|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b")
_QUALIFIERS = {
    "adult": "adult",
    "adults": "adult",
    "pediatric": "child",
    "paediatric": "child",
    "child": "child",
    "children": "child",
    "infant": "infant",
    "infants": "infant",
    "women": "women",
    "men": "men",
    "rat": "rat",
    "rats": "rat",
    "mouse": "mouse",
    "mice": "mouse",
    "vivo": "vivo",
    "vitro": "vitro",
    "protocol": "protocol",
    "comment": "comment",
    "commentary": "comment",
    "reply": "reply",
    "response": "reply",
    "erratum": "erratum",
    "correction": "erratum",
    "corrigendum": "erratum",
    "retraction": "retraction",
    "retracted": "retraction",
    "update": "update",
    "updated": "update",
    "survey": "survey",
}


def clean_title(title: str | None) -> str:
    """The title without the noise exports add to it, not yet folded; "" when there is none."""
    if not title:
        return ""
    text = html.unescape(_TAGS.sub(" ", title[:MAX_TITLE_CHARS]))
    return _NOISE.sub("", text) or text


def continued_prefixes(cleaned: str) -> frozenset[str]:
    """The folded title cut at each subtitle or translation mark (": ", ". ", "; ", " - ", " ("), where
    at least ``CONTINUED_TITLE_CHARS`` long: another copy of the work may stop there."""
    prefixes = set()
    for mark in _SUBTITLE.finditer(cleaned):
        head = fold(cleaned[: mark.start()])
        if len(head) >= CONTINUED_TITLE_CHARS:
            prefixes.add(head)
    return frozenset(prefixes) if prefixes else NOTHING


def is_generic(folded: str) -> bool:
    """A title that many different papers carry: "Editorial", "Editor's comments", "Reply", or any
    title of three words or fewer. Such papers are one only where their volume, issue and pages say so."""
    return len(folded.split()) <= GENERIC_WORDS or (
        len(folded) < GENERIC_CHARS and bool(_GENERIC.search(folded) or "editor" in folded)
    )


def title_numbers(folded: str) -> tuple[str, ...]:
    """The numbers of a folded title, as digits ("Part II", "five-year", "type 1"): two titles that
    differ in them are different works."""
    with_digits = _NUMBERED.sub(lambda m: m.group(0).rsplit(" ", 1)[0] + " " + _ROMAN[m.group(1)], folded)
    return tuple(_NUMBER_WORDS.get(number, number) for number in _NUMBER.findall(with_digits))


def qualifiers(folded: str) -> frozenset[str]:
    """The words of a folded title that make a near-identical title another work: the population
    ("adult", "pediatric", "rats"), the setting ("in vivo", "in vitro", "protocol") and the kind of
    item ("reply", "erratum", "update", "survey")."""
    found = [_QUALIFIERS[word] for word in folded.split() if word in _QUALIFIERS]
    return frozenset(found) if found else NOTHING


def content_words(folded: str) -> tuple[str, ...]:
    return tuple(word for word in folded.split() if word not in STOPWORDS)
