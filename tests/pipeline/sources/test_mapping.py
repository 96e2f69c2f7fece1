"""Each source's answer, in its recorded real shape, mapped into ``PaperRecord`` by the production
client: every quirk PIPELINE.md lists, and junk where a field should be."""

from __future__ import annotations

from typing import Any

import pytest

from taskapi.papers.records import PaperRecord
from taskapi.pipeline.sources import (
    SearchQuery,
    record_from_crossref,
    record_from_openalex,
    record_from_s2,
)
from tests.pipeline.source_server import SourceServer
from tests.pipeline.sources.support import fast_config, fixture_bytes, records

QUERY = SearchQuery("anything", limit=50)


def _served(server: SourceServer, source: str, fixture: str) -> list[PaperRecord]:
    """The records of one recorded page (Crossref's has a ``next-cursor``: an empty page follows)."""
    server.respond_next(source, body=fixture_bytes(fixture))
    server.respond_next(source, body={"status": "ok", "message": {"items": [], "next-cursor": "c"}})
    return records(fast_config(server, source), QUERY)


def test_semantic_scholar_relevance_page(server: SourceServer) -> None:
    few_shot, kubernetes, security, junk = _served(server, "semantic_scholar", "s2_search.json")

    assert few_shot.s2_id == "649def34f8be52c8b66281af98ae884c09aef38b"
    assert few_shot.doi == "10.48550/arxiv.2005.14165"
    assert few_shot.arxiv_id == "2005.14165"
    assert few_shot.authors == ["Tom B. Brown", "Benjamin Mann"]
    assert (few_shot.year, few_shot.venue) == (2020, "Neural Information Processing Systems")
    assert few_shot.pdf_candidates == [], 'openAccessPdf.url "" is no candidate'
    assert few_shot.oa_status is None
    assert few_shot.source == "semantic_scholar"

    assert kubernetes.title == "A Kubernetes Cluster for Automating Software Production Environments"
    assert kubernetes.abstract is None
    assert kubernetes.venue is None, 'venue "" is no venue'
    assert kubernetes.year == 2021, "year null: taken from publicationDate"
    assert kubernetes.doi == "10.3390/s21051910"
    assert kubernetes.pmid == "33803329"
    assert kubernetes.authors == ["Aneta Poniszewska-Marańda"], "authors without a name are left out"
    assert kubernetes.pdf_candidates == ["https://www.mdpi.com/1424-8220/21/5/1910/pdf?version=1615350002"]
    assert kubernetes.oa_status == "gold"

    assert security.pdf_candidates == [] and security.abstract is None

    assert junk.s2_id == "f00dfacef00dfacef00dfacef00dfacef00dface"
    assert (junk.title, junk.abstract, junk.year, junk.authors, junk.pdf_candidates) == (
        None,
        "42",
        None,
        [],
        [],
    )


def test_semantic_scholar_bulk_page_with_a_string_total(server: SourceServer) -> None:
    server.respond_next("s2", body=fixture_bytes("s2_bulk.json"))
    server.respond_next("s2", body={"total": "2463", "data": []})
    (storage,) = records(fast_config(server, "semantic_scholar"), SearchQuery("storage", limit=500))

    assert storage.doi == "10.1051/epjconf/201921404035"
    assert storage.pdf_candidates[0].endswith("epjconf_chep2018_04035.pdf")
    bulk = server.requests("s2")
    assert [r.path for r in bulk] == ["/s2/graph/v1/paper/search/bulk"] * 2
    assert bulk[1].query["token"].startswith("PCOKWVSKJJGM4TWNJNI3EUSQ"), (
        "the token of page 1 asks for page 2"
    )


def test_arxiv_feed(server: SourceServer) -> None:
    checkerboard, old_style = _served(server, "arxiv", "arxiv_feed.xml")  # the third entry is empty

    assert checkerboard.arxiv_id == "2101.00001", "the id without its version"
    assert checkerboard.title == (
        "From stripe to checkerboard order on the square lattice in the presence of quenched disorder"
    )
    assert checkerboard.abstract == (
        "We discuss the effects of quenched disorder on a model of charge density wave (CDW) ordering on the "
        "square lattice. Our model may be applicable to the cuprate superconductors."
    )
    assert checkerboard.doi == "10.1103/physrevb.74.024520"
    assert checkerboard.authors == ["Adrian Del Maestro", "Bernd Rosenow"]
    assert checkerboard.year == 2021
    assert checkerboard.pdf_candidates == ["https://arxiv.org/pdf/2101.00001v3"], '<link title="pdf">'
    assert (checkerboard.source, checkerboard.oa_status) == ("arxiv", "green")

    assert old_style.arxiv_id == "hep-ex/0307015"
    assert old_style.doi is None
    assert old_style.pdf_candidates == ["https://arxiv.org/pdf/hep-ex/0307015"], "no pdf link: the arXiv URL"


def test_openalex_works(server: SourceServer) -> None:
    state_of_oa, attention, deep_learning = _served(server, "openalex", "openalex_works.json")

    assert state_of_oa.doi == "10.7717/peerj.4375", "doi is a URL"
    assert state_of_oa.openalex_id == "W2741809807"
    assert state_of_oa.pmid == "29456894"
    assert state_of_oa.abstract == (
        "Despite growing interest in Open Access (OA) to scholarly literature, in"
    ), "rebuilt from abstract_inverted_index, in position order"
    assert state_of_oa.authors == ["Heather Piwowar", "Stefanie Haustein"]
    assert (state_of_oa.venue, state_of_oa.volume, state_of_oa.pages) == ("PeerJ", "6", "e4375")
    assert state_of_oa.pdf_candidates == ["https://peerj.com/articles/4375.pdf"]
    assert state_of_oa.oa_status == "gold"

    assert attention.title == "Attention Is All You Need", "title null: display_name"
    assert attention.doi is None and attention.abstract is None
    assert attention.pdf_candidates == ["https://arxiv.org/pdf/1706.03762"], (
        "pdf_url null: open_access.oa_url"
    )
    assert attention.pages == "5998-6008"

    assert deep_learning.pdf_candidates == [] and deep_learning.oa_status == "closed"
    assert deep_learning.authors == ["Yann LeCun", "Yoshua Bengio"]
    assert deep_learning.abstract == "Deep learning allows", "positions that are not numbers are skipped"
    assert (deep_learning.volume, deep_learning.issue, deep_learning.pages) == ("521", "7553", "436-444")


def test_crossref_works(server: SourceServer) -> None:
    forecast, widget = _served(server, "crossref", "crossref_works.json")  # the third has no title nor DOI

    assert forecast.doi == "10.1111/ele.14024"
    assert forecast.title == "The forecast trap", "title is a list"
    assert forecast.abstract == (
        "Encouraged by decision makers\u2019 appetite for future information, model\u2010based forecasts "
        "have garnered increasing influence. The trap is not unique & general."
    ), "JATS: tags stripped, the 'Abstract' heading dropped, entities decoded"
    assert forecast.authors == ["Carl Boettiger", "The Forecasting Consortium"]
    assert forecast.year == 2022, "issued.date-parts"
    assert (forecast.venue, forecast.volume, forecast.issue, forecast.pages) == (
        "Ecology Letters",
        "25",
        "7",
        "1655-1664",
    )
    assert forecast.pdf_candidates == ["https://onlinelibrary.wiley.com/doi/pdf/10.1111/ele.14024"], (
        "only link[] entries of content-type application/pdf"
    )

    assert widget.year == 2007, "issued is [[null]]: published-print"
    assert widget.pdf_candidates == [], "an 'unspecified' link is no PDF candidate"
    assert widget.abstract is None and widget.authors == []


JUNK: list[Any] = [
    None,
    "a string",
    42,
    [],
    {"title": {"nested": True}, "authors": [1, None], "externalIds": [], "openAccessPdf": []},
    {"title": ["x"], "abstract": ["<p>"], "issued": {"date-parts": [["2020"]]}, "link": "http://x"},
    {"authorships": [{"author": "x"}], "abstract_inverted_index": {"w": "0"}, "biblio": 3, "ids": "x"},
    {"year": True, "publication_year": 1e308, "issued": {"date-parts": [[]]}, "page": {"a": 1}},
]


@pytest.mark.parametrize("mapper", [record_from_s2, record_from_openalex, record_from_crossref])
@pytest.mark.parametrize("item", JUNK)
def test_a_mistyped_record_maps_to_empty_fields_never_an_exception(mapper: Any, item: Any) -> None:
    record = mapper(item)
    assert isinstance(record, PaperRecord)
    assert record.doi is None and record.pdf_candidates == []
