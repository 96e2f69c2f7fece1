"""Paging: to the last page, to ``limit``, Semantic Scholar's switch to the bulk search, and the bounds
that stop a source which keeps saying there is more."""

from __future__ import annotations

import pytest

from taskapi.pipeline.sources import SearchQuery
from tests.pipeline.source_server import SourceServer
from tests.pipeline.sources.support import fast_config, records, search

S2_SEARCH, S2_BULK = "/s2/graph/v1/paper/search", "/s2/graph/v1/paper/search/bulk"


def test_semantic_scholar_asks_the_relevance_search_for_up_to_100(server: SourceServer) -> None:
    server.set_total(250)
    found = records(fast_config(server, "semantic_scholar"), SearchQuery("graphs", limit=100))

    (request,) = server.requests("s2")
    assert request.path == S2_SEARCH
    assert (request.query["offset"], request.query["limit"]) == ("0", "100")
    assert [r.doi for r in found] == [server.work("graphs", i).doi for i in range(100)]


def test_semantic_scholar_relevance_search_stops_on_a_page_without_next(server: SourceServer) -> None:
    server.set_total(30)
    found = records(fast_config(server, "semantic_scholar"), SearchQuery("graphs", limit=80))

    assert len(found) == 30
    assert [(r.path, r.query["limit"]) for r in server.requests("s2")] == [(S2_SEARCH, "80")]


@pytest.mark.parametrize(("limit", "pages"), [(101, 1), (2_500, 3)])
def test_semantic_scholar_uses_the_bulk_search_past_100(server: SourceServer, limit: int, pages: int) -> None:
    server.set_total(5_000)
    found = records(fast_config(server, "semantic_scholar"), SearchQuery("graphs", limit=limit))

    assert len(found) == limit
    assert len({r.s2_id for r in found}) == limit, "no record twice"
    requests = server.requests("s2")
    assert [r.path for r in requests] == [S2_BULK] * pages
    assert "token" not in requests[0].query and all("token" in r.query for r in requests[1:])
    assert all("limit" not in r.query and "offset" not in r.query for r in requests)


def test_semantic_scholar_bulk_search_stops_without_a_token(server: SourceServer) -> None:
    server.set_total(1_500)
    found = records(fast_config(server, "semantic_scholar"), SearchQuery("graphs", limit=5_000))

    assert len(found) == 1_500
    assert len(server.requests("s2")) == 2


def test_arxiv_pages_by_start_to_the_total(server: SourceServer) -> None:
    server.set_total(450)
    found = records(fast_config(server, "arxiv"), SearchQuery("graphs", limit=1_000))

    assert len(found) == 450
    asked = [(r.query["start"], r.query["max_results"]) for r in server.requests("arxiv")]
    assert asked == [("0", "200"), ("200", "200"), ("400", "200")]


def test_arxiv_asks_only_for_what_the_limit_leaves(server: SourceServer) -> None:
    server.set_total(450)
    found = records(fast_config(server, "arxiv"), SearchQuery("graphs", limit=250))

    assert len(found) == 250
    asked = [(r.query["start"], r.query["max_results"]) for r in server.requests("arxiv")]
    assert asked == [("0", "200"), ("200", "50")]


def test_arxiv_retries_an_empty_page_before_the_total(server: SourceServer) -> None:
    server.set_total(10)
    empty = b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:o="http://a9.com/-/spec/opensearch/1.1/">'
    server.respond_next("arxiv", body=empty + b"<o:totalResults>10</o:totalResults></feed>")
    found = records(fast_config(server, "arxiv"), SearchQuery("graphs", limit=10))

    assert len(found) == 10
    assert [r.query["start"] for r in server.requests("arxiv")] == ["0", "0"]


def test_openalex_follows_next_cursor_until_it_is_null(server: SourceServer) -> None:
    server.set_total(230)
    found = records(fast_config(server, "openalex"), SearchQuery("graphs", limit=1_000))

    assert len(found) == 230
    requests = server.requests("openalex")
    assert [r.query["per_page"] for r in requests] == ["100", "100", "100", "100"]
    assert requests[0].query["cursor"] == "*"
    assert len({r.query["cursor"] for r in requests}) == 4, "each page asks with the cursor of the one before"


def test_openalex_stops_at_the_limit(server: SourceServer) -> None:
    server.set_total(1_000)
    found = records(fast_config(server, "openalex"), SearchQuery("graphs", limit=150))

    assert len(found) == 150
    assert [r.query["per_page"] for r in server.requests("openalex")] == ["100", "50"]


def test_crossref_keeps_one_scroll_cursor_until_a_page_has_no_items(server: SourceServer) -> None:
    server.set_total(250)
    found = records(fast_config(server, "crossref"), SearchQuery("graphs", limit=1_000))

    assert len(found) == 250
    requests = server.requests("crossref")
    assert len(requests) == 4
    assert requests[0].query["cursor"] == "*"
    assert len({r.query["cursor"] for r in requests[1:]}) == 1, "Crossref's cursor names one scroll"
    assert {r.query["rows"] for r in requests} == {"100"}


def test_a_source_that_always_says_more_stops_at_the_limit(server: SourceServer) -> None:
    one = {"meta": {"count": 10**9, "next_cursor": "again"}, "results": [{"id": "W1", "title": "Same"}]}
    server.respond_next("openalex", body=one, times=100)
    found = records(fast_config(server, "openalex"), SearchQuery("graphs", limit=3))

    assert len(found) == 3
    assert len(server.requests("openalex")) == 3


def test_a_source_whose_records_are_all_dropped_stops_at_the_scan_bound(server: SourceServer) -> None:
    closed = {"meta": {"count": 10**9, "next_cursor": "again"}, "results": [{"id": "W1", "title": "Closed"}]}
    server.respond_next("openalex", body=closed, times=1_000)
    query = SearchQuery("graphs", limit=5, open_access_only=True)
    assert records(fast_config(server, "openalex"), query) == []

    assert len(server.requests("openalex")) == 10, "SCAN_FACTOR times the pages the limit needs"


def test_open_access_only_keeps_records_with_a_pdf_candidate(server: SourceServer) -> None:
    server.set_total(10)  # works 4 and 9 have no PDF
    query = SearchQuery("graphs", limit=100, open_access_only=True)
    found = records(fast_config(server, "crossref"), query)

    assert [r.doi for r in found] == [server.work("graphs", i).doi for i in (0, 1, 2, 3, 5, 6, 7, 8)]
    assert all(r.pdf_candidates for r in found)
    assert server.requests("crossref")[0].query["rows"] == "100", "a full page when records may be dropped"


def test_pages_are_each_pages_records_and_no_more(server: SourceServer) -> None:
    server.set_total(250)
    pages = search(fast_config(server, "openalex"), SearchQuery("graphs", limit=250))

    assert [len(page) for page in pages] == [100, 100, 50]
    assert all(record.source == "openalex" for page in pages for record in page)


def test_the_same_work_is_the_same_in_every_source(server: SourceServer) -> None:
    query = SearchQuery("federated learning", limit=5)
    found = {
        name: records(fast_config(server, name), query)
        for name in ("semantic_scholar", "arxiv", "openalex", "crossref")
    }

    dois = {name: [r.doi for r in rs] for name, rs in found.items()}
    assert len({tuple(d) for d in dois.values()}) == 1, dois
    assert {r.title for rs in found.values() for r in rs[:1]} == {server.work("federated learning", 0).title}


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        ("semantic_scholar", {"year": "2019-2024", "openAccessPdf": ""}),
        (
            "openalex",
            {"filter": "from_publication_date:2019-01-01,to_publication_date:2024-12-31,is_oa:true"},
        ),
        ("crossref", {"filter": "from-pub-date:2019,until-pub-date:2024,has-full-text:true"}),
    ],
)
def test_the_year_range_and_open_access_reach_the_source(
    server: SourceServer, name: str, sent: dict[str, str]
) -> None:
    query = SearchQuery("graphs", limit=5, year_from=2019, year_to=2024, open_access_only=True)
    records(fast_config(server, name), query)

    asked = server.requests(name)[0].query
    assert {key: asked.get(key) for key in sent} == sent


def test_an_expanded_query_reaches_the_bulk_search_in_its_own_or_syntax(server: SourceServer) -> None:
    """keyword_expand's ``expanded_query`` (``a b OR "c d" OR e``) is valid input for search: the bulk
    search's OR is ``|``, where a bare OR would be one more word ANDed with the others."""
    query = 'graph learning OR "message passing" OR gnn'
    records(fast_config(server, "semantic_scholar"), SearchQuery(query, limit=150))

    [request] = server.requests("s2")[:1]
    assert request.path == S2_BULK
    assert request.query["query"] == '(graph learning) | "message passing" | gnn'
