"""One paper as JSON (a record of ``POST /api/v1/papers``, a line of a JSON Lines file) as a
``PaperRecord``.

The fields are the library's own (``title``, ``abstract``, ``authors``, ``year``, ``venue``,
``volume``, ``issue``, ``pages``, ``doi``, ``arxiv_id``, ``s2_id``, ``openalex_id``, ``pmid``,
``pdf_url``, ``oa_status``). Unknown fields are ignored (exports carry extras); a known field of the
wrong type, or an identifier that is not one, is refused naming the field, because a value the caller
sent must not vanish in silence. ``null`` and ``""`` mean absent. Sizes are cut, not refused, as
``PaperRecord.normalised`` does for every door: a title at 2,000 characters, an abstract at 100,000,
the first 500 authors (real physics papers have thousands) of 300 characters each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from taskapi.domain import InvalidInput
from taskapi.papers.formats._common import NEEDS_TITLE_OR_ID
from taskapi.papers.records import (
    PaperRecord,
    normalise_arxiv_id,
    normalise_doi,
    normalise_openalex_id,
    normalise_pmid,
    normalise_s2_id,
    normalise_year,
)

_IDENTIFIERS: dict[str, tuple[Callable[[object], str | None], str]] = {
    "doi": (normalise_doi, "a DOI such as 10.1000/xyz (or its https://doi.org/ URL)"),
    "arxiv_id": (normalise_arxiv_id, "an arXiv id such as 2101.00001 or hep-ex/0307015"),
    "s2_id": (normalise_s2_id, "a Semantic Scholar paper id (40 hexadecimal digits)"),
    "openalex_id": (normalise_openalex_id, "an OpenAlex work id such as W2741809807"),
    "pmid": (normalise_pmid, "a PubMed id (digits)"),
}


class FieldError(ValueError):
    """A field of one record that is wrong; ``field`` names it (``year``, ``authors.2``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def record_from_json(value: object, where: str) -> PaperRecord:
    """``value`` (one JSON record) as a normalised ``PaperRecord`` with ``source`` "api".

    Raises ``InvalidInput(f"{where}.{field}", why)`` for a field of the wrong type and
    ``InvalidInput(where, why)`` for a value that is not an object or a record with neither a title
    nor an identifier."""
    if not isinstance(value, Mapping):
        raise InvalidInput(where, f"must be a JSON object, got {_kind(value)}")
    try:
        record = parse_record(value)
    except FieldError as exc:
        raise InvalidInput(f"{where}.{exc.field}", exc.message) from None
    if record.is_empty:
        raise InvalidInput(where, NEEDS_TITLE_OR_ID)
    return record


def parse_record(value: Mapping[str, Any]) -> PaperRecord:
    """The record of a JSON object, normalised; a ``FieldError`` names the first wrong field."""
    record = PaperRecord(
        title=_text(value, "title"),
        abstract=_text(value, "abstract"),
        authors=_authors(value.get("authors")),
        year=_year(value.get("year")),
        venue=_text(value, "venue"),
        volume=_text_or_number(value, "volume"),
        issue=_text_or_number(value, "issue"),
        pages=_text_or_number(value, "pages"),
        doi=_identifier(value, "doi"),
        arxiv_id=_identifier(value, "arxiv_id"),
        s2_id=_identifier(value, "s2_id"),
        openalex_id=_identifier(value, "openalex_id"),
        pmid=_identifier(value, "pmid"),
        pdf_url=_url(value, "pdf_url"),
        oa_status=_text(value, "oa_status"),
        source="api",
    )
    return record.normalised()


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _given(value: Mapping[str, Any], name: str) -> object:
    """The field's value, ``None`` for null or blank text."""
    field = value.get(name)
    return None if isinstance(field, str) and not field.strip() else field


def _text(value: Mapping[str, Any], name: str) -> str | None:
    field = _given(value, name)
    if field is None or isinstance(field, str):
        return field
    raise FieldError(name, f"must be a string or null, got {_kind(field)}")


def _text_or_number(value: Mapping[str, Any], name: str) -> str | None:
    field = _given(value, name)
    if isinstance(field, int) and not isinstance(field, bool):
        return str(field)
    if field is None or isinstance(field, str):
        return field
    raise FieldError(name, f"must be a string, an integer or null, got {_kind(field)}")


def _identifier(value: Mapping[str, Any], name: str) -> str | None:
    field = _given(value, name)
    if field is None:
        return None
    normalise, shape = _IDENTIFIERS[name]
    if not isinstance(field, str) and not (name == "pmid" and type(field) is int):
        raise FieldError(name, f"must be a string or null, got {_kind(field)}")
    normalised = normalise(field)
    if normalised is None:
        raise FieldError(name, f"must be {shape}, got {str(field)[:100]!r}")
    return normalised


def _authors(field: object) -> list[str]:
    if field is None:
        return []
    if not isinstance(field, list):
        raise FieldError("authors", f"must be a list of strings (display names), got {_kind(field)}")
    for index, name in enumerate(field):
        if not isinstance(name, str):
            raise FieldError(f"authors.{index}", f"must be a string (a display name), got {_kind(name)}")
    return field


def _year(field: object) -> int | None:
    if field is None or (isinstance(field, str) and not field.strip()):
        return None
    if isinstance(field, bool) or not isinstance(field, int | str):
        raise FieldError("year", f"must be an integer or a date such as 2020-05-01, got {_kind(field)}")
    year = normalise_year(field)
    if year is None:
        raise FieldError("year", f"must be a year between 1000 and 2999, got {str(field)[:100]!r}")
    return year


def _url(value: Mapping[str, Any], name: str) -> str | None:
    field = _text(value, name)
    if field is None or field.strip().lower().startswith(("http://", "https://")):
        return field
    raise FieldError(name, f"must be an http(s) URL, got {field[:100]!r}")
