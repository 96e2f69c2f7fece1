"""The import upsert on both stores: which record meets which paper, what a merge fills, what it counts."""

from __future__ import annotations

from typing import Any

import pytest

from taskapi.papers import Paper, PaperRecord, PapersRepository
from tests.papers.conftest import StartTask

TITLE = "Deep residual learning for image recognition"
S2_ID = "649def34f8be52c8b66281af98ae884c09aef38b"


def record(**fields: Any) -> PaperRecord:
    return PaperRecord(**{"title": TITLE, **fields})


def get(papers: PapersRepository, paper_id: int) -> Paper:
    paper = papers.paper_get(paper_id)
    assert paper is not None, f"paper {paper_id} is missing"
    return paper


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            {"doi": "https://doi.org/10.1109/CVPR.2016.90"}, {"doi": "doi:10.1109/cvpr.2016.90"}, id="doi"
        ),
        pytest.param({"arxiv_id": "1512.03385v1"}, {"arxiv_id": "arXiv:1512.03385"}, id="arxiv_id"),
        pytest.param({"arxiv_id": "1512.03385"}, {"doi": "10.48550/arXiv.1512.03385"}, id="arxiv_doi"),
        pytest.param({"s2_id": S2_ID.upper()}, {"s2_id": S2_ID}, id="s2_id"),
        pytest.param(
            {"openalex_id": "https://openalex.org/W2194775991"}, {"openalex_id": "W2194775991"}, id="oa"
        ),
        pytest.param({"pmid": "PMID: 26353135"}, {"pmid": 26353135}, id="pmid"),
    ],
)
def test_each_identifier_in_any_spelling_meets_the_paper_that_has_it(
    papers: PapersRepository, first: dict[str, Any], second: dict[str, Any]
) -> None:
    before = papers.import_records(1, [record(source="semantic_scholar", **first)])
    after = papers.import_records(1, [record(title=TITLE.upper() + ".", source="openalex", **second)])
    assert (after.created, after.merged, after.already_present) == (0, 1, 1)
    assert after.ids == before.ids
    assert get(papers, before.ids[0]).sources == ["semantic_scholar", "openalex"]
    assert papers.project_count(1) == 1


def test_a_merge_fills_empty_fields_only_and_adds_sources_and_candidates(papers: PapersRepository) -> None:
    [paper_id] = papers.import_records(
        1, [record(doi="10.1000/a", venue="CVPR", source="crossref", pdf_candidates=["https://a/1.pdf"])]
    ).ids
    papers.import_records(
        1,
        [
            record(
                doi="10.1000/a",
                title="Deep Residual Learning for Image Recognition.",
                abstract="We present a residual learning framework.",
                authors=["Kaiming He", "Xiangyu Zhang"],
                year=2016,
                venue="IEEE CVPR",
                arxiv_id="1512.03385",
                source="semantic_scholar",
                pdf_candidates=["https://b/2.pdf", "https://a/1.pdf"],
            )
        ],
    )
    paper = get(papers, paper_id)
    assert (paper.title, paper.venue) == (TITLE, "CVPR")  # kept
    assert (paper.abstract, paper.year, paper.arxiv_id) == (
        "We present a residual learning framework.",
        2016,
        "1512.03385",
    )
    assert paper.authors == ["Kaiming He", "Xiangyu Zhang"]
    assert paper.sources == ["crossref", "semantic_scholar"]
    assert paper.pdf_candidates == ["https://a/1.pdf", "https://b/2.pdf"]


def test_importing_the_same_records_again_changes_nothing(papers: PapersRepository) -> None:
    records = [record(doi=f"10.1000/{n}", title=f"{TITLE} part {n}", source="arxiv") for n in range(5)]
    first = papers.import_records(1, records)
    before = [get(papers, paper_id) for paper_id in first.ids]
    again = papers.import_records(1, records)
    assert (again.created, again.merged, again.already_present, again.ids) == (0, 5, 5, first.ids)
    assert [get(papers, paper_id) for paper_id in first.ids] == before  # updated_at included


def test_a_shared_supplement_doi_with_clearly_different_titles_makes_papers_of_their_own(
    papers: PapersRepository,
) -> None:
    supplement = "10.1093/annonc/mdz239"
    abstracts = [
        record(doi=supplement, title="Pembrolizumab in advanced gastric cancer: a phase II trial"),
        record(doi=supplement, title="Quality of life after radical cystectomy in elderly patients"),
        record(doi=supplement, title="Quality of life after radical cystectomy in elderly patients."),
    ]
    result = papers.import_records(1, abstracts)
    assert (result.created, result.merged, result.new) == (2, 1, [True, True, False])
    assert result.ids[2] == result.ids[1] != result.ids[0]
    later = papers.import_records(
        1, [record(doi=supplement, title="PEMBROLIZUMAB in advanced gastric cancer")]
    )
    assert later.ids == [result.ids[0]]


def test_records_of_one_batch_meet_each_other_and_are_not_already_present(papers: PapersRepository) -> None:
    result = papers.import_records(
        1,
        [
            record(doi="10.1000/same", source="semantic_scholar"),
            record(title="Something else", doi="10.1000/other"),
            record(doi="10.1000/same", arxiv_id="1512.03385", source="arxiv"),
            record(arxiv_id="1512.03385v2", source="openalex"),
        ],
    )
    assert (result.created, result.merged, result.already_present) == (2, 2, 0)
    assert result.new == [True, True, False, False]
    assert result.ids[0] == result.ids[2] == result.ids[3] != result.ids[1]
    assert get(papers, result.ids[0]).sources == ["semantic_scholar", "arxiv", "openalex"]


def test_records_of_later_batches_of_one_call_meet_papers_of_earlier_ones(papers: PapersRepository) -> None:
    records = [record(doi="10.1000/same", source=source) for source in ("arxiv", "crossref", "openalex")]
    result = papers.import_records(1, records, batch_size=1)
    assert (result.created, result.merged, result.already_present) == (1, 2, 0)
    assert len(set(result.ids)) == 1
    assert get(papers, result.ids[0]).sources == ["arxiv", "crossref", "openalex"]


def test_a_record_without_an_identifier_is_always_a_new_paper(papers: PapersRepository) -> None:
    first = papers.import_records(1, [record(doi="not a doi"), record()])
    second = papers.import_records(1, [record()])
    assert (first.created, second.created) == (2, 1)
    assert len({*first.ids, *second.ids}) == 3
    assert get(papers, first.ids[0]).doi is None


def test_identifiers_are_tried_in_order_and_a_clearly_different_title_falls_through(
    papers: PapersRepository,
) -> None:
    by_doi, by_arxiv = papers.import_records(
        1, [record(doi="10.1000/d"), record(title="Attention is all you need", arxiv_id="1706.03762")]
    ).ids
    both = record(title="Attention is all you need", doi="10.1000/d", arxiv_id="1706.03762")
    assert papers.import_records(1, [both]).ids == [by_arxiv]  # the DOI's paper has another title
    close_to_both = record(doi="10.1000/d", arxiv_id="1706.03762")
    assert papers.import_records(1, [close_to_both]).ids == [by_doi]  # DOI first


def test_identifiers_meet_only_within_one_project(papers: PapersRepository) -> None:
    one = papers.import_records(1, [record(doi="10.1000/p")])
    two = papers.import_records(2, [record(doi="10.1000/p")])
    assert (two.created, two.merged) == (1, 0)
    assert one.ids != two.ids
    assert (papers.project_count(1), papers.project_count(2)) == (1, 1)


def test_a_record_meeting_a_duplicate_enriches_its_canonical_paper(
    papers: PapersRepository, start_task: StartTask
) -> None:
    canonical, copy = papers.import_records(
        1,
        [record(doi="10.1000/canonical", source="crossref"), record(doi="10.1000/preprint", source="arxiv")],
    ).ids
    papers.dedup_apply(1, {copy: canonical}, fence=start_task())
    copy_before = get(papers, copy)
    result = papers.import_records(1, [record(doi="10.1000/preprint", year=2016, source="openalex")])
    assert (result.ids, result.created, result.already_present) == ([canonical], 0, 1)
    assert get(papers, canonical).sources == ["crossref", "arxiv", "openalex"]
    assert get(papers, canonical).year == 2016
    assert get(papers, copy) == copy_before


def test_a_record_without_title_or_identifier_is_refused_before_anything_is_written(
    papers: PapersRepository,
) -> None:
    records = [record(doi=f"10.1000/{n}") for n in range(5)] + [PaperRecord(abstract="only an abstract")]
    with pytest.raises(ValueError, match=r"papers\.5"):
        papers.import_records(1, records, batch_size=2)
    assert papers.project_count(1, include_duplicates=True) == 0


def test_a_hostile_record_is_bounded_and_stored_as_text(papers: PapersRepository) -> None:
    hostile = record(
        title="Nul\x00 and\nwrapped   title",
        abstract="x" * 300_000,
        authors=["A\x00B", "", "  "],
        pdf_candidates=["https://x/1.pdf", "https://x/1.pdf"],
        doi="10.1000/');DROP_TABLE_papers;--",
    )
    [paper_id] = papers.import_records(1, [hostile]).ids
    paper = get(papers, paper_id)
    assert paper.title == "Nul and wrapped title"
    assert paper.abstract is not None and len(paper.abstract) == 100_000
    assert (paper.authors, paper.pdf_candidates) == (["AB"], ["https://x/1.pdf"])
    assert paper.doi == "10.1000/');drop_table_papers;--"
    assert papers.import_records(1, [hostile]).ids == [paper_id]


def test_already_present_counts_only_records_merged_into_papers_the_project_had(
    papers: PapersRepository,
) -> None:
    [had] = papers.import_records(1, [record(doi="10.1000/had")]).ids
    result = papers.import_records(
        1,
        [
            record(doi="10.1000/had", source="arxiv"),
            record(title="Fresh", doi="10.1000/fresh"),
            record(title="Fresh", doi="10.1000/fresh", source="crossref"),
        ],
    )
    assert (result.created, result.merged, result.already_present) == (1, 2, 1)
    assert result.ids[0] == had and result.new == [False, True, False]
