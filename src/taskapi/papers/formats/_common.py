"""What every import format shares: the imported record, the error that names the bad spot, and the
small field helpers the formats use to map their own field names onto ``PaperRecord``."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from taskapi.papers.records import IDENTIFIERS, PaperRecord, normalise_arxiv_id

NEEDS_TITLE_OR_ID = f"needs a title or an identifier ({', '.join(IDENTIFIERS)})"

_ARXIV_IN_TEXT = re.compile(
    r"arxiv(?:\.org/(?:abs|pdf)/|\s*:\s*|\s+)([a-z][a-z.\-]*/\d{7}|\d{4}\.\d{4,5})", re.IGNORECASE
)
_DASHES = re.compile(r"\s*[-\u2010-\u2015\u2212]+\s*")


class ImportFormatError(ValueError):
    """A file that cannot be imported; the message names the file, the spot (``line 12``, ``entry
    smith2020 (line 3)``, ``record 3``) and what is wrong there, so a person can fix it."""

    def __init__(self, path: Path, where: str | None, reason: str) -> None:
        super().__init__(f"{path}: {where}: {reason}" if where else f"{path}: {reason}")
        self.path = path
        self.where = where
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImportedRecord:
    """One record of an import file: the paper, the local PDFs the export names that exist
    (absolute paths), where in the file it is, and the PDFs it names that are not there (for the
    caller to report: an export copied without its ``files/`` folder, a Windows path on Linux)."""

    record: PaperRecord
    pdf_files: tuple[Path, ...]
    where: str
    missing_files: tuple[Path, ...] = ()


def finish(record: PaperRecord, path: Path, where: str) -> PaperRecord:
    """The record as the library takes it: normalised, ``source`` "import"; an error if it has
    neither a title nor an identifier (nothing to keep or to match on)."""
    done = replace(record, source="import").normalised()
    if done.is_empty:
        raise ImportFormatError(path, where, NEEDS_TITLE_OR_ID)
    return done


def text_of(value: object) -> str | None:
    """A text or a number as text (exports write ``volume`` as either); anything else is missing."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def first_text(*values: object) -> str | None:
    """The first of ``values`` that is a non-blank text or a number."""
    for value in values:
        text = text_of(value)
        if text and text.strip():
            return text
    return None


def find_arxiv_id(*values: object) -> str | None:
    """The first arXiv id among ``values``: an id, an arXiv URL or DOI, or a text naming one
    (``arXiv preprint arXiv:2101.00001``, Zotero's note ``arXiv: 2101.00001 [cs]``)."""
    for value in values:
        if not isinstance(value, str):
            continue
        direct = normalise_arxiv_id(value)
        if direct:
            return direct
        match = _ARXIV_IN_TEXT.search(value)
        if match:
            return normalise_arxiv_id(match.group(1))
    return None


def pdf_url_of(url: object) -> str | None:
    """``url`` if it is an http(s) link to a ``.pdf`` (a candidate for ``crawl``), else ``None``;
    a landing page is not a PDF URL."""
    if not isinstance(url, str) or len(url) > 2000:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.path.lower().endswith(".pdf"):
        return url.strip()
    return None


def page_range(pages: str | None) -> str | None:
    """``12--34`` and ``12 - 34`` (or an en dash) as ``12-34``: one spelling of a page range."""
    return _DASHES.sub("-", pages).strip("-") or None if pages else None


def join_pages(start: str | None, end: str | None) -> str | None:
    """RIS ``SP``/``EP`` as one range (``SP`` alone may already hold ``12-34``)."""
    if start and end and end.strip() != start.strip():
        return page_range(f"{start}-{end}")
    return page_range(start or end)


def person_name(*parts: object) -> str | None:
    """A display name, given names first (``Jane Smith``), from the non-blank text parts in order."""
    words = [text.strip() for part in parts if (text := text_of(part)) and text.strip()]
    return " ".join(words) or None


def last_first_name(name: str) -> str | None:
    """``Smith, Jane`` (RIS ``AU``) as ``Jane Smith``; ``Smith, Jane, Jr.`` as ``Jane Smith Jr.``;
    a name without a comma stays as it is."""
    parts = [part.strip() for part in name.split(",")]
    if len(parts) == 1:
        return person_name(parts[0])
    return person_name(parts[1], parts[0], *parts[2:])
