"""``ocr`` params: PIPELINE.md's defaults, and a 400 naming the field for anything else."""

from __future__ import annotations

from typing import Any

import pytest

from taskapi.domain import InvalidInput
from taskapi.pipeline.params_ocr import OcrParams, validate_ocr


def test_the_defaults_are_the_contracts() -> None:
    params = OcrParams.read({})
    assert params == OcrParams(
        paper_ids=None, engine="auto", min_chars_per_page=50, dpi=200, max_pages=300, lang="eng"
    )
    assert OcrParams.read({name: None for name in ("paper_ids", "engine", "dpi", "lang")}) == params


def test_every_value_in_range_is_accepted() -> None:
    given = {
        "paper_ids": [3, 1, 3],
        "engine": "tesseract",
        "min_chars_per_page": 0,
        "dpi": 600,
        "max_pages": 5000,
        "lang": "eng+chi_sim",
        "pipeline_run": 7,  # a pipeline run's own key is left alone
    }
    params = OcrParams.read(given)
    assert params.paper_ids == (3, 1) and params.engine == "tesseract" and params.lang == "eng+chi_sim"
    options = params.read_options()
    assert (options.engine, options.dpi, options.max_pages, options.min_chars_per_page) == (
        "tesseract",
        600,
        5000,
        0,
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"engine": "pymupdf"}, "params.engine"),
        ({"engine": ["auto"]}, "params.engine"),
        ({"dpi": 49}, "params.dpi"),
        ({"dpi": 601}, "params.dpi"),
        ({"dpi": 200.5}, "params.dpi"),
        ({"dpi": True}, "params.dpi"),
        ({"max_pages": 0}, "params.max_pages"),
        ({"max_pages": 5001}, "params.max_pages"),
        ({"min_chars_per_page": -1}, "params.min_chars_per_page"),
        ({"min_chars_per_page": 10_001}, "params.min_chars_per_page"),
        ({"lang": "en"}, "params.lang"),
        ({"lang": "ENG"}, "params.lang"),
        ({"lang": "eng; rm -rf /"}, "params.lang"),
        ({"lang": "../../etc/passwd"}, "params.lang"),
        ({"lang": "eng+de"}, "params.lang"),
        ({"lang": "e" * 101}, "params.lang"),
        ({"lang": 7}, "params.lang"),
        ({"paper_ids": "all"}, "params.paper_ids"),
        ({"paper_ids": [1, 0]}, "params.paper_ids.1"),
        ({"paper_ids": [True]}, "params.paper_ids.0"),
    ],
)
def test_a_bad_param_is_refused_naming_its_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_ocr(params)
    assert refused.value.field == field
