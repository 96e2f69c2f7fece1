"""What a handler returns becomes a JSON object both stores keep as given, or a clear failure."""

from __future__ import annotations

import pytest

from taskapi.worker.results import MAX_ERROR_CHARS, describe_error, normalise_result


def test_none_is_an_empty_object_and_other_json_values_are_wrapped() -> None:
    assert normalise_result(None) == {}
    assert normalise_result({"papers_found": 15}) == {"papers_found": 15}
    assert normalise_result([1, 2]) == {"value": [1, 2]}


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": object()}, {"x": "nul\x00here"}])
def test_results_postgres_or_json_cannot_hold_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        normalise_result(bad)


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    assert normalise_result({"x": "\\u0000"}) == {"x": "\\u0000"}


def test_error_messages_name_the_exception_and_stay_bounded() -> None:
    assert describe_error(RuntimeError("index exploded")) == "RuntimeError: index exploded"
    assert describe_error(KeyError()) == "KeyError"
    long = describe_error(ValueError("x" * 10_000))
    assert len(long) <= MAX_ERROR_CHARS and long.endswith("(truncated)")
