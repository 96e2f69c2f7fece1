"""The words and two-word terms of a text, as the expansion counts them.

A text is lower-cased, cut at punctuation that ends a phrase (``. , ; : ! ? ( ) [ ] { } "``) and split
on white space. Each token becomes a *key*: its word without surrounding quotes, hyphens or a
possessive ``'s``, reduced to its singular by a light S-stemmer (so "networks" counts as "network",
"studies" as "study"), or ``""`` (a break) when it is a stopword, a number, a one-letter word or not a
word at all. A *term* is a key (a unigram) or two adjacent keys with no break between them (a
bigram): "learning of representations" has no bigram, "neural networks." gives ("neural", "network").

Speed is the point of the shapes here: 100,000 abstracts must be read in a few seconds, so a text is
turned into keys by C-level string methods and one dict lookup per token (``Vocabulary`` caches the
key of every token it has seen), and callers intersect the key list with sets instead of looping.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from importlib import resources

Bigram = tuple[str, str]
Term = str | Bigram
"""A unigram key or a bigram of keys."""

PHRASE_BREAKS = '.,;:!?()[]{}"'
"""Punctuation that ends a phrase: no bigram spans it."""
MAX_WORD_CHARS = 40
"""A longer token is junk (a URL, an OCR run-on) and breaks like a stopword."""
_BREAKS_TO_STOP = str.maketrans(dict.fromkeys(PHRASE_BREAKS, "."))
_STRIPPED = "'\u2019\u2018`-_*/\\|<>=+&%$#@~^"
_POSSESSIVES = ("'s", "\u2019s")
_KEPT_ENDINGS = ("ss", "us", "is", "ics")
_ES_AFTER = ("sses", "xes", "zes", "ches", "shes")
_UNCHANGED = frozenset({"series", "species", "means", "news", "lens", "bias", "gas", "alias", "atlas"})


def load_stopwords() -> frozenset[str]:
    """The stopword list shipped with the package (``stopwords.txt``: one word a line, ``#`` comments)."""
    text = resources.files(__package__ or __name__).joinpath("stopwords.txt").read_text(encoding="utf-8")
    words = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(word for word in words if word)


def singular(word: str) -> str:
    """A light S-stemmer (after Harman, 1991): plural endings only, so a key stays a readable word.
    ``studies`` -> ``study``, ``processes`` -> ``process``, ``images`` -> ``image``; words that
    only look plural (``analysis``, ``corpus``, ``robotics``, ``class``, ``series``) stay as they are."""
    if len(word) <= 3 or word[-1] != "s" or word in _UNCHANGED:
        return word
    if word.endswith("ies"):
        return word if word.endswith(("eies", "aies")) or len(word) <= 4 else word[:-3] + "y"
    if word.endswith(_ES_AFTER):
        return word[:-2]
    if word.endswith(_KEPT_ENDINGS):
        return word
    return word[:-1]


def _word_of(token: str) -> str:
    """The word in a raw token: normalised (ligatures of PDF text unfolded), without surrounding
    symbols or a possessive; ``""`` if what is left is not a word worth counting."""
    word = unicodedata.normalize("NFKC", token).strip(_STRIPPED)
    if word.endswith(_POSSESSIVES):
        word = word[:-2].rstrip(_STRIPPED)
    if not 2 <= len(word) <= MAX_WORD_CHARS or not word.replace("-", "").isalnum():
        return ""
    return word if any(char.isalpha() for char in word) else ""


class Vocabulary(dict[str, str]):
    """Raw token -> key (``""`` for a break), computed once per distinct token and cached.

    Also remembers how each key is best shown: its shortest spelling seen ("network" rather than
    "networks"), so a suggested term reads as a word of the corpus and not as a stem.
    """

    def __init__(self, stopwords: frozenset[str] | None = None) -> None:
        super().__init__()
        self.stopwords = load_stopwords() if stopwords is None else stopwords
        self._shown: dict[str, str] = {}

    def __missing__(self, token: str) -> str:
        key = self._key(token)
        self[token] = key
        return key

    def _key(self, token: str) -> str:
        word = _word_of(token)
        if not word or word in self.stopwords:
            return ""
        key = singular(word)
        if key in self.stopwords:
            return ""
        shown = self._shown.get(key)
        if shown is None or (len(word), word) < (len(shown), shown):
            self._shown[key] = word
        return key

    def keys_of(self, text: str) -> list[str]:
        """The key of every token of ``text`` in order, breaks included (as ``""``)."""
        return self.keys_of_lowered(text.lower())

    def keys_of_lowered(self, lowered: str) -> list[str]:
        if lowered.isascii():  # str.translate's fast path: one character for another, ASCII only
            lowered = lowered.translate(_BREAKS_TO_STOP).replace(".", " . ")
        else:
            for mark in PHRASE_BREAKS:
                lowered = lowered.replace(mark, " . ")
        return list(map(self.__getitem__, lowered.split()))

    def shown(self, term: Term) -> str:
        """How ``term`` is written in a result: its words' shortest spellings, space-separated."""
        if isinstance(term, str):
            return self._shown.get(term, term)
        return " ".join(self._shown.get(key, key) for key in term)


def unigrams(keys: list[str]) -> set[str]:
    """The distinct unigrams of a key list."""
    found = set(keys)
    found.discard("")
    return found


def split_terms(terms: Iterable[Term]) -> tuple[set[str], set[Bigram]]:
    """The unigrams and the bigrams of ``terms``, apart (the shapes the counting pass intersects)."""
    words = {term for term in terms if isinstance(term, str)}
    pairs: set[Bigram] = {term for term in terms if not isinstance(term, str)}
    return words, pairs


def term_counts(keys: list[str]) -> dict[Term, int]:
    """How often each unigram and bigram occurs in a key list (a feedback document's term vector)."""
    counts: dict[Term, int] = {}
    previous = ""
    for key in keys:
        if key:
            counts[key] = counts.get(key, 0) + 1
            if previous:
                pair = (previous, key)
                counts[pair] = counts.get(pair, 0) + 1
        previous = key
    return counts
