"""Author names to comparable keys: surname and first initial, whatever the export's format.

"Smith, John A.", "John A. Smith", "J. A. Smith", "Smith JA" and "SMITH J" all give ``smith j``. The
surname's last word is kept ("van der Heijden" and "Heijden" meet, so do "Radice-Neumann" and
"Radice Neumann"), because exports drop or split particles and double names, not the last word.
A name an export split at its hyphen ("Andres, Gamboa O" for "Andres-Gamboa, O") also gets the key
its other spelling has (``gamboa o``), so does a name whose parts may have been swapped ("Xiaoguang,
Wang" also gives ``wang x``); a name without a given name (``wright``) meets any initial.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_AUTHORS = 100
"""Authors of one paper that are compared (a consortium paper lists thousands)."""

_WORD = re.compile(r"[A-Za-z]+")
_NOT_NAMES = frozenset({"et", "al", "and", "others", "jr", "sr", "ii", "iii", "iv"})


@dataclass(frozen=True, slots=True)
class Author:
    """One author's keys (``surname initial``, or ``surname`` alone) and the surnames they name."""

    keys: tuple[str, ...]
    surnames: tuple[str, ...]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _is_initials(token: str) -> bool:
    """ "J", "JA", "J.A.", "J.-F." as written after a surname (PubMed's "Smith JA")."""
    letters = token.replace(".", "").replace("-", "")
    return 0 < len(letters) <= 3 and letters.isalpha() and letters.isupper()


def _words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text) if word.lower() not in _NOT_NAMES]


def _key(surname: str, given: list[str]) -> str:
    return f"{surname.lower()} {given[0][0].lower()}" if given else surname.lower()


def _split(text: str) -> tuple[list[str], list[str], list[str]]:
    """``(surname words, given words, the given part's raw tokens)`` of one name."""
    if "," in text:
        surname_part, given_part = text.split(",", 1)
        return _words(surname_part), _words(given_part), given_part.split()
    tokens = [t for t in text.split() if _words(t)]
    if len(tokens) > 1 and _is_initials(tokens[-1]):
        return _words(" ".join(tokens[:-1])), _words(tokens[-1]), tokens[-1:]
    words = _words(" ".join(tokens))
    return words[-1:], words[:-1], []


def author(name: str) -> Author | None:
    """The keys of one display name; ``None`` when nothing name-like is left."""
    surnames, given, raw_given = _split(_ascii(name).strip())
    if not surnames:
        return None
    keys = [_key(surnames[-1], given)]
    names = [surnames[-1].lower()]
    split_at_hyphen = len(raw_given) >= 2 and not _is_initials(raw_given[0]) and _is_initials(raw_given[-1])
    if split_at_hyphen and (first := _words(raw_given[0])):  # "Andres, Gamboa O"
        keys.append(_key(first[-1], _words(raw_given[-1])))
        names.append(first[-1].lower())
    elif len(raw_given) == 1 and len(given) == len(surnames) == 1 and not _is_initials(raw_given[0]):
        keys.append(_key(given[0], surnames))
        names.append(given[0].lower())
    return Author(tuple(keys), tuple(names))


def author_key(name: str) -> str | None:
    """The main key of one display name (``smith j``)."""
    found = author(name)
    return found.keys[0] if found else None


def authors_of(names: tuple[str, ...] | list[str]) -> tuple[Author, ...]:
    """A paper's authors in their order, without repeats, bounded."""
    found: dict[str, Author] = {}
    for name in names[:MAX_AUTHORS]:
        if isinstance(name, str) and (one := author(name)):
            found.setdefault(one.keys[0], one)
    return tuple(found.values())
