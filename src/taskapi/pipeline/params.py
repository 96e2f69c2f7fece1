"""The params of the pipeline's task types, checked when a task is created and read by its handler.

Each ``validate_*`` raises ``InvalidInput`` naming the field (``params.limit``) so that a bad task is a
400 at creation instead of a failure later; each ``*Params.read`` turns checked params into values with
the defaults of PIPELINE.md. Unknown keys are left alone (a pipeline run adds its own).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskapi.domain import MAX_ID, InvalidInput

SOURCE_NAMES = ("semantic_scholar", "arxiv", "openalex", "crossref")
MAX_SEARCH_LIMIT = 10_000
MAX_QUERY_CHARS = 1_000
MAX_CRAWL_PAPERS = 100_000
MAX_CRAWL_BYTES = 2_000_000_000
MAX_CRAWL_TIMEOUT = 3_600.0
_YEAR_RANGE = re.compile(r"^\s*(\d{4})?\s*(-)?\s*(\d{4})?\s*$")


def _field(name: str) -> str:
    return f"params.{name}"


def _int(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(_field(name), f"must be an integer between {low} and {high}, got {value!r}")
    return value


def _number(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(_field(name), f"must be a number between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInput(_field(name), f"must be true or false, got {value!r}")
    return value


def parse_year(value: object) -> tuple[int | None, int | None]:
    """``"2019-2024"``, ``"2020"``, ``"2019-"``, ``"-2024"`` or ``2020`` as (from, to); ``None``: no bound."""
    if value is None:
        return None, None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    match = _YEAR_RANGE.match(value) if isinstance(value, str) else None
    if match is None or not (match.group(1) or match.group(3)):
        raise InvalidInput(_field("year"), f'must be a year or a range such as "2019-2024", got {value!r}')
    first = int(match.group(1)) if match.group(1) else None
    last = int(match.group(3)) if match.group(3) else None
    if match.group(2) is None:  # a single year
        last = first
    if first is not None and last is not None and first > last:
        raise InvalidInput(_field("year"), f"the range starts after it ends: {value!r}")
    return first, last


@dataclass(frozen=True, slots=True)
class SearchParams:
    query: str
    sources: tuple[str, ...]
    limit: int
    year_from: int | None
    year_to: int | None
    open_access_only: bool

    @classmethod
    def read(cls, params: Mapping[str, Any], *, query_required: bool = True) -> SearchParams:
        query = params.get("query")
        if query is None and not query_required:
            query = "-"
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput(_field("query"), "must be a non-empty string")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(_field("query"), f"must be at most {MAX_QUERY_CHARS} characters")
        year_from, year_to = parse_year(params.get("year"))
        return cls(
            query=query.strip(),
            sources=_sources(params.get("sources")),
            limit=_int(params, "limit", 100, 1, MAX_SEARCH_LIMIT),
            year_from=year_from,
            year_to=year_to,
            open_access_only=_bool(params, "open_access_only", False),
        )


def _sources(value: object) -> tuple[str, ...]:
    if value is None:
        return SOURCE_NAMES
    if not isinstance(value, list) or not value:
        raise InvalidInput(_field("sources"), f"must be a non-empty list of {', '.join(SOURCE_NAMES)}")
    for index, name in enumerate(value):
        if name not in SOURCE_NAMES:
            raise InvalidInput(
                _field(f"sources.{index}"),
                f"unknown source {name!r}: expected one of {', '.join(SOURCE_NAMES)}",
            )
    return tuple(dict.fromkeys(value))


@dataclass(frozen=True, slots=True)
class DedupParams:
    title_threshold: float
    year_tolerance: int
    dry_run: bool

    @classmethod
    def read(cls, params: Mapping[str, Any]) -> DedupParams:
        records = params.get("records")
        if records is not None and not isinstance(records, list):
            raise InvalidInput(_field("records"), "must be a list of objects (the params-only mode)")
        return cls(
            title_threshold=_number(params, "title_threshold", 95.0, 50.0, 100.0),
            year_tolerance=_int(params, "year_tolerance", 1, 0, 100),
            dry_run=_bool(params, "dry_run", False),
        )


@dataclass(frozen=True, slots=True)
class CrawlParams:
    paper_ids: tuple[int, ...] | None
    max_papers: int
    max_bytes: int
    timeout_s: float
    overwrite: bool

    @classmethod
    def read(cls, params: Mapping[str, Any]) -> CrawlParams:
        return cls(
            paper_ids=_paper_ids(params.get("paper_ids")),
            max_papers=_int(params, "max_papers", 50, 1, MAX_CRAWL_PAPERS),
            max_bytes=_int(params, "max_bytes", 50_000_000, 1_024, MAX_CRAWL_BYTES),
            timeout_s=_number(params, "timeout_s", 60.0, 0.1, MAX_CRAWL_TIMEOUT),
            overwrite=_bool(params, "overwrite", False),
        )


def _paper_ids(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput(
            _field("paper_ids"), f"must be null or a list of paper ids, got {type(value).__name__}"
        )
    if len(value) > MAX_CRAWL_PAPERS:
        raise InvalidInput(_field("paper_ids"), f"must hold at most {MAX_CRAWL_PAPERS} ids")
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_ID:
            raise InvalidInput(
                _field(f"paper_ids.{index}"), f"must be a paper id (a positive integer), got {item!r}"
            )
    return tuple(dict.fromkeys(value))


def validate_search(params: dict[str, Any]) -> None:
    """Every param given must be right; a task created without a query (the Task API lets a caller
    create any type with empty params) is accepted and fails when it runs, saying so."""
    SearchParams.read(params, query_required=False)


def validate_dedup(params: dict[str, Any]) -> None:
    DedupParams.read(params)


def validate_crawl(params: dict[str, Any]) -> None:
    CrawlParams.read(params)
