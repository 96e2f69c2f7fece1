"""The sources' shared pacing on both stores: one atomic reservation per request, slots ``interval``
apart however many threads (or workers, or hosts) ask at once, and a 429 that pushes everyone back."""

from __future__ import annotations

import math
import threading
import time

import pytest

from taskapi.papers import PapersRepository

SLACK = 0.25
"""Seconds a reading may be off: the time between the clock read in the database and the caller's."""


def test_threads_reserving_at_once_get_slots_one_interval_apart(papers: PapersRepository) -> None:
    count, interval = 8, 1.0
    start = threading.Barrier(count)
    slots: list[float] = []
    errors: list[BaseException] = []

    def reserve() -> None:
        try:
            start.wait(timeout=10)
            wait = papers.pace_reserve("source:arxiv", interval)
            slots.append(time.time() + wait)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=reserve) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    gaps = [later - earlier for earlier, later in zip(sorted(slots), sorted(slots)[1:], strict=False)]
    assert len(gaps) == count - 1
    assert all(abs(gap - interval) < SLACK for gap in gaps), gaps


def test_the_first_request_goes_at_once_and_keys_are_independent(papers: PapersRepository) -> None:
    assert papers.pace_reserve("source:crossref", 2.0) == 0
    assert 2.0 - SLACK < papers.pace_reserve("source:crossref", 2.0) <= 2.0
    assert papers.pace_reserve("source:openalex", 2.0) == 0
    assert papers.pace_reserve("host:example.org", 0) == 0
    assert papers.pace_reserve("host:example.org", 0) == 0


def test_a_push_holds_everyone_back_and_never_shortens_a_wait(papers: PapersRepository) -> None:
    papers.pace_push("source:semantic_scholar", 5.0)
    assert 5.0 - SLACK < papers.pace_reserve("source:semantic_scholar", 1.0) <= 5.0
    papers.pace_push("source:semantic_scholar", 1.0)
    assert 6.0 - SLACK < papers.pace_reserve("source:semantic_scholar", 1.0) <= 6.0


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_negative_or_infinite_interval_is_refused(papers: PapersRepository, bad: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        papers.pace_reserve("source:arxiv", bad)
    with pytest.raises(ValueError, match="seconds"):
        papers.pace_push("source:arxiv", bad)
