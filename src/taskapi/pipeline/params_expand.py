"""The params of ``keyword_expand``, checked when a task is created and read by its handler.

``{"query": "machine learning", "max_terms": 10, "fb_docs": 10, "min_df": 2, "method": "prf"}``
(PIPELINE.md), plus RM3's ``original_query_weight`` (0..1, default 0.5). The method ``variants`` takes
``keywords`` (a list of strings) instead of a query, and is the method when ``keywords`` come without a
query and no method is named: the params of the first ``keyword_expand``.

Like ``search``, a task created with no query at all is accepted (the Task API creates any type with
empty params) and fails when it runs, saying so; a query or method that is given must be right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from taskapi.domain import InvalidInput
from taskapi.pipeline.params import MAX_QUERY_CHARS, _int, _number

ExpandMethod = Literal["prf", "cooccurrence", "variants"]
METHODS: tuple[ExpandMethod, ...] = ("prf", "cooccurrence", "variants")
MAX_KEYWORDS = 1_000


@dataclass(frozen=True, slots=True)
class ExpandParams:
    method: ExpandMethod
    query: str | None
    keywords: tuple[str, ...]
    max_terms: int
    fb_docs: int
    min_df: int
    original_query_weight: float

    @classmethod
    def read(cls, params: Mapping[str, Any], *, query_required: bool = True) -> ExpandParams:
        keywords = _keywords(params.get("keywords"))
        method = _method(
            params.get("method"), keywords_only=params.get("query") is None and keywords is not None
        )
        query = _query(params.get("query"), required=query_required and method != "variants")
        return cls(
            method=method,
            query=query,
            keywords=keywords or (),
            max_terms=_int(params, "max_terms", 10, 1, 100),
            fb_docs=_int(params, "fb_docs", 10, 1, 1_000),
            min_df=_int(params, "min_df", 2, 1, 1_000_000),
            original_query_weight=_number(params, "original_query_weight", 0.5, 0.0, 1.0),
        )


def _method(value: object, *, keywords_only: bool) -> ExpandMethod:
    if value is None:
        return "variants" if keywords_only else "prf"
    if value not in METHODS:
        raise InvalidInput("params.method", f"must be one of {', '.join(METHODS)}, got {value!r}")
    return value


def _query(value: object, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("params.query", "must be a non-empty string")
    if len(value) > MAX_QUERY_CHARS:
        raise InvalidInput("params.query", f"must be at most {MAX_QUERY_CHARS} characters")
    return value.strip()


def _keywords(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_KEYWORDS:
        raise InvalidInput("params.keywords", f"must be a list of at most {MAX_KEYWORDS} strings")
    for index, keyword in enumerate(value):
        if not isinstance(keyword, str) or len(keyword) > MAX_QUERY_CHARS:
            raise InvalidInput(
                f"params.keywords.{index}", f"must be a string of at most {MAX_QUERY_CHARS} characters"
            )
    return tuple(value)


def validate_keyword_expand(params: dict[str, Any]) -> None:
    """Every param given must be right; a query is required at creation only when a method that needs
    one is named (``{}`` is accepted, as the Task API creates any type with empty params)."""
    ExpandParams.read(params, query_required=params.get("method") is not None)
