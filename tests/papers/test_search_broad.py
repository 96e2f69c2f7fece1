"""A broad query (more matches than the search ranks) on both stores: it ranks a bounded set of
candidates (the papers whose title matches, and its first matches), so the paper that is clearly best
still comes first even when it is the library's last, exclusions still hold, and paging still reaches
every match. The bounds are made small here so that a hundred papers make a query broad."""

from __future__ import annotations

import pytest

from taskapi.papers import PaperRecord, PapersRepository, _index

MATCHES = 120


@pytest.fixture
def broad(papers: PapersRepository, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """120 papers with "tokamak" once in their abstract, then (last, so beyond the first matches) one
    with it in its title and abstract, and one with it in its title and "control" in its abstract."""
    small = _index.Candidates(matches=20, titles=10)
    monkeypatch.setattr(_index, "SEARCH_CANDIDATES", {"sqlite": small, "postgres": small})
    records = [
        PaperRecord(title=f"Reactor study {n}", abstract=f"We study a tokamak discharge, case {n}.")
        for n in range(MATCHES)
    ]
    records += [
        PaperRecord(title="Tokamak tokamak", abstract="A tokamak, and a tokamak again."),
        PaperRecord(title="Tokamak stability", abstract="Feedback control of a discharge."),
    ]
    ids = papers.import_records(1, records).ids
    papers.index_update(1, rebuild=False, fence=None)
    return {"best": ids[-2], "controlled": ids[-1], "first": ids[0]}


def ids_of(papers: PapersRepository, q: str, *, limit: int = 50, offset: int = 0) -> list[int]:
    return [hit.paper.id for hit in papers.search(1, q, limit=limit, offset=offset)]


def test_the_clearly_best_paper_of_a_broad_query_comes_first_though_it_is_the_last(
    papers: PapersRepository, broad: dict[str, int]
) -> None:
    found = ids_of(papers, "tokamak")

    assert found[0] == broad["best"]
    assert broad["controlled"] in found[:2]
    assert len(found) == 50 and len(set(found)) == 50


def test_an_exclusion_holds_for_the_title_candidates_of_a_broad_query(
    papers: PapersRepository, broad: dict[str, int]
) -> None:
    found = ids_of(papers, "tokamak -control")

    assert found[0] == broad["best"]
    assert broad["controlled"] not in found


def test_paging_a_broad_query_reaches_its_last_matches(
    papers: PapersRepository, broad: dict[str, int]
) -> None:
    last_page = ids_of(papers, "tokamak", offset=100)

    assert len(last_page) == MATCHES + 2 - 100
    seen = set(last_page) | set(ids_of(papers, "tokamak", limit=100))
    assert broad["first"] in seen and broad["best"] in seen
