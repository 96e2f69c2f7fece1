"""What must not merge: different works whose records look alike."""

from __future__ import annotations

from taskapi.pipeline.dedup import DedupOptions, find_duplicates
from tests.pipeline.dedup.conftest import MakePaper

AUTHORS = ["Smith, John A.", "Garcia, Maria"]
TITLE = "Sparse attention for long documents in biomedical retrieval"


def test_part_one_and_part_two(paper: MakePaper) -> None:
    papers = [
        paper(1, "Deep learning for protein structure prediction, Part I", authors=AUTHORS, year=2020),
        paper(2, "Deep learning for protein structure prediction, Part II", authors=AUTHORS, year=2020),
        paper(3, "Phase II trial of drug X in adults", authors=AUTHORS, year=2020),
        paper(4, "Phase III trial of drug X in adults", authors=AUTHORS, year=2020),
        paper(
            5,
            "Five-year follow-up of patients receiving dasatinib in chronic phase",
            authors=AUTHORS,
            year=2020,
        ),
        paper(
            6,
            "Six-year follow-up of patients receiving dasatinib in chronic phase",
            authors=AUTHORS,
            year=2020,
        ),
    ]
    assert find_duplicates(papers).groups == []


def test_a_survey_of_the_same_name(paper: MakePaper) -> None:
    long = "Graph attention networks for the classification of nodes in large citation graphs of science"
    papers = [
        paper(1, "Graph Attention Networks", authors=AUTHORS, year=2018),
        paper(2, "Graph Attention Networks: A Survey", authors=AUTHORS, year=2018),
        paper(3, long, authors=AUTHORS, year=2018),
        paper(4, long + ": a survey", authors=AUTHORS, year=2018, venue="arXiv", arxiv_id="1801.00001"),
    ]
    assert find_duplicates(papers).groups == []


def test_adult_and_paediatric_trials(paper: MakePaper) -> None:
    papers = [
        paper(
            1, "Open label trial of eculizumab in adult patients with aHUS", authors=["Alexion"], year=2011
        ),
        paper(
            2,
            "Open label trial of eculizumab in pediatric patients with aHUS",
            authors=["Alexion"],
            year=2011,
        ),
    ]
    assert find_duplicates(papers).groups == []


def test_the_same_title_years_apart(paper: MakePaper) -> None:
    papers = [
        paper(1, TITLE, authors=AUTHORS, year=2010, venue="Journal A"),
        paper(2, TITLE, authors=AUTHORS, year=2012, venue="Journal A"),
    ]
    assert find_duplicates(papers).groups == []
    assert find_duplicates(papers, DedupOptions(year_tolerance=2)).groups == [[1, 2]]


def test_the_same_title_by_other_authors(paper: MakePaper) -> None:
    papers = [
        paper(1, TITLE, authors=["Smith, John"], year=2020),
        paper(2, TITLE, authors=["Jones, Paul"], year=2020),
        paper(3, TITLE, year=2020),
    ]
    assert find_duplicates(papers).groups == []


def test_conflicting_journal_dois(paper: MakePaper) -> None:
    papers = [
        paper(1, TITLE, authors=AUTHORS, year=2020, doi="10.1000/first"),
        paper(2, TITLE, authors=AUTHORS, year=2020, doi="10.1000/second"),
    ]
    assert find_duplicates(papers).groups == []


def test_a_preprint_doi_does_not_conflict(paper: MakePaper) -> None:
    papers = [
        paper(1, TITLE, authors=AUTHORS, year=2020, doi="10.1101/2020.01.01.123456"),
        paper(2, TITLE, authors=AUTHORS, year=2020, doi="10.1000/journal"),
    ]
    assert find_duplicates(papers).groups == [[2, 1]]


def test_thirty_editorials_in_thirty_issues(paper: MakePaper) -> None:
    papers = [
        paper(
            issue,
            "Editorial" if issue % 2 else "Editor's Comments",
            authors=["Weber, Ron"],
            year=2000 + issue // 12,
            venue="MIS Quarterly",
            volume=str(24 + issue // 12),
            issue=str(issue % 12 + 1),
            pages=f"{100 * issue}-{100 * issue + 2}" if issue % 3 else None,
        )
        for issue in range(30)
    ]
    copy = paper(
        99, "EDITORIAL", authors=["R. Weber"], year=2000, venue="MIS Q", volume="24", issue="2", pages="100"
    )
    result = find_duplicates([*papers, copy])
    assert result.groups == [[1, 99]], "only the same issue's editorial, exported twice, is one"


def test_a_supplement_doi_shared_by_many_abstracts(paper: MakePaper) -> None:
    doi = "10.1111/j.1538-7836.2009.03473.x"
    titles = [
        "Outcomes of venous thrombosis in a regional cohort",
        "Prophylaxis in severe haemophilia A: ten years of data",
        "Platelet function testing before cardiac surgery",
        "Direct oral anticoagulants in frail elderly patients",
        "Fibrinogen concentrate in postpartum haemorrhage",
        "Von Willebrand factor multimers in aortic stenosis",
    ]
    papers = [
        paper(i, f"{titles[i % 6]} ({1990 + i})", authors=[f"Author{i}, A."], year=2009, doi=doi)
        for i in range(1, 41)
    ]
    again = paper(
        41, "OUTCOMES OF VENOUS THROMBOSIS IN A REGIONAL COHORT (1996).", authors=["A. Author6"], doi=doi
    )
    result = find_duplicates([*papers, again])
    assert result.groups == [[6, 41]], "the DOI links nothing; the exported-twice abstract is found by title"
    assert result.by_rule == {"doi": 0, "arxiv_id": 0, "source_id": 0, "title": 1}


def test_a_paper_without_a_doi_never_chains_two_dois(paper: MakePaper) -> None:
    papers = [
        paper(1, TITLE, authors=AUTHORS, year=2020, doi="10.1000/first"),
        paper(2, TITLE, authors=AUTHORS, year=2020),
        paper(3, TITLE, authors=AUTHORS, year=2020, doi="10.1000/second"),
    ]
    groups = find_duplicates(papers).groups
    assert groups == [[1, 2]], "the DOI-less copy joins one of them, never both"
