"""The small parts under the clients: reading ``Retry-After``, backoff, the year filters, the text
rebuilds, the choice of client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskapi.pipeline.sources import (
    LocalPacer,
    SearchQuery,
    SourceConfig,
    backoff_seconds,
    open_source,
    retry_after_seconds,
)
from taskapi.pipeline.sources._fields import abstract_from_inverted_index, jats_to_text
from taskapi.pipeline.sources.crossref import crossref_filter
from taskapi.pipeline.sources.openalex import openalex_filter
from taskapi.pipeline.sources.semantic_scholar import s2_filters

NOW = datetime(2025, 3, 12, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0.5 ", 0.5),
        ("-3", 0.0),
        ("Wed, 12 Mar 2025 10:00:30 GMT", 30.0),
        ("Wed, 12 Mar 2025 09:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, now=NOW) == seconds


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_seconds(n, 1.0, 10.0) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff_seconds(10_000, 1.0, 60.0) == 60.0


@pytest.mark.parametrize(
    ("years", "s2", "openalex", "crossref"),
    [
        (
            (2019, 2024),
            "2019-2024",
            "from_publication_date:2019-01-01,to_publication_date:2024-12-31",
            "from-pub-date:2019,until-pub-date:2024",
        ),
        (
            (2020, 2020),
            "2020",
            "from_publication_date:2020-01-01,to_publication_date:2020-12-31",
            "from-pub-date:2020,until-pub-date:2020",
        ),
        ((2019, None), "2019-", "from_publication_date:2019-01-01", "from-pub-date:2019"),
        ((None, 2024), "-2024", "to_publication_date:2024-12-31", "until-pub-date:2024"),
    ],
)
def test_a_year_range_in_each_sources_filter(
    years: tuple[int | None, int | None], s2: str, openalex: str, crossref: str
) -> None:
    query = SearchQuery("q", limit=1, year_from=years[0], year_to=years[1])
    assert s2_filters(query) == {"year": s2}
    assert openalex_filter(query) == openalex
    assert crossref_filter(query) == crossref


def test_open_access_only_in_each_sources_filter() -> None:
    query = SearchQuery("q", limit=1, open_access_only=True)
    assert s2_filters(query) == {"openAccessPdf": ""}
    assert openalex_filter(query) == "is_oa:true"
    assert crossref_filter(query) == "has-full-text:true"
    assert openalex_filter(SearchQuery("q", limit=1)) is None


def test_an_inverted_index_with_a_huge_position_costs_nothing() -> None:
    assert abstract_from_inverted_index({"end": [10**12], "start": [0]}) == "start end"
    assert abstract_from_inverted_index({}) is None
    assert abstract_from_inverted_index("nope") is None


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<jats:p>Plain &amp; simple</jats:p>", "Plain & simple"),
        ("<jats:title>Abstract</jats:title><jats:p>Body</jats:p>", "Body"),
        ("<jats:sec><jats:title>Methods</jats:title><jats:p>We did.</jats:p></jats:sec>", "Methods We did."),
        ("<jats:p>Unclosed <jats:italic>tags", "Unclosed tags"),
        ("<jats:title>Dangling title", "Dangling title"),
        ("no markup at all", "no markup at all"),
        ("<jats:p></jats:p>", None),
    ],
)
def test_jats_to_text(markup: str, text: str | None) -> None:
    assert jats_to_text(markup) == text


def test_jats_never_expands_a_declared_entity() -> None:
    text = jats_to_text("<!DOCTYPE x [<!ENTITY e 'boom'>]><p>&e;</p>") or ""
    assert "boom" not in text and "&e;" in text


def test_open_source_knows_the_four_sources() -> None:
    for name in ("semantic_scholar", "arxiv", "openalex", "crossref"):
        assert open_source(SourceConfig(name=name, url="http://127.0.0.1:9"), LocalPacer()).name == name
    with pytest.raises(ValueError, match="unknown source 'scholar'"):
        open_source(SourceConfig(name="scholar", url="http://127.0.0.1:9"), LocalPacer())


def test_a_config_never_shows_its_key() -> None:
    assert "sekrit" not in repr(SourceConfig(name="openalex", url="http://x", api_key="sekrit"))
