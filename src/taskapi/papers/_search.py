"""A search box's query, read by us and written for the engine: the user's text never reaches SQLite's
FTS5 or PostgreSQL's ``to_tsquery`` as syntax.

``parse_query`` reads the web-search syntax people type (as ``websearch_to_tsquery`` does): words (all
must match), ``"quoted phrases"``, ``OR`` between two words or phrases, ``-excluded`` words or phrases,
``graph*`` prefixes; anything else is a separator (``(``, ``:``, ``^``, ``NEAR``, ``AND`` are words or
nothing). Words are folded (accents removed, lower case) and English stopwords dropped outside phrases
(PostgreSQL's list, so both stores drop the same words). The result is a small tree, rendered per
engine with every word quoted: ``to_fts5`` and ``to_tsquery``.

A query with nothing left to search for (only stopwords, only symbols, only exclusions) raises
``EmptyQuery``; one too long or too wide raises ``InvalidQuery``: both are the caller's mistake (400).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

MAX_QUERY_CHARS = 1_000
MAX_TERMS = 64
"""Words and phrases of one query, excluded ones included."""
MAX_PHRASE_WORDS = 32
MAX_WORD_CHARS = 100

# PostgreSQL's english.stop (the snowball list), which its english_stem dictionary drops.
_ENGLISH_STOP = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
    her hers herself it its itself they them their theirs themselves what which who whom this that these
    those am is are was were be been being have has had having do does did doing a an the and but if or
    because as until while of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where
    why how all any both each few more most other some such no nor not only own same so than too very s
    t can will just don should now"""
STOPWORDS = frozenset(_ENGLISH_STOP.split())

_PIECE = re.compile(r'(?P<neg>-*)"(?P<phrase>[^"]*)"?|(?P<chunk>[^\s"]+)')
_WORD = re.compile(r"[^\W_]+")
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn"}
_SEPARATORS = frozenset("()[]{},;")
_T = TypeVar("_T")


class InvalidQuery(ValueError):
    """The query cannot be searched as it is (too long, too many words, a word too long)."""


class EmptyQuery(InvalidQuery):
    """Nothing is left to search for: only stopwords, symbols or excluded words."""


@dataclass(frozen=True, slots=True)
class Term:
    """One word, or a phrase (its words adjacent, in order); ``prefix``: its last word is a prefix."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def is_stopword(self) -> bool:
        """Nothing but stopwords: PostgreSQL would drop it whole, so both stores do."""
        return not self.prefix and all(word in STOPWORDS for word in self.words)


@dataclass(frozen=True, slots=True)
class Query:
    """Every group of ``required`` must match (a group: any of its terms), none of ``excluded``."""

    required: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()

    @property
    def words(self) -> list[str]:
        """The words the query asks for (not the excluded ones), each once, in order."""
        found = (word for group in self.required for term in group for word in term.words)
        return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class _Piece:
    term: Term | None  # None: the OR operator
    negated: bool = False


def fold_word(text: str) -> str:
    """Lower case without accents (``Müller`` -> ``muller``), as both engines fold what they index."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", stripped).lower()


def _printable(text: str) -> str:
    """Control, format, surrogate and unassigned characters (NUL included) and brackets become spaces:
    they separate words and mean nothing else."""
    return "".join(
        " " if char in _SEPARATORS or unicodedata.category(char) in _UNPRINTABLE else char for char in text
    )


def _words(text: str) -> tuple[str, ...]:
    words = tuple(_WORD.findall(fold_word(text)))
    if any(len(word) > MAX_WORD_CHARS for word in words):
        raise InvalidQuery(f"has a word longer than {MAX_WORD_CHARS} characters")
    if len(words) > MAX_PHRASE_WORDS:
        raise InvalidQuery(f"has a phrase of more than {MAX_PHRASE_WORDS} words")
    return words


def _pieces(text: str) -> Iterator[_Piece]:
    for match in _PIECE.finditer(text):
        phrase, chunk = match.group("phrase"), match.group("chunk")
        if phrase is not None:
            words = _words(phrase)
            if words:
                yield _Piece(Term(words), negated=bool(match.group("neg")))
            continue
        if chunk == "OR":
            yield _Piece(None)
            continue
        negated = chunk.startswith("-")
        words = _words(chunk)
        if words:
            yield _Piece(Term(words, prefix=chunk.rstrip().endswith("*")), negated=negated)


def _grouped(pieces: Iterator[_Piece]) -> tuple[list[list[Term]], list[Term]]:
    """``OR`` joins the positive terms on either side of it; anywhere else it is ignored."""
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joining = False
    after_positive = False
    for piece in pieces:
        if piece.term is None:
            joining = after_positive
        elif piece.negated:
            excluded.append(piece.term)
            joining = after_positive = False
        else:
            if joining:
                groups[-1].append(piece.term)
            else:
                groups.append([piece.term])
            joining, after_positive = False, True
    return groups, excluded


def parse_query(text: str) -> Query:
    """The query a user typed as a tree of quoted words (see the module's docstring)."""
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"must be at most {MAX_QUERY_CHARS} characters, got {len(text)}")
    groups, excluded = _grouped(_pieces(_printable(unicodedata.normalize("NFKC", text))))
    required = _unique(tuple(_unique(tuple(t for t in group if not t.is_stopword)) for group in groups))
    required = tuple(group for group in required if group)
    kept_out = _unique(tuple(t for t in excluded if not t.is_stopword))
    if sum(len(group) for group in required) + len(kept_out) > MAX_TERMS:
        raise InvalidQuery(f"must have at most {MAX_TERMS} words and phrases")
    if not required:
        if kept_out:
            raise EmptyQuery("only excludes words (-word): add a word to search for")
        if groups or excluded:
            raise EmptyQuery("has only common words (such as 'the', 'of'): add a more specific one")
        raise EmptyQuery("must contain a letter or a digit")
    return Query(required, kept_out)


def _unique(items: tuple[_T, ...]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))


# -- SQLite FTS5 --------------------------------------------------------------------------------------


def _fts5_term(term: Term) -> str:
    quoted = '"' + " ".join(term.words).replace('"', '""') + '"'
    return f"{quoted} *" if term.prefix else quoted


def _fts5_any(terms: tuple[Term, ...]) -> str:
    rendered = [_fts5_term(term) for term in terms]
    return rendered[0] if len(rendered) == 1 else "(" + " OR ".join(rendered) + ")"


def to_fts5(query: Query, columns: tuple[str, ...] | None = None) -> str:
    """An FTS5 MATCH expression: each term a double-quoted string (so never syntax), groups ``OR``ed,
    exclusions after ``NOT``; restricted to ``columns`` when given."""
    expression = " AND ".join(_fts5_any(group) for group in query.required)
    if query.excluded:
        expression = f"({expression}) NOT {_fts5_any(query.excluded)}"
    if columns:
        return "{" + " ".join(columns) + "} : (" + expression + ")"
    return expression


def to_fts5_title(query: Query) -> str:
    """An FTS5 MATCH expression for the papers whose title has every required group, and whose whole
    document (not only its title) has none of the excluded terms."""
    expression = "{title} : (" + " AND ".join(_fts5_any(group) for group in query.required) + ")"
    if query.excluded:
        expression = f"({expression}) NOT {_fts5_any(query.excluded)}"
    return expression


# -- PostgreSQL to_tsquery -----------------------------------------------------------------------------


def _lexeme(word: str) -> str:
    """A quoted operand of ``to_tsquery`` (the configuration still stems it, and drops a stopword)."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsquery_term(term: Term) -> str:
    operands = [_lexeme(word) for word in term.words]
    if term.prefix:
        operands[-1] += ":*"
    return operands[0] if len(operands) == 1 else "(" + " <-> ".join(operands) + ")"


def _tsquery_any(terms: tuple[Term, ...]) -> str:
    rendered = [_tsquery_term(term) for term in terms]
    return rendered[0] if len(rendered) == 1 else "(" + " | ".join(rendered) + ")"


def to_tsquery(query: Query, *, positive_only: bool = False) -> str:
    """A ``to_tsquery`` text: each word a quoted operand (never syntax), phrases with ``<->``,
    groups ``|``, exclusions ``!``; ``positive_only`` leaves the exclusions out."""
    parts = [_tsquery_any(group) for group in query.required]
    if not positive_only:
        parts.extend(f"!{_tsquery_term(term)}" for term in query.excluded)
    return " & ".join(parts)
