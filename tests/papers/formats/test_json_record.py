"""The JSON record of ``POST /api/v1/papers`` (and of a JSON Lines line): fields of the wrong type are
refused naming them (``papers.3.year``), unknown fields ignored, sizes cut, identifiers normalised."""

from __future__ import annotations

from typing import Any

import pytest

from taskapi.domain import InvalidInput
from taskapi.papers.formats import record_from_json
from taskapi.papers.records import PaperRecord

FULL = {
    "title": "  Deep   learning for cats ",
    "abstract": "We show\nthings.",
    "authors": ["Jane Smith", "Hans Müller"],
    "year": "2020-05-01",
    "venue": "Journal of Feline Studies",
    "volume": 12,
    "issue": "3",
    "pages": "123-145",
    "doi": "https://doi.org/10.1000/ABC.123",
    "arxiv_id": "arXiv:2101.00001v2",
    "s2_id": "649DEF34F8BE52C8B66281AF98AE884C09AEF38B",
    "openalex_id": "https://openalex.org/W2741809807",
    "pmid": 31234567,
    "pdf_url": "https://example.org/a.pdf",
    "oa_status": "gold",
    "source": "semantic_scholar",
    "zotero_key": "ABCD1234",
}


def test_every_field_is_read_and_normalised() -> None:
    record = record_from_json(FULL, "papers.0")
    assert record == PaperRecord(
        title="Deep learning for cats",
        abstract="We show things.",
        authors=["Jane Smith", "Hans Müller"],
        year=2020,
        venue="Journal of Feline Studies",
        volume="12",
        issue="3",
        pages="123-145",
        doi="10.1000/abc.123",
        arxiv_id="2101.00001",
        s2_id="649def34f8be52c8b66281af98ae884c09aef38b",
        openalex_id="W2741809807",
        pmid="31234567",
        pdf_url="https://example.org/a.pdf",
        oa_status="gold",
        source="api",  # whatever the record says
    )


def test_an_identifier_alone_is_enough_and_an_arxiv_doi_gives_the_arxiv_id() -> None:
    record = record_from_json({"doi": "doi:10.48550/arXiv.2101.00001", "title": None}, "papers.0")
    assert (record.title, record.doi, record.arxiv_id) == (None, "10.48550/arxiv.2101.00001", "2101.00001")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"title": 5}, "papers.3.title", "must be a string or null, got a number"),
        ({"title": ["A"]}, "papers.3.title", "must be a string or null, got a list"),
        ({"authors": "Jane Smith"}, "papers.3.authors", "must be a list of strings"),
        ({"authors": ["Jane Smith", {"name": "X"}]}, "papers.3.authors.1", "must be a string"),
        ({"year": 20200}, "papers.3.year", "must be a year between 1000 and 2999"),
        ({"year": "soon"}, "papers.3.year", "must be a year between 1000 and 2999"),
        ({"year": True}, "papers.3.year", "must be an integer or a date"),
        ({"year": 2020.5}, "papers.3.year", "must be an integer or a date"),
        ({"volume": {"n": 1}}, "papers.3.volume", "must be a string, an integer or null"),
        ({"doi": "not a doi"}, "papers.3.doi", "must be a DOI"),
        ({"doi": 10.1}, "papers.3.doi", "must be a string or null"),
        ({"arxiv_id": "1234"}, "papers.3.arxiv_id", "must be an arXiv id"),
        ({"pmid": "PMC123"}, "papers.3.pmid", "must be a PubMed id"),
        ({"pmid": True}, "papers.3.pmid", "must be a string or null"),
        ({"s2_id": "abc"}, "papers.3.s2_id", "must be a Semantic Scholar paper id"),
        ({"openalex_id": "A123"}, "papers.3.openalex_id", "must be an OpenAlex work id"),
        ({"pdf_url": "file:///etc/passwd"}, "papers.3.pdf_url", "must be an http(s) URL"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_naming_it(
    change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        record_from_json({"title": "A paper", **change}, "papers.3")
    assert caught.value.field == field
    assert message in caught.value.detail


@pytest.mark.parametrize(
    "value",
    [{}, {"title": "   ", "doi": ""}, {"abstract": "only an abstract", "authors": ["A"], "zotero_key": "X"}],
)
def test_a_record_without_title_or_identifier_is_refused_naming_it(value: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as caught:
        record_from_json(value, "papers.3")
    assert caught.value.field == "papers.3"
    assert caught.value.detail == "needs a title or an identifier (doi, arxiv_id, s2_id, openalex_id, pmid)"


@pytest.mark.parametrize("value", [["title"], "A paper", None, 3])
def test_a_record_that_is_not_an_object_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"^papers\.3: must be a JSON object"):
        record_from_json(value, "papers.3")


def test_sizes_are_cut_not_refused() -> None:
    value = {
        "title": "t" * 50_000,
        "abstract": "a " * 200_000,
        "authors": [f"Author {i}" for i in range(3000)],
    }
    record = record_from_json(value, "papers.0")
    assert record.title == "t" * 2000
    assert record.abstract is not None and len(record.abstract) == 100_000
    assert record.authors == [f"Author {i}" for i in range(500)]
