"""The record of a pruning batch: its deleted ids as runs of consecutive ids, and membership in it."""

from __future__ import annotations

import pytest

from taskapi.store.base import id_runs, in_runs


@pytest.mark.parametrize(
    ("ids", "runs"),
    [
        ([7], "7-7"),
        ([3, 1, 2], "1-3"),
        ([1, 2, 4, 5, 9], "1-2,4-5,9-9"),
        ([10, 12, 11, 20], "10-12,20-20"),
    ],
)
def test_ids_are_recorded_as_runs(ids: list[int], runs: str) -> None:
    assert id_runs(ids) == runs


def test_membership_is_exact_at_the_edges_and_in_the_gaps() -> None:
    runs = id_runs([1, 2, 4, 5, 9, 2**62])
    members = {n for n in range(0, 12) if in_runs(n, runs)}
    assert members == {1, 2, 4, 5, 9}
    assert in_runs(2**62, runs) and not in_runs(2**62 + 1, runs)
