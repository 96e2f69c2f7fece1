"""Leaving common words out of the exact count: only those that cannot reach the top, by a sample."""

from __future__ import annotations

import pytest

from taskapi.pipeline.expand.sample import (
    MIN_SUPPORT,
    Bounds,
    Share,
    promising,
    sample_frequencies,
    share_interval,
)
from taskapi.pipeline.expand.tokens import Term

SAMPLE = [["common", "rare"] if n == 0 else ["common", "often", "apart"] for n in range(100)]


def test_the_share_interval_holds_the_share_and_narrows_with_the_sample() -> None:
    low, high = share_interval(10, 100)
    assert low < 0.1 < high
    narrower = share_interval(100, 1000)
    assert high - low > narrower[1] - narrower[0]
    assert share_interval(0, 100)[0] == 0.0 and share_interval(100, 100)[1] == pytest.approx(1.0)


def test_sample_frequencies_count_documents_not_occurrences() -> None:
    held = sample_frequencies(
        [["a", "b", "a", "b"], ["b", "c"]], ["a", "b", ("a", "b"), ("b", "c"), ("c", "a")]
    )
    assert held == {"a": 1, "b": 2, ("a", "b"): 1, ("b", "c"): 1}


def scores(values: dict[Term, float]) -> Bounds:
    """Bounds as a method would give them: the score, more or less the share's spread."""

    def bounds(term: Term, share: Share) -> tuple[float, float]:
        return values[term] - share[1], values[term] + share[1]

    return bounds


def test_a_common_word_that_cannot_catch_up_is_left_out_and_a_rare_one_never_is() -> None:
    values: dict[Term, float] = {"rare": 5.0, "often": 4.0, "common": 0.1, "apart": 3.9}
    kept = promising(list(values), SAMPLE, scores(values), wanted=2)
    assert kept == ["rare", "often", "apart"]  # "apart" may still beat "often": kept
    assert sample_frequencies(SAMPLE, ["common"])["common"] >= MIN_SUPPORT


def test_everything_is_counted_when_the_bounds_overlap_or_few_are_wanted() -> None:
    values: dict[Term, float] = {"rare": 1.0, "often": 1.0, "common": 0.9, "apart": 0.95}
    assert promising(list(values), SAMPLE, scores(values), wanted=2) == list(values)
    assert promising(list(values), SAMPLE, scores(values), wanted=4) == list(values)
    assert promising(list(values), [], scores(values), wanted=1) == list(values)


@pytest.mark.parametrize("pair_share", [100, 40])
def test_a_pair_that_may_make_a_kept_word_redundant_is_counted_with_it(pair_share: int) -> None:
    sample = [["often", "apart"] if n < pair_share else ["often"] for n in range(100)]
    values: dict[Term, float] = {"often": 5.0, ("often", "apart"): 0.1, "x": 4.9, "y": 4.8}
    kept = promising(list(values), sample, scores(values), wanted=2)
    assert (("often", "apart") in kept) is (pair_share * 2 >= 100)
