"""Reading fields out of a source's answer without trusting it: a missing or mistyped field becomes
``None`` (or empty), never an exception that would lose the page. Plus the two text rebuilds the
sources need: Crossref's JATS abstracts and OpenAlex's inverted-index abstracts."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from taskapi.papers.records import MAX_FIELD_CHARS

MAX_ABSTRACT_WORDS = 20_000
"""Most (word, position) pairs rebuilt from an inverted index (an abstract has a few hundred)."""
_HEADINGS = frozenset({"abstract", "summary", "graphical abstract"})
_TRAILING_DIGITS = re.compile(r"(\d+)/?$")


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def dig(value: object, *keys: str) -> object:
    """``value[k1][k2]...`` through dicts only; ``None`` as soon as a step is missing or not a dict."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def text(value: object) -> str | None:
    """A non-blank string; numbers as text (a volume given as ``25``); anything else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def first_text(value: object) -> str | None:
    """The first non-blank string of a list (Crossref's ``title``), or the value itself if a string."""
    if isinstance(value, list):
        return next((t for t in map(text, value) if t), None)
    return text(value)


def integer(value: object) -> int | None:
    """An int, or a string of digits (Semantic Scholar's ``total`` is sometimes one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def trailing_digits(value: object) -> str | None:
    """``29456894`` from ``https://pubmed.ncbi.nlm.nih.gov/29456894``."""
    match = _TRAILING_DIGITS.search(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def urls(*values: object) -> list[str]:
    """The http(s) URLs among ``values``, in order, without repeats (``""`` and nulls dropped)."""
    found = [v.strip() for v in values if isinstance(v, str) and v.strip().lower().startswith("http")]
    return list(dict.fromkeys(found))


def abstract_from_inverted_index(index: object) -> str | None:
    """OpenAlex's ``{"word": [positions]}`` back into text, words in position order.

    Sorted pairs rather than an array indexed by position: a hostile position of 10**9 costs nothing.
    """
    pairs: list[tuple[int, str]] = []
    for word, positions in as_dict(index).items():
        for position in as_list(positions):
            if isinstance(position, int) and not isinstance(position, bool) and position >= 0:
                pairs.append((position, word))
        if len(pairs) > MAX_ABSTRACT_WORDS:
            break
    pairs.sort()
    return " ".join(word for _, word in pairs[:MAX_ABSTRACT_WORDS]) or None


class _JatsText(HTMLParser):
    """Collects the text of a JATS fragment, dropping a leading "Abstract" heading. ``HTMLParser`` is
    forgiving (unclosed tags, undeclared ``jats:`` prefixes), linear, and expands no custom entity."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")
        if tag.endswith("title"):
            self._title = []

    def handle_endtag(self, tag: str) -> None:
        if tag.endswith("title") and self._title is not None:
            heading = " ".join("".join(self._title).split())
            if heading.lower() not in _HEADINGS:
                self.parts.append(heading)
            self._title = None
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        (self._title if self._title is not None else self.parts).append(data)

    def result(self) -> str | None:
        self.close()
        if self._title is not None:  # a title never closed is text like any other
            self.parts += [" ", *self._title]
        return " ".join("".join(self.parts).split()) or None


def jats_to_text(markup: object) -> str | None:
    """Plain text of a JATS (or HTML) abstract, whitespace collapsed."""
    if not isinstance(markup, str):
        return None
    parser = _JatsText()
    parser.feed(markup[: MAX_FIELD_CHARS * 2])
    return parser.result()


def page_range(first: object, last: object) -> str | None:
    """``"1655-1664"`` from a first and last page; the first alone when the last is missing or equal."""
    start, end = text(first), text(last)
    if start and end and end != start:
        return f"{start}-{end}"
    return start
