"""CSL-JSON files (Zotero's "CSL JSON" export, citeproc's input), read with the standard ``json``.

A file is an array of items (a single item object is taken as one). Fields: ``title``, ``author``
(``{family, given}`` with particles and suffix, or ``{literal}``), ``issued`` (``date-parts``, ``raw``
or ``literal``), ``container-title``, ``volume``, ``issue``, ``page``, ``DOI``, ``PMID``, ``URL``,
``abstract``, and the arXiv id from ``number``/``URL``/``note``/``archive_location`` where Zotero
puts it. A field of the wrong type is taken as missing (exports vary; the record is kept); an item
that is not an object fails the import naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taskapi.papers.formats._common import (
    ImportedRecord,
    ImportFormatError,
    find_arxiv_id,
    finish,
    first_text,
    page_range,
    pdf_url_of,
    person_name,
)
from taskapi.papers.records import MAX_AUTHORS, PaperRecord, normalise_year


def load_json(text: str, path: Path) -> Any:
    """``text`` as JSON; an ``ImportFormatError`` naming the line and column of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            path, f"line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise ImportFormatError(path, None, "JSON nested too deeply") from None


def parse_csl_json(text: str, path: Path) -> list[ImportedRecord]:
    """Every item of a CSL-JSON file, in order (``record 1`` is the first)."""
    if not text.strip():
        return []
    items = load_json(text, path)
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ImportFormatError(path, None, "CSL-JSON must be an array of items")
    return [_imported(item, path, f"record {number}") for number, item in enumerate(items, start=1)]


def _imported(item: object, path: Path, where: str) -> ImportedRecord:
    if not isinstance(item, dict):
        raise ImportFormatError(path, where, f"a CSL-JSON item must be an object, got {type(item).__name__}")
    return ImportedRecord(finish(_record(item), path, where), (), where)


def _record(item: dict[str, Any]) -> PaperRecord:
    get = item.get
    return PaperRecord(
        title=first_text(get("title")),
        abstract=first_text(get("abstract")),
        authors=_authors(get("author")),
        year=_year(get("issued")),
        venue=first_text(get("container-title")),
        volume=first_text(get("volume")),
        issue=first_text(get("issue")),
        pages=page_range(first_text(get("page"))),
        doi=first_text(get("DOI")),
        arxiv_id=find_arxiv_id(*(get(key) for key in ("number", "URL", "note", "archive_location"))),
        pmid=first_text(get("PMID")),
        pdf_url=pdf_url_of(get("URL")),
    )


def _authors(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    names = (_name(person) for person in value[:MAX_AUTHORS] if isinstance(person, dict))
    return [name for name in names if name]


def _name(person: dict[str, Any]) -> str | None:
    literal = first_text(person.get("literal"))
    if literal:
        return person_name(literal)
    keys = ("given", "dropping-particle", "non-dropping-particle", "family", "suffix")
    return person_name(*(person.get(key) for key in keys))


def _year(issued: object) -> int | None:
    """The year of a CSL date: ``{"date-parts": [[2020, 5]]}``, ``{"raw": "2020-05"}`` or
    ``{"literal": "2020"}`` (and a bare text, which some exporters write)."""
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        first = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], list) else []
        candidates = [first[0] if first else None, issued.get("raw"), issued.get("literal")]
    else:
        candidates = [issued]
    for candidate in candidates:
        year = normalise_year(candidate)
        if year:
            return year
    return None
