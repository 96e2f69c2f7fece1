"""What people (and scanners) type into a search box never reaches an engine as syntax: each of these
queries answers results or a clean refusal on both stores, through the repository and through
``GET /api/v1/papers?q=``: never a 500, never an engine's error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskapi.papers import PageText, PaperRecord, PapersRepository
from taskapi.papers._search import InvalidQuery
from taskapi.store.base import Store
from tests.papers.test_api_papers import PAPERS, PapersApi, papers_api

HOSTILE = [
    '"',
    '""',
    '"""',
    '" "',
    "*",
    "**",
    "graph**",
    "*graph",
    "gra*ph",
    ":",
    "::",
    "title:",
    "title:graph",
    "{title}: graph",
    "{title abstract} : graph",
    "NEAR",
    "NEAR(graph neural)",
    "NEAR(graph neural, 2)",
    "graph NEAR/2 neural",
    "(",
    ")",
    "((graph)",
    "graph)",
    "AND",
    "OR",
    "NOT",
    "AND OR NOT",
    "graph AND",
    "graph NOT",
    "NOT graph",
    "OR OR OR",
    "graph OR OR neural",
    "^",
    "^graph",
    "graph^2",
    "-",
    "--",
    "- -",
    "-graph",
    "-graph -neural",
    'graph -"',
    '-"graph neural"',
    '"graph',
    'graph"',
    '"graph neural',
    "\x00",
    "graph\x00neural",
    "\x01\x02\x1f\x7f",
    "\u200b\u200d\ufeff",
    "\ud800",
    "graph\udfff",
    "\\",
    "graph\\",
    "'",
    "''",
    "'graph'",
    "graph:*",
    "graph:* & neural",
    "graph & neural",
    "graph | neural",
    "!graph",
    "!!graph",
    "graph <-> neural",
    "graph <2> neural",
    "<->",
    "'; DROP TABLE papers; --",
    "' OR 1=1 --",
    "%",
    "_",
    "%_%",
    ";",
    "$1",
    "%(q)s",
    ":q",
    "?",
    "the",
    "the of and a",
    '"the of"',
    "to be or not to be",
    "x" * 101,
    "graph " * 200,
    " ".join(f"w{n}" for n in range(100)),
    "a" * 999,
    "\U0001f642",
    "\u56fe\u50cf",
    "M\u00fcller",
    "\u0130stanbul",
    "\u00df",
    "e\u0301",
    "\t\n\r",
    " " * 50,
    "+graph",
    "~graph",
    "graph~2",
    "\uffff",
    "\U0010ffff",
    "graph\u2028neural",
    "\u202egraph",
    "null",
    "undefined",
]


@pytest.fixture
def indexed(papers: PapersRepository) -> PapersRepository:
    ids = papers.import_records(
        1,
        [
            PaperRecord(title="Graph neural networks", abstract="Message passing on graphs."),
            PaperRecord(title="M\u00fcller and the \u56fe\u50cf", abstract="It's a drop table; or not."),
            PaperRecord(title="Null results", abstract="Nothing NEAR here: title AND abstract OR body."),
        ],
    ).ids
    papers.text_store(ids[2], [PageText(1, "graph neural text \\ ' \" * ^ :", "text")], fence=None)
    papers.index_update(1, rebuild=False, fence=None)
    return papers


def test_there_are_enough_hostile_queries() -> None:
    assert len(HOSTILE) >= 40 and len(set(HOSTILE)) == len(HOSTILE)


def test_a_hostile_query_finds_papers_or_is_refused_cleanly(indexed: PapersRepository) -> None:
    refused: list[str] = []
    for q in HOSTILE:
        try:
            hits = indexed.search(1, q, limit=10)
        except InvalidQuery as refusal:
            assert str(refusal), q
            refused.append(q)
            continue
        assert all(hit.paper.project_id == 1 and isinstance(hit.score, float) for hit in hits), q
        for hit in hits:
            assert "<" not in hit.snippet.replace("<b>", "").replace("</b>", ""), (
                q,
                hit.snippet,
            )  # HTML-safe
    assert 10 < len(refused) < len(HOSTILE) - 10
    assert "graph\x00neural" not in refused and "-graph" in refused and '"' in refused


@pytest.fixture
def api(library_store: Store, indexed: PapersRepository, tmp_path: Path) -> Iterator[PapersApi]:
    with papers_api(library_store, tmp_path / "data") as opened:
        yield opened


def test_hostile_queries_answer_200_or_400_through_the_route(api: PapersApi) -> None:
    answers: dict[int, int] = {}
    for q in HOSTILE:
        text = q.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        response = api.get(PAPERS, params={"project_id": 1, "q": text})
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400), (q, response.text)
        body = response.json()
        assert body["code"] == response.status_code
        if response.status_code == 400:
            assert [error["field"] for error in body["data"]["errors"]] == ["q"], body
    assert answers[200] > 10 and answers[400] > 10


RAW = ["%FF%FE", "%00", "%ED%A0%80", "%22%00%2A", "%C0%AF", "%25%32%32", "graph%00%22%2A%28"]


def test_undecodable_or_nul_bytes_in_the_url_are_not_a_500(api: PapersApi) -> None:
    for raw in RAW:
        response = api.get(f"{PAPERS}?project_id=1&q={raw}")
        assert response.status_code in (200, 400), (raw, response.text)
