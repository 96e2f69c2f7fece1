"""arXiv's own ways to fail (an error feed, bad XML), XML built to hurt the parser, and the query
in arXiv's syntax."""

from __future__ import annotations

import time

import pytest

from taskapi.pipeline.sources import SearchQuery, arxiv_search_query
from tests.pipeline.source_server import (
    ARXIV_ERROR_FEED,
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    MALFORMED_XML,
    SourceServer,
)
from tests.pipeline.sources.support import fast_config, records, search_error

QUERY = SearchQuery("graphs", limit=5)


def test_an_error_feed_is_a_source_error(server: SourceServer) -> None:
    server.respond_next("arxiv", body=ARXIV_ERROR_FEED)

    assert (
        search_error(fast_config(server, "arxiv"), QUERY) == "arxiv error: incorrect id format for 1234.12345"
    )
    assert len(server.requests("arxiv")) == 1, "an error feed is not retried"


def test_an_error_feed_with_a_400_says_its_message(server: SourceServer) -> None:
    server.respond_next("arxiv", status=400, body=ARXIV_ERROR_FEED)

    message = search_error(fast_config(server, "arxiv"), QUERY)
    assert message == "HTTP 400 from arxiv: incorrect id format for 1234.12345"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (MALFORMED_XML, "bad XML from arxiv: no element found"),
        (b"<html><body>Service Unavailable</body></html>", "bad XML from arxiv: not an Atom feed"),
        (b"", "bad XML from arxiv: no element found"),
    ],
)
def test_bad_xml_is_a_source_error(server: SourceServer, body: bytes, says: str) -> None:
    server.respond_next("arxiv", body=body, content_type="application/atom+xml")

    assert search_error(fast_config(server, "arxiv"), QUERY).startswith(says)


@pytest.mark.parametrize("bomb", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_an_xml_bomb_is_refused_unexpanded(server: SourceServer, bomb: bytes) -> None:
    server.respond_next("arxiv", body=bomb)
    started = time.monotonic()
    message = search_error(fast_config(server, "arxiv"), QUERY)

    assert message == "bad XML from arxiv: DTDForbidden (DTDs and entities are refused)"
    assert "root:" not in message, "no file content"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("graphs", "all:graphs"),
        ("machine learning", "(all:machine AND all:learning)"),
        ('machine learning OR "neural network"', '(all:machine AND all:learning) OR all:"neural network"'),
        ("ti:transformers AND au:vaswani", "(ti:transformers AND au:vaswani)"),
        ("graphs NOT survey", "(all:graphs ANDNOT all:survey)"),
        ("(graphs)", "all:graphs"),
        ("AND OR", 'all:"AND OR"'),
    ],
)
def test_the_query_in_arxiv_syntax(query: str, expected: str) -> None:
    assert arxiv_search_query(SearchQuery(query, limit=1)) == expected


@pytest.mark.parametrize(
    ("years", "dates"),
    [
        ((2019, 2024), "[201901010000 TO 202412312359]"),
        ((2020, 2020), "[202001010000 TO 202012312359]"),
        ((2019, None), "[201901010000 TO 299912312359]"),
        ((None, 2024), "[199101010000 TO 202412312359]"),
    ],
)
def test_the_years_as_a_submitted_date_range(
    server: SourceServer, years: tuple[int | None, int | None], dates: str
) -> None:
    query = SearchQuery("graph OR tree", limit=5, year_from=years[0], year_to=years[1])
    records(fast_config(server, "arxiv"), query)

    sent = server.requests("arxiv")[0].query["search_query"]
    assert sent == f"(all:graph OR all:tree) AND submittedDate:{dates}"
