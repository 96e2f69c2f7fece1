"""The replay server itself: its generated answers keep the recorded shapes, its URLs are the settings'
base URLs, Unpaywall and files answer per DOI and path, and its log says what was asked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.pipeline.source_server import SourceServer
from tests.pipeline.sources.support import fixture_json

OPTIONAL = {"short-container-title", "publisher", "published-print", "score"}
"""Fields of the recorded Crossref work the generated ones leave out: no client reads them."""


def _get(url: str, **params: Any) -> httpx.Response:
    with httpx.Client(timeout=5) as client:
        return client.get(url, params=params)


@pytest.mark.parametrize(
    ("path", "params", "fixture", "items"),
    [
        ("s2/paper/search", {"query": "q", "limit": 3}, "s2_search.json", ("data",)),
        ("s2/paper/search/bulk", {"query": "q"}, "s2_bulk.json", ("data",)),
        (
            "openalex/works",
            {"search": "q", "per_page": 3, "cursor": "*"},
            "openalex_works.json",
            ("results",),
        ),
        (
            "crossref/works",
            {"query.bibliographic": "q", "rows": 3, "cursor": "*"},
            "crossref_works.json",
            ("message", "items"),
        ),
    ],
)
def test_generated_answers_keep_the_recorded_shape(
    server: SourceServer, path: str, params: dict[str, Any], fixture: str, items: tuple[str, ...]
) -> None:
    source, _, rest = path.partition("/")
    generated, recorded = _get(f"{server.url(source)}/{rest}", **params).json(), fixture_json(fixture)
    for key in items:
        assert set(generated) >= set(recorded) - {"next", "token"}
        generated, recorded = generated[key], recorded[key]
    assert set(generated[0]) <= set(recorded[0]), "no field the source lacks"
    assert set(recorded[0]) - set(generated[0]) <= OPTIONAL, "every field the clients read"


def test_urls_are_the_settings_base_urls(server: SourceServer) -> None:
    env = server.settings_env()

    assert env["TASKAPI_SEMANTIC_SCHOLAR_URL"].endswith("/graph/v1")
    assert env["TASKAPI_ARXIV_URL"].endswith("/api")
    assert env["TASKAPI_UNPAYWALL_URL"].endswith("/v2")
    assert _get(env["TASKAPI_ARXIV_URL"] + "/query", search_query="all:q").status_code == 200
    assert _get(env["TASKAPI_CROSSREF_URL"] + "/works", cursor="*").status_code == 200
    assert server.url("semantic_scholar") == server.url("s2")


def test_unpaywall_answers_known_dois_and_404_for_others(server: SourceServer) -> None:
    server.set_unpaywall("10.1000/Known", ["https://repo.example.org/a.pdf", "https://b.example.org/b.pdf"])
    base = server.url("unpaywall")

    known = _get(f"{base}/10.1000/known", email="me@example.org").json()
    assert known["best_oa_location"]["url_for_pdf"] == "https://repo.example.org/a.pdf"
    assert [loc["url_for_pdf"] for loc in known["oa_locations"]] == [
        "https://repo.example.org/a.pdf",
        "https://b.example.org/b.pdf",
    ]
    assert _get(f"{base}/10.1000/unknown", email="me@example.org").status_code == 404
    assert _get(f"{base}/10.1000/known").status_code == 422, "Unpaywall requires an email"


def test_files_serve_what_was_set(server: SourceServer) -> None:
    work = server.work("graphs", 0)
    assert work.pdf_url is not None
    server.set_file(work.pdf_url, b"%PDF-1.4 test")

    assert _get(work.pdf_url).content == b"%PDF-1.4 test"
    assert _get(server.url("files") + "/nothing.pdf").status_code == 404


def test_the_relevance_search_refuses_past_its_window(server: SourceServer) -> None:
    assert _get(f"{server.url('s2')}/paper/search", query="q", offset=950, limit=100).status_code == 400
    assert _get(f"{server.url('s2')}/paper/search", query="q", limit=101).status_code == 400


def test_scripted_answers_come_first_then_the_generated_ones(server: SourceServer) -> None:
    server.fail_next("crossref", status=500, times=2)
    statuses = [_get(f"{server.url('crossref')}/works", cursor="*").status_code for _ in range(3)]

    assert statuses == [500, 500, 200]
    assert [r.status for r in server.requests("crossref")] == statuses
    assert server.requests("crossref")[0].query == {"cursor": "*"}
