"""One venue written the ways exports write it, and venues that are other places."""

from __future__ import annotations

import pytest

from taskapi.pipeline.dedup.prep import venue_words
from taskapi.pipeline.dedup.venue import venues_differ


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("New England Journal of Medicine", "N Engl J Med"),
        ("Deutsches Arzteblatt International", "Dtsch Arztebl Int"),
        ("Obstetrics & Gynecology", "Obstetrics and Gynecology"),
        ("PLoS ONE", "PLoS One [Electronic Resource]"),
        ("International Conference on Information Systems", "ICIS 2017 Proceedings"),
        ("Postepy higieny i medycyny doswiadczalnej", "Postepy Higieny i Medycyny do Swiadczalnej"),
        ("Journal of Thrombosis and Haemostasis.Conference: 22nd Congress", "J Thromb Haemost"),
        ("", "Anything"),
    ],
)
def test_one_venue(a: str, b: str) -> None:
    assert not venues_differ(venue_words(a), venue_words(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Journal of Information Technology", "European Journal of Information Systems"),
        ("Americas Conference on Information Systems", "Journal of Global Information Technology Management"),
        ("Lancet", "BMJ"),
    ],
)
def test_other_venues(a: str, b: str) -> None:
    assert venues_differ(venue_words(a), venue_words(b))
