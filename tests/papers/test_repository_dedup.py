"""dedup's write on both stores: duplicates marked and merged into their canonical paper, once."""

from __future__ import annotations

import pytest

from taskapi.papers import Paper, PaperRecord, PapersRepository
from tests.papers.conftest import StartTask


def get(papers: PapersRepository, paper_id: int) -> Paper:
    paper = papers.paper_get(paper_id)
    assert paper is not None
    return paper


def snapshot(papers: PapersRepository) -> dict[int, Paper]:
    return {p.id: p for p in papers.paper_list(None, limit=1000, include_duplicates=True)}


def test_a_duplicate_points_at_its_canonical_which_takes_its_identifiers_sources_and_candidates(
    papers: PapersRepository, start_task: StartTask
) -> None:
    canonical, preprint, bystander = papers.import_records(
        1,
        [
            PaperRecord(title="Graph attention networks", doi="10.1000/gat", source="crossref"),
            PaperRecord(
                title="Graph Attention Networks",
                doi="10.48550/arXiv.1710.10903",
                pmid="42",
                source="arxiv",
                pdf_url="https://arxiv.org/pdf/1710.10903",
                pdf_candidates=["https://arxiv.org/pdf/1710.10903v3"],
            ),
            PaperRecord(title="Unrelated"),
        ],
    ).ids
    before = snapshot(papers)
    assert papers.dedup_apply(1, {preprint: canonical}, fence=start_task()) == 2
    merged, copy = get(papers, canonical), get(papers, preprint)
    assert copy.duplicate_of == canonical and merged.duplicate_of is None
    assert (merged.doi, merged.arxiv_id, merged.pmid) == ("10.1000/gat", "1710.10903", "42")  # DOI kept
    assert merged.sources == ["crossref", "arxiv"]
    assert merged.pdf_url == "https://arxiv.org/pdf/1710.10903"
    assert merged.pdf_candidates == ["https://arxiv.org/pdf/1710.10903v3"]
    assert merged.updated_at > before[canonical].updated_at and copy.updated_at > before[preprint].updated_at
    assert get(papers, bystander) == before[bystander]


def test_applying_the_same_map_twice_changes_nothing_the_second_time(
    papers: PapersRepository, start_task: StartTask
) -> None:
    ids = papers.import_records(
        1, [PaperRecord(title=f"Paper {n % 3}", doi=f"10.1000/{n}", source=f"s{n}") for n in range(9)]
    ).ids
    groups = {ids[n]: ids[n % 3] for n in range(3, 9)}
    fence = start_task()
    assert papers.dedup_apply(1, groups, fence=fence, batch_size=4) == 9  # 6 duplicates, 3 canonicals
    after_first = snapshot(papers)
    assert papers.dedup_apply(1, groups, fence=fence, batch_size=4) == 0
    assert snapshot(papers) == after_first
    assert papers.project_count(1) == 3


def test_chains_are_followed_and_kept_one_hop_deep(papers: PapersRepository, start_task: StartTask) -> None:
    a, b, c, d = papers.import_records(1, [PaperRecord(title=f"Paper {n}") for n in range(4)]).ids
    fence = start_task()
    assert papers.dedup_apply(1, {a: b, b: c}, fence=fence) == 2  # c gains nothing new
    assert (get(papers, a).duplicate_of, get(papers, b).duplicate_of) == (c, c)
    # a later run finds the canonical c a copy of d: c's own duplicates move to d as well
    assert papers.dedup_apply(1, {c: d}, fence=fence) == 3
    assert [get(papers, paper_id).duplicate_of for paper_id in (a, b, c, d)] == [d, d, d, None]


def test_a_map_that_contradicts_the_library_leaves_it_alone(
    papers: PapersRepository, start_task: StartTask
) -> None:
    first, second = papers.import_records(1, [PaperRecord(title="One"), PaperRecord(title="Two")]).ids
    fence = start_task()
    papers.dedup_apply(1, {second: first}, fence=fence)
    before = snapshot(papers)
    assert papers.dedup_apply(1, {first: second}, fence=fence) == 0
    assert snapshot(papers) == before


def test_a_map_naming_papers_of_another_project_or_itself_is_refused(
    papers: PapersRepository, start_task: StartTask
) -> None:
    [mine] = papers.import_records(1, [PaperRecord(title="Mine")]).ids
    [theirs] = papers.import_records(2, [PaperRecord(title="Theirs")]).ids
    fence = start_task()
    before = snapshot(papers)
    with pytest.raises(ValueError, match="not papers of project 1"):
        papers.dedup_apply(1, {mine: theirs}, fence=fence)
    with pytest.raises(ValueError, match="not papers of project 1"):
        papers.dedup_apply(1, {mine: 999_999}, fence=fence)
    with pytest.raises(ValueError, match="itself"):
        papers.dedup_apply(1, {mine: mine}, fence=fence)
    with pytest.raises(ValueError, match="cycle"):
        papers.dedup_apply(1, {mine: theirs, theirs: mine}, fence=fence)
    assert snapshot(papers) == before
