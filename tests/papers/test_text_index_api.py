"""The text and the index through HTTP, on both stores: ``GET /api/v1/papers/{id}/text``, the detail's
text summary, and ``GET /api/v1/papers?q=`` ranked, paged by its own cursor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskapi.api.schemas_papers import PaperTextSchema
from taskapi.papers import PageText
from taskapi.store.base import Store
from tests.helpers.server import envelope
from tests.papers.conftest import StartTask
from tests.papers.test_api_papers import PAPERS, PapersApi, ids, papers_api, walk


@pytest.fixture
def api(library_store: Store, tmp_path: Path) -> Iterator[PapersApi]:
    with papers_api(library_store, tmp_path / "data") as opened:
        yield opened


def text_of(api: PapersApi, paper_id: int) -> dict[str, Any]:
    data: dict[str, Any] = envelope(api.get(f"{PAPERS}/{paper_id}/text"), 200)["data"]
    return data


def test_the_text_route_answers_each_page_with_its_engine(api: PapersApi) -> None:
    [paper] = api.imported({"title": "Scanned paper"})["ids"]
    assert text_of(api, paper) == {"paper_id": paper, "pages": [], "chars": 0}
    assert api.detail(paper)["text"] is None

    pages = [PageText(1, "Typed first page", "text"), PageText(2, "Scanned second page", "tesseract", 87.25)]
    api.repository.text_store(paper, pages, fence=None)

    text = text_of(api, paper)
    assert text == {
        "paper_id": paper,
        "pages": [
            {"page": 1, "text": "Typed first page", "engine": "text", "confidence": None},
            {"page": 2, "text": "Scanned second page", "engine": "tesseract", "confidence": 87.25},
        ],
        "chars": 35,
    }
    assert set(text) == set(PaperTextSchema.model_fields)
    assert api.detail(paper)["text"] == {"pages": 2, "chars": 35, "engines": {"text": 1, "tesseract": 1}}


def test_the_text_of_an_unknown_paper_is_a_404_in_the_envelope(api: PapersApi) -> None:
    assert envelope(api.get(f"{PAPERS}/4242/text"), 404)["message"] == "Paper 4242 not found"
    assert envelope(api.get(f"{PAPERS}/0/text"), 400)["code"] == 400


def test_q_ranks_best_first_and_pages_with_an_offset_cursor(api: PapersApi) -> None:
    title_hit = api.imported({"title": "Tokamak control", "abstract": "Steering plasma."})["ids"][0]
    rest = api.imported(
        *({"title": f"Paper {n}", "abstract": f"A tokamak study, number {n}."} for n in range(6))
    )
    body_hit = api.imported({"title": "Appendix", "abstract": "Nothing."})["ids"][0]
    api.repository.text_store(body_hit, [PageText(1, "a tokamak, once", "text")], fence=None)
    api.repository.index_update(1, rebuild=False, fence=None)

    seen, pages = walk(api, project_id=1, q="tokamak", limit=3)

    assert seen[0] == title_hit and seen[-1] == body_hit and sorted(seen[1:-1]) == rest["ids"]
    assert [len(envelope(page, 200)["data"]) for page in pages] == [3, 3, 2]
    first = envelope(pages[0], 200)["data"][0]
    assert first["snippet"].startswith("<b>Tokamak</b> control") and first["score"] > 0
    cursor = pages[0].headers["X-Next-Cursor"]
    assert f"cursor={cursor}" in pages[0].headers["Link"] and "q=tokamak" in pages[0].headers["Link"]
    # The cursor belongs to its query: another q, or the list without q, refuses it.
    for params in ({"project_id": 1, "q": "plasma"}, {"project_id": 2, "q": "tokamak"}, {"project_id": 1}):
        body = envelope(api.get(PAPERS, params={**params, "cursor": cursor}), 400)
        assert body["data"]["errors"][0]["field"] == "cursor"
    plain = api.get(PAPERS, params={"project_id": 1, "limit": 2}).headers["X-Next-Cursor"]
    assert envelope(api.get(PAPERS, params={"project_id": 1, "q": "tokamak", "cursor": plain}), 400)


def test_q_before_any_index_run_finds_nothing_and_says_nothing_is_wrong(api: PapersApi) -> None:
    api.imported({"title": "Tokamak control"})
    response = api.get(PAPERS, params={"project_id": 1, "q": "tokamak"})
    assert envelope(response, 200)["data"] == [] and "X-Next-Cursor" not in response.headers


@pytest.mark.parametrize(
    ("q", "says"),
    [
        ("the of", "only common words"),
        ("-tokamak", "only excludes"),
        ('"*"', "must contain a letter or a digit"),
    ],
)
def test_q_with_nothing_to_search_for_is_a_400_naming_q(api: PapersApi, q: str, says: str) -> None:
    body = envelope(api.get(PAPERS, params={"project_id": 1, "q": q}), 400)
    [error] = body["data"]["errors"]
    assert error["field"] == "q" and says in error["message"]


def test_duplicates_are_never_found(api: PapersApi, start_task: StartTask) -> None:
    canonical, copy = api.imported({"title": "Tokamak control"}, {"title": "Tokamak control (copy)"})["ids"]
    api.repository.dedup_apply(1, {copy: canonical}, fence=start_task())
    api.repository.index_update(1, rebuild=False, fence=None)
    assert ids(api.listed(project_id=1, q="tokamak", include_duplicates="true")) == [canonical]
