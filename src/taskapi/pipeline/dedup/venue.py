"""Whether two venues are one: exports write a journal in full, abbreviated, contracted, as an
acronym, or with a conference's edition and year around it."""

from __future__ import annotations

from rapidfuzz import fuzz

MIN_ACRONYM = 3
VENUE_SPELLING = 90.0
"""``fuzz.ratio`` of two venues' letters from which they are one venue spelt two ways."""


def venues_differ(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two venues clearly name different places: neither abbreviates the other ("Dtsch
    Arztebl Int" is "Deutsches Arzteblatt International": each word of one is a word of the other cut
    or contracted, in order), nor are they the same letters spelt a little differently. A missing
    venue differs from nothing."""
    if not a or not b or a == b:
        return False
    if _abbreviates(a, b) or _abbreviates(b, a) or _acronym(a, b) or _acronym(b, a):
        return False
    return fuzz.ratio("".join(a), "".join(b), score_cutoff=VENUE_SPELLING) < VENUE_SPELLING


def _acronym(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """A word of ``a`` is the initials of ``b`` ("ICIS" and "International Conference on Information
    Systems")."""
    initials = "".join(word[0] for word in b)
    return len(initials) >= MIN_ACRONYM and initials in a


def _abbreviates(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    if len(short) > len(long):
        return False
    position = 0
    for word in short:
        while position < len(long) and not _contracts(word, long[position]):
            position += 1
        if position == len(long):
            return False
        position += 1
    return True


def _contracts(short: str, word: str) -> bool:
    """``short`` is ``word`` cut or contracted: same first letter, its letters in order ("dtsch")."""
    if short[0] != word[0] or len(short) > len(word):
        return False
    letters = iter(word)
    return all(letter in letters for letter in short)
