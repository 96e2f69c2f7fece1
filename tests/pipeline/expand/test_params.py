"""``keyword_expand``'s params: checked at creation (a 400 naming the field), read with the defaults of
PIPELINE.md, and the older ``keywords`` params still meaning the ``variants`` method."""

from __future__ import annotations

from typing import Any

import pytest

from taskapi.domain import InvalidInput
from taskapi.pipeline.params_expand import ExpandParams, validate_keyword_expand


def test_the_contracts_example_reads_with_its_defaults() -> None:
    params = ExpandParams.read({"query": " machine learning "})
    assert params == ExpandParams(
        method="prf",
        query="machine learning",
        keywords=(),
        max_terms=10,
        fb_docs=10,
        min_df=2,
        original_query_weight=0.5,
    )


def test_keywords_without_a_query_mean_the_variants_method() -> None:
    assert ExpandParams.read({"keywords": ["graph"]}).method == "variants"
    assert ExpandParams.read({"keywords": ["graph"], "query": "q"}).method == "prf"
    assert ExpandParams.read({"method": "variants"}).keywords == ()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"method": "bm25", "query": "q"}, "params.method"),
        ({"method": "prf"}, "params.query"),
        ({"method": "cooccurrence", "query": "  "}, "params.query"),
        ({"query": "q" * 1001}, "params.query"),
        ({"query": 3}, "params.query"),
        ({"query": "q", "max_terms": 0}, "params.max_terms"),
        ({"query": "q", "max_terms": 101}, "params.max_terms"),
        ({"query": "q", "fb_docs": 1001}, "params.fb_docs"),
        ({"query": "q", "min_df": 0}, "params.min_df"),
        ({"query": "q", "min_df": True}, "params.min_df"),
        ({"query": "q", "original_query_weight": 1.5}, "params.original_query_weight"),
        ({"keywords": "graph"}, "params.keywords"),
        ({"keywords": ["graph", 3]}, "params.keywords.1"),
    ],
)
def test_a_wrong_param_is_refused_at_creation_naming_it(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_keyword_expand(params)
    assert refused.value.field == field


def test_a_task_created_without_params_is_accepted_and_fails_when_it_runs() -> None:
    validate_keyword_expand({})  # the Task API creates any type with empty params
    with pytest.raises(InvalidInput) as refused:
        ExpandParams.read({})
    assert refused.value.field == "params.query"


def test_the_bounds_are_inclusive() -> None:
    params = {
        "query": "q",
        "max_terms": 100,
        "fb_docs": 1000,
        "min_df": 1_000_000,
        "original_query_weight": 0,
    }
    validate_keyword_expand(params)
    assert ExpandParams.read({"query": "q", "max_terms": 1, "fb_docs": 1, "min_df": 1}).max_terms == 1
