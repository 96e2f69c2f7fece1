"""A paper as the library receives it (``PaperRecord``) and as it keeps it (``Paper``), and the
normalisation of identifiers that makes two records of one work meet.

Every door into the library (the sources of ``search``, the import formats, ``POST /api/v1/papers``)
produces ``PaperRecord`` values; the repository upserts them. This module imports nothing of ours.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapidfuzz import fuzz

IDENTIFIERS = ("doi", "arxiv_id", "s2_id", "openalex_id", "pmid")
"""The identifier fields, in the order an upsert tries them."""
TEXT_FIELDS = ("title", "abstract", "venue", "volume", "issue", "pages", "pdf_url", "oa_status")
MAX_AUTHORS = 500
MAX_FIELD_CHARS = 100_000
"""Longest text field kept (an abstract is a few thousand characters; a longer one is cut)."""

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*|info:doi/)", re.IGNORECASE)
_DOI_SHAPE = re.compile(r"^10\.\d{4,9}/\S+$")
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.IGNORECASE)
_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z.\-]*/\d{7})(?:v\d+)?$", re.IGNORECASE)
_ARXIV_PREFIX = re.compile(
    r"^(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/|arxiv:\s*)", re.IGNORECASE
)
_OPENALEX = re.compile(r"^(?:https?://openalex\.org/)?(W\d+)$", re.IGNORECASE)
_PMID = re.compile(r"^(?:pmid:\s*)?(\d{1,9})$", re.IGNORECASE)
_YEAR_MIN, _YEAR_MAX = 1000, 2999


def normalise_doi(value: object) -> str | None:
    """``10.1000/xyz`` lower-case, without ``https://doi.org/``, ``doi:`` or trailing punctuation;
    ``None`` for anything that is not a DOI."""
    if not isinstance(value, str):
        return None
    text = _DOI_PREFIX.sub("", value.strip()).strip().rstrip(".,;").lower()
    return text if _DOI_SHAPE.match(text) else None


def normalise_arxiv_id(value: object) -> str | None:
    """``2101.00001`` or ``hep-ex/0307015`` without its version, from an id, an arXiv URL or a
    ``10.48550/arXiv.X`` DOI; ``None`` for anything else."""
    if not isinstance(value, str):
        return None
    text = _ARXIV_PREFIX.sub("", value.strip()).strip()
    if text.lower().endswith(".pdf"):
        text = text[:-4]
    doi = normalise_doi(text)
    if doi is not None:
        match = _ARXIV_DOI.match(doi)
        if match is None:
            return None
        text = match.group(1)
    new = _ARXIV_NEW.match(text)
    if new:
        return new.group(1)
    old = _ARXIV_OLD.match(text)
    return old.group(1).lower() if old else None


def normalise_openalex_id(value: object) -> str | None:
    """``W2741809807`` from an id or an ``https://openalex.org/W...`` URL."""
    if not isinstance(value, str):
        return None
    match = _OPENALEX.match(value.strip())
    return match.group(1).upper() if match else None


def normalise_pmid(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        value = str(value)
    if not isinstance(value, str):
        return None
    match = _PMID.match(value.strip())
    return match.group(1).lstrip("0") or None if match else None


def normalise_s2_id(value: object) -> str | None:
    """Semantic Scholar's paper id (40 hex digits), lower-case."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if re.fullmatch(r"[0-9a-f]{40}", text) else None


def normalise_year(value: object) -> int | None:
    """A plausible publication year from an int or the first four digits of a date-like text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if _YEAR_MIN <= value <= _YEAR_MAX else None
    if isinstance(value, str):
        match = re.search(r"\b(\d{4})\b", value)
        if match:
            return normalise_year(int(match.group(1)))
    return None


def clean_text(value: object, limit: int = MAX_FIELD_CHARS) -> str | None:
    """Text with its whitespace collapsed (hard-wrapped abstracts), NUL removed, bounded; ``None`` if
    empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    # Lone surrogates (from JSON's "\ud800") are not text either store can keep.
    value = value.encode("utf-8", "ignore").decode("utf-8") if not value.isascii() else value
    text = " ".join(value.replace("\x00", "").split())
    return text[:limit] or None


def fold(text: str) -> str:
    """Lower-case ASCII with punctuation as spaces: how two spellings of one title are compared."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", ascii_text))


TITLES_DIFFER_BELOW = 70.0
"""``fuzz.ratio`` of folded titles under which two records sharing an identifier are different works
(a journal supplement's abstracts share one DOI); above it, spelling and punctuation differ only."""


def titles_clearly_differ(a: str | None, b: str | None) -> bool:
    """Whether two titles name different works; a missing title differs from nothing."""
    if not a or not b:
        return False
    left, right = fold(a), fold(b)
    if not left or not right or left == right:
        return False
    return fuzz.ratio(left, right) < TITLES_DIFFER_BELOW


@dataclass(slots=True)
class PaperRecord:
    """One record of a paper from one place (a source's answer, an import file, an API call).

    Identifiers are normalised by ``normalised()``; ``source`` says where it came from (a source
    name such as ``semantic_scholar``, or ``import``/``api``); ``pdf_candidates`` are the URLs where
    that place says an open PDF is, best first.
    """

    title: str | None = None
    abstract: str | None = None
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    venue: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    s2_id: str | None = None
    openalex_id: str | None = None
    pmid: str | None = None
    pdf_url: str | None = None
    oa_status: str | None = None
    source: str = "api"
    pdf_candidates: list[str] = field(default_factory=list)

    def normalised(self) -> PaperRecord:
        """A copy with identifiers normalised (an arXiv DOI also gives the arXiv id), text cleaned."""
        doi = normalise_doi(self.doi)
        arxiv = normalise_arxiv_id(self.arxiv_id) or (normalise_arxiv_id(doi) if doi else None)
        authors = [a for a in (clean_text(x, 300) for x in self.authors[:MAX_AUTHORS]) if a]
        candidates = [u for u in (clean_text(x, 2000) for x in self.pdf_candidates) if u]
        pdf_url = clean_text(self.pdf_url, 2000)
        return PaperRecord(
            title=clean_text(self.title, 2000),
            abstract=clean_text(self.abstract),
            authors=authors,
            year=normalise_year(self.year),
            venue=clean_text(self.venue, 1000),
            volume=clean_text(self.volume, 100),
            issue=clean_text(self.issue, 100),
            pages=clean_text(self.pages, 100),
            doi=doi,
            arxiv_id=arxiv,
            s2_id=normalise_s2_id(self.s2_id),
            openalex_id=normalise_openalex_id(self.openalex_id),
            pmid=normalise_pmid(self.pmid),
            pdf_url=pdf_url,
            oa_status=clean_text(self.oa_status, 50),
            source=self.source,
            pdf_candidates=list(dict.fromkeys(candidates)),
        )

    def identifiers(self) -> dict[str, str]:
        """The identifiers this record carries (normalise first)."""
        return {name: value for name in IDENTIFIERS if (value := getattr(self, name))}

    @property
    def is_empty(self) -> bool:
        """Neither a title nor an identifier: nothing to keep or to match on."""
        return not self.title and not self.identifiers()


@dataclass(frozen=True, slots=True)
class PaperFile:
    """A paper's stored PDF: where in the file store, how big, where it was fetched from."""

    sha256: str
    bytes: int
    url: str | None
    content_type: str
    path: str
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class Paper:
    """A paper of a project's library."""

    id: int
    project_id: int
    title: str | None
    abstract: str | None
    authors: list[str]
    year: int | None
    venue: str | None
    volume: str | None
    issue: str | None
    pages: str | None
    doi: str | None
    arxiv_id: str | None
    s2_id: str | None
    openalex_id: str | None
    pmid: str | None
    pdf_url: str | None
    oa_status: str | None
    sources: list[str]
    pdf_candidates: list[str]
    duplicate_of: int | None
    created_at: datetime
    updated_at: datetime
    file: PaperFile | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ListedPaper:
    """A paper of a list; with ``q``, its relevance (``score``, higher is better) and the passage that
    matched (``snippet``: HTML-safe, the matched words in ``<b>...</b>``)."""

    paper: Paper
    score: float | None = None
    snippet: str | None = None


@dataclass(frozen=True, slots=True)
class PaperDetail:
    """One paper in full, with the summary of its extracted text (``None`` until ``ocr`` read it)."""

    paper: Paper
    text: dict[str, Any] | None
