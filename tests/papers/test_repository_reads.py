"""Reads and crawl's writes on both stores: one paper in full, the list's order and paging, the dedup
view, the crawl targets and the stored file."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from taskapi.domain import InvalidInput
from taskapi.papers import (
    PaperFile,
    PaperRecord,
    PapersRepository,
    decode_paper_cursor,
    encode_paper_cursor,
    next_paper_cursor,
)
from taskapi.papers.errors import PaperNotFound
from tests.papers.conftest import StartTask


def titled(count: int, prefix: str = "Paper", **fields: object) -> list[PaperRecord]:
    return [PaperRecord(title=f"{prefix} {n}", **fields) for n in range(count)]  # type: ignore[arg-type]


def a_file(name: str = "a", url: str | None = "https://example.org/a.pdf") -> PaperFile:
    return PaperFile(
        sha256=name * 64,
        bytes=1234,
        url=url,
        content_type="application/pdf",
        path=f"pdf/{name}.pdf",
        fetched_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    )


def test_a_paper_reads_back_in_full_with_its_file(papers: PapersRepository) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    full = PaperRecord(
        title="Attention is all you need",
        abstract="The dominant sequence transduction models...",
        authors=["Ashish Vaswani", "Noam Shazeer"],
        year=2017,
        venue="NeurIPS",
        volume="30",
        issue="1",
        pages="5998-6008",
        doi="10.48550/arXiv.1706.03762",
        s2_id="204e3073870fae3d05bcbc2f6a8e263d9b72e776",
        openalex_id="W2963403868",
        pmid="123",
        pdf_url="https://arxiv.org/pdf/1706.03762",
        oa_status="green",
        source="semantic_scholar",
        pdf_candidates=["https://arxiv.org/pdf/1706.03762v7"],
    )
    [paper_id] = papers.import_records(3, [full]).ids
    paper = papers.paper_get(paper_id)
    assert paper is not None
    assert (paper.id, paper.project_id, paper.title, paper.year, paper.venue) == (
        paper_id,
        3,
        "Attention is all you need",
        2017,
        "NeurIPS",
    )
    assert (paper.doi, paper.arxiv_id, paper.openalex_id, paper.pmid) == (
        "10.48550/arxiv.1706.03762",
        "1706.03762",
        "W2963403868",
        "123",
    )
    assert (paper.authors, paper.sources) == (["Ashish Vaswani", "Noam Shazeer"], ["semantic_scholar"])
    assert (paper.duplicate_of, paper.file) == (None, None)
    assert before < paper.created_at == paper.updated_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert paper.created_at.tzinfo is not None
    papers.file_attach(paper_id, a_file())
    assert papers.paper_get(paper_id) == replace(paper, file=a_file())
    assert papers.paper_get(paper_id + 1000) is None


def test_a_new_file_replaces_the_old_record_and_an_unknown_paper_is_not_found(
    papers: PapersRepository,
) -> None:
    [paper_id] = papers.import_records(1, titled(1)).ids
    papers.file_attach(paper_id, a_file("a"))
    papers.file_attach(paper_id, a_file("b", url=None))
    paper = papers.paper_get(paper_id)
    assert paper is not None and paper.file == a_file("b", url=None)
    with pytest.raises(PaperNotFound):
        papers.file_attach(paper_id + 1, a_file())


def test_the_list_is_newest_first_and_pages_without_gaps_or_repeats(papers: PapersRepository) -> None:
    ids = [paper_id for n in range(3) for paper_id in papers.import_records(1, titled(7, f"Batch {n}")).ids]
    papers.import_records(2, titled(3, "Other project"))
    everything = papers.paper_list(1, limit=1000)
    assert [p.id for p in everything] == sorted(ids, reverse=True)
    assert [(p.created_at, p.id) for p in everything] == sorted(
        ((p.created_at, p.id) for p in everything), reverse=True
    )
    seen: list[int] = []
    after = None
    while True:
        page = papers.paper_list(1, limit=5, after=after)
        seen.extend(p.id for p in page)
        cursor = next_paper_cursor(page, 5)
        if cursor is None:
            break
        after = decode_paper_cursor(encode_paper_cursor(cursor))
    assert seen == [p.id for p in everything]
    assert len(papers.paper_list(None, limit=1000)) == 24
    with pytest.raises(InvalidInput):
        decode_paper_cursor("not-a-cursor")


def test_duplicates_are_hidden_unless_asked_for(papers: PapersRepository, start_task: StartTask) -> None:
    first, second, third = papers.import_records(1, titled(3)).ids
    papers.dedup_apply(1, {second: first}, fence=start_task())
    assert [p.id for p in papers.paper_list(1, limit=10)] == [third, first]
    assert [p.id for p in papers.paper_list(1, limit=10, include_duplicates=True)] == [third, second, first]
    assert [p.id for p in papers.paper_list(None, limit=10)] == [third, first]
    assert (papers.project_count(1), papers.project_count(1, include_duplicates=True)) == (2, 3)
    assert papers.project_count(99) == 0


def test_dedup_reads_the_non_duplicates_in_id_order_with_their_files(
    papers: PapersRepository, start_task: StartTask
) -> None:
    ids = papers.import_records(1, titled(4)).ids
    papers.import_records(2, titled(2))
    papers.dedup_apply(1, {ids[1]: ids[0]}, fence=start_task())
    papers.file_attach(ids[3], a_file())
    found = papers.papers_for_dedup(1)
    assert [p.id for p in found] == [ids[0], ids[2], ids[3]]
    assert [p.file is not None for p in found] == [False, False, True]


def test_crawl_targets_every_paper_without_a_file_by_id_with_its_candidates(
    papers: PapersRepository, start_task: StartTask
) -> None:
    records = [
        PaperRecord(
            title="Candidates and a pdf_url",
            doi="10.1000/c",
            pdf_candidates=["https://s2/x.pdf", "https://oa/x.pdf"],
            pdf_url="https://s2/x.pdf",
        ),
        PaperRecord(title="Nothing to fetch from", doi="10.1000/n", arxiv_id="2101.00001"),
        PaperRecord(title="Has a file"),
        PaperRecord(title="Is a duplicate", pdf_url="https://dup/x.pdf"),
        PaperRecord(title="Only a pdf_url", pdf_url="https://given/x.pdf"),
    ]
    with_urls, nothing, has_file, duplicate, only_url = papers.import_records(1, records).ids
    papers.import_records(2, titled(2))
    papers.file_attach(has_file, a_file())
    papers.dedup_apply(1, {duplicate: with_urls}, fence=start_task())
    targets = papers.crawl_candidates(1, None, overwrite=False, limit=10)
    assert [t.paper_id for t in targets] == [with_urls, nothing, only_url]
    assert targets[0].candidates == ("https://s2/x.pdf", "https://oa/x.pdf", "https://dup/x.pdf")
    assert (targets[1].candidates, targets[1].doi, targets[1].arxiv_id) == ((), "10.1000/n", "2101.00001")
    assert targets[2].candidates == ("https://given/x.pdf",)
    assert [t.paper_id for t in papers.crawl_candidates(1, None, overwrite=False, limit=2)] == [
        with_urls,
        nothing,
    ]
    every = papers.crawl_candidates(1, None, overwrite=True, limit=10)
    assert [t.paper_id for t in every] == [with_urls, nothing, has_file, only_url]


def test_crawl_targets_named_papers_in_the_order_given(papers: PapersRepository) -> None:
    first, has_file, third = papers.import_records(1, titled(3)).ids
    [elsewhere] = papers.import_records(2, titled(1)).ids
    papers.file_attach(has_file, a_file())
    asked = [third, elsewhere, has_file, first, third, 10_000]
    assert [t.paper_id for t in papers.crawl_candidates(1, asked, overwrite=False, limit=10)] == [
        third,
        first,
    ]
    assert [t.paper_id for t in papers.crawl_candidates(1, asked, overwrite=True, limit=2)] == [
        third,
        has_file,
    ]
