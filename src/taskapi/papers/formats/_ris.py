"""RIS files (Zotero, EndNote, Mendeley, the databases' exports), parsed by rispy.

rispy drops what it cannot place without a word: a record cut off before its ``ER`` (a truncated
file), or a record whose ``TY`` line is malformed (its tags join nothing, its ``ER`` ends nothing).
So the file's record structure is checked first, with rispy's own line reader, and such a file fails
naming the line. Fields: ``TI``/``T1``, ``AU``/``A1`` (``Smith, Jane`` becomes ``Jane Smith``),
``PY``/``Y1``/``DA``, ``JF``/``JO``/``T2``/``J2``, ``VL``, ``IS``, ``SP``-``EP``, ``DO``, ``AB``/``N2``,
``UR`` (arXiv links; a PDF link becomes ``pdf_url``), ``AN`` when ``DB``/``DP`` is PubMed, and every
``L1`` (a local PDF, a ``file://`` URL, or an http(s) PDF link).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import rispy  # type: ignore[import-untyped]
from rispy.config import LIST_TYPE_TAGS  # type: ignore[import-untyped]

from taskapi.papers.formats import _attachments
from taskapi.papers.formats._common import (
    ImportedRecord,
    ImportFormatError,
    find_arxiv_id,
    finish,
    first_text,
    join_pages,
    last_first_name,
    pdf_url_of,
)
from taskapi.papers.records import MAX_AUTHORS, PaperRecord, normalise_year

_LIST_TAGS = [*LIST_TYPE_TAGS, "L1"]  # rispy keeps only the first L1 otherwise
_LINE_READER = rispy.RisParser()
_VENUE_KEYS = ("alternate_title3", "journal_name", "secondary_title", "alternate_title1")  # JF JO T2 J2
_PUBMED = re.compile(r"pubmed|medline|\bnlm\b", re.IGNORECASE)


def parse_ris(text: str, path: Path) -> list[ImportedRecord]:
    """Every record of a RIS file, in file order; an ``ImportFormatError`` for a broken structure,
    a record without a title or an identifier, or a file of no records."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = _record_lines(text.split("\n"), path)
    if not starts and text.strip():
        raise ImportFormatError(path, None, "contains no RIS records (a record starts with 'TY  - ')")
    entries: list[dict[str, Any]] = rispy.loads(text, list_tags=_LIST_TAGS)
    if len(entries) != len(starts):  # the check above mirrors rispy; a difference is a bug of ours
        raise ImportFormatError(path, None, f"read {len(entries)} records of {len(starts)}")
    return [
        _imported(entry, path, f"record {number} (line {line})")
        for number, (entry, line) in enumerate(zip(entries, starts, strict=True), start=1)
    ]


def _record_lines(lines: list[str], path: Path) -> list[int]:
    """The line number of each record's ``TY``, after checking every record ends with ``ER`` before
    the next ``TY`` or the end of the file, and no ``ER`` ends nothing."""
    starts: list[int] = []
    open_at: int | None = None
    for number, line in enumerate(lines, start=1):
        if open_at is None:
            if line.startswith(_LINE_READER.START_TAG):  # how rispy finds a start
                starts.append(open_at := number)
            elif _LINE_READER.parse_line(line)[0] == _LINE_READER.END_TAG:
                raise ImportFormatError(
                    path, f"line {number}", "'ER' without a record (is a 'TY' malformed?)"
                )
            continue
        tag = _LINE_READER.parse_line(line)[0]
        if tag == _LINE_READER.START_TAG:
            raise ImportFormatError(path, f"line {open_at}", f"the record has no 'ER' before line {number}")
        if tag == _LINE_READER.END_TAG:
            open_at = None
    if open_at is not None:
        raise ImportFormatError(path, f"line {open_at}", "the record has no 'ER' (is the file cut off?)")
    return starts


def _texts(entry: dict[str, Any], key: str) -> list[str]:
    value = entry.get(key)
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _authors(entry: dict[str, Any]) -> list[str]:
    names = [*_texts(entry, "authors"), *_texts(entry, "first_authors")][: MAX_AUTHORS * 2]
    return list(dict.fromkeys(name for raw in names if (name := last_first_name(raw))))


def _pmid(entry: dict[str, Any]) -> str | None:
    database = " ".join(_texts(entry, "name_of_database") + _texts(entry, "database_provider"))
    return first_text(entry.get("accession_number")) if _PUBMED.search(database) else None


def _record(entry: dict[str, Any], pdf_links: list[str]) -> PaperRecord:
    get = entry.get
    urls = _texts(entry, "urls")
    return PaperRecord(
        title=first_text(get("title"), get("primary_title")),
        abstract=first_text(get("abstract"), get("notes_abstract")),
        authors=_authors(entry),
        year=_year(entry),
        venue=first_text(*(get(key) for key in _VENUE_KEYS)),
        volume=first_text(get("volume")),
        issue=first_text(get("number")),
        pages=join_pages(first_text(get("start_page")), first_text(get("end_page"))),
        doi=first_text(get("doi")),
        arxiv_id=find_arxiv_id(*urls, *_texts(entry, "notes")),
        pmid=_pmid(entry),
        pdf_url=next(iter(pdf_links), None) or next((u for u in urls if pdf_url_of(u)), None),
    )


def _imported(entry: dict[str, Any], path: Path, where: str) -> ImportedRecord:
    links = _texts(entry, "file_attachments1")
    local = [p for link in links if (p := _attachments.local_path(link.strip()))]
    pdf_links = [link.strip() for link in links if link.strip().lower().startswith(("http://", "https://"))]
    record = _record(entry, pdf_links)
    pdfs, missing = _attachments.resolve(local, path.parent)
    return ImportedRecord(finish(record, path, where), pdfs, where, missing)


def _year(entry: dict[str, Any]) -> int | None:
    for key in ("year", "publication_year", "date"):
        year = normalise_year(first_text(entry.get(key)))
        if year:
            return year
    return None
