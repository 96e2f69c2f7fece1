"""What must merge: copies of one work as different sources and exports write them."""

from __future__ import annotations

from taskapi.pipeline.dedup import DedupOptions, find_duplicates
from tests.pipeline.dedup.conftest import MakePaper

AUTHORS = ["Smith, John A.", "Garcia, Maria"]
TITLE = "Sparse attention for long documents in biomedical retrieval"


def test_case_diacritics_and_punctuation_do_not_matter(paper: MakePaper) -> None:
    titles = [
        "Über die Stabilität von Graphen-Netzwerken: eine Studie",
        "UBER DIE STABILITAT VON GRAPHEN NETZWERKEN - EINE STUDIE",
        "über die stabilität von graphen\u2013netzwerken. Eine Studie.",
    ]
    names = ["Müller, Jürgen", "Muller J", "J. Müller"]
    papers = [paper(i + 1, titles[i], authors=[names[i]], year=2019 + i // 2) for i in range(3)]
    result = find_duplicates(papers)
    assert result.groups == [[1, 2, 3]]
    assert result.by_rule == {"doi": 0, "arxiv_id": 0, "source_id": 0, "title": 2}


def test_every_author_format_meets(paper: MakePaper) -> None:
    names = ["Smith, John A.", "John A. Smith", "J. Smith", "SMITH J", "Smith JA", "J. A. Smith"]
    papers = [
        paper(i, TITLE, authors=[name, "Other, Person"][: 1 + i % 2], year=2021)
        for i, name in enumerate(names)
    ]
    assert find_duplicates(papers).groups == [[0, 1, 2, 3, 4, 5]]


def test_a_preprint_and_its_journal_version(paper: MakePaper) -> None:
    preprint = paper(1, TITLE, authors=AUTHORS, year=2020, venue="arXiv", arxiv_id="2004.01234")
    journal = paper(
        2,
        TITLE + ".",
        authors=["J. A. Smith", "M. Garcia"],
        year=2021,
        venue="Journal of Biomedical Informatics",
        volume="118",
        pages="103-117",
        doi="10.1016/j.jbi.2021.103777",
    )
    result = find_duplicates([preprint, journal])
    assert result.groups == [[2, 1]], "the journal version, with its DOI, is kept"
    assert result.duplicate_of == {1: 2}


def test_an_arxiv_doi_meets_the_arxiv_id(paper: MakePaper) -> None:
    papers = [
        paper(1, "Attention is all you need", authors=["Vaswani, A."], doi="10.48550/arXiv.1706.03762"),
        paper(2, "Attention Is All You Need", authors=["Ashish Vaswani"], arxiv_id="1706.03762v7"),
    ]
    result = find_duplicates(papers)
    assert result.groups == [[1, 2]]
    assert result.by_rule["arxiv_id"] == 1


def test_a_doi_written_two_ways(paper: MakePaper) -> None:
    papers = [
        paper(1, TITLE, doi="https://doi.org/10.1000/ABC.123"),
        paper(2, TITLE.upper(), doi="doi:10.1000/abc.123"),
    ]
    result = find_duplicates(papers)
    assert result.groups == [[1, 2]]
    assert result.by_rule == {"doi": 1, "arxiv_id": 0, "source_id": 0, "title": 0}


def test_semantic_scholar_openalex_and_pubmed_ids(paper: MakePaper) -> None:
    s2 = "649def34f8be52c8b66281af98ae884c09aef38b"
    papers = [
        paper(1, "Deep residual learning", s2_id=s2),
        paper(2, "Deep Residual Learning.", s2_id=s2.upper()),
        paper(3, "Protein folding with transformers", openalex_id="https://openalex.org/W2741809807"),
        paper(4, "Protein folding with transformers", openalex_id="W2741809807"),
        paper(5, "A trial of aspirin", pmid="PMID: 12345"),
        paper(6, "A trial of aspirin.", pmid=12345),
    ]
    result = find_duplicates(papers)
    assert result.groups == [[1, 2], [3, 4], [5, 6]]
    assert result.by_rule["source_id"] == 3


def test_export_noise_around_a_title(paper: MakePaper) -> None:
    base = "Cervical screening with human papillomavirus testing in women over thirty"
    papers = [
        paper(1, base, authors=AUTHORS, year=2004),
        paper(2, base + ". [Review] [45 refs]", authors=AUTHORS, year=2004),
        paper(3, base + " (Structured abstract)", authors=AUTHORS, year=2004),
        paper(4, f"[{base}]. [Chinese]", authors=AUTHORS, year=2004),
    ]
    assert find_duplicates(papers).groups == [[1, 2, 3, 4]]


def test_a_translation_at_the_same_place(paper: MakePaper) -> None:
    """Same venue, volume, issue and page range, a shared author, another language: one work."""
    where = {
        "venue": "Industrielle Beziehungen",
        "volume": "27",
        "issue": "2",
        "pages": "160--178",
        "year": 2020,
    }
    papers = [
        paper(1, "Crowdwork: applying a relational inequality theory", authors=["Abendroth, A.-K."], **where),
        paper(
            2, "Arbeiten in der Crowd: Perspektiven der Theorie", authors=["Abendroth, Anja-Kristin"], **where
        ),
    ]
    assert find_duplicates(papers).groups == [[1, 2]]


def test_both_without_authors(paper: MakePaper) -> None:
    papers = [paper(1, TITLE, year=2020), paper(2, TITLE + "!", year=2020)]
    assert find_duplicates(papers).groups == [[1, 2]]


def test_a_lower_threshold_merges_more(paper: MakePaper) -> None:
    papers = [
        paper(1, "Learning to rank for information retrieval", authors=AUTHORS),
        paper(2, "Learning to rank in information retrieval systems", authors=AUTHORS),
    ]
    assert find_duplicates(papers).groups == []
    assert find_duplicates(papers, DedupOptions(title_threshold=85)).groups == [[1, 2]]
