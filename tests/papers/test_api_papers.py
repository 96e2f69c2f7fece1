"""The papers routes through ``httpx.ASGITransport``: import, list (paging, ``q``, duplicates), one
paper, its PDF, bad input for every parameter, the tokens and the import's own body limit.

The round trip runs on SQLite and PostgreSQL; the rest on SQLite, where the routes behave the same
(the repository's conformance is tested on both by its own suite).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

from taskapi.api import create_app
from taskapi.api.auth import load_tokens
from taskapi.api.schemas_papers import PaperDetailSchema, PaperListItemSchema
from taskapi.domain import utcnow
from taskapi.papers import PaperFile, PapersRepository
from taskapi.papers.files import LocalFileStore
from taskapi.papers.service import PaperService
from taskapi.service import TaskService
from taskapi.store.base import Store
from tests.helpers.server import TASKS, TIME_FORMAT, body_of_size, envelope, error_fields
from tests.papers.conftest import StartTask, library_store_of

PAPERS = "/api/v1/papers"
ITEM_FIELDS = frozenset(PaperListItemSchema.model_fields)
DETAIL_FIELDS = frozenset(PaperDetailSchema.model_fields)
READ = "r34d-t0ken-with-enough-length"
OPERATE = "0p3rate-t0ken-with-enough-length"

ATTENTION = {
    "title": "Attention Is All You Need",
    "authors": ["Ashish Vaswani", "Noam Shazeer"],
    "year": 2017,
    "doi": "https://doi.org/10.48550/arXiv.1706.03762",
}
RESNET = {"title": "Deep Residual Learning for Image Recognition", "year": "2016-06-27", "venue": "CVPR"}
GAT = {
    "title": "Graph Attention Networks",
    "abstract": "We present graph attention networks (GATs). They are novel neural network architectures"
    " that operate on graph-structured data!  Our models reach state-of-the-art results.",
    "authors": ["Petar Veli\u010dkovi\u0107"],
    "arxiv_id": "1710.10903v3",
}


class PapersApi:
    """The app with the papers routes over ``store`` and a file store in ``data_dir``, in-process."""

    def __init__(self, store: Store, data_dir: Path, **app_options: Any) -> None:
        self.store = store
        self.files = LocalFileStore(data_dir)
        self.repository = PapersRepository(store)
        self.papers = PaperService(self.repository, self.files)
        self.app = create_app(TaskService(store), papers=self.papers, **app_options)
        self._runner = asyncio.Runner()
        transport = httpx.ASGITransport(app=self.app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def imported(self, *records: Mapping[str, Any], project_id: int = 1) -> dict[str, Any]:
        body = envelope(self.post(PAPERS, json={"project_id": project_id, "papers": list(records)}), 201)
        data: dict[str, Any] = body["data"]
        return data

    def listed(self, **params: Any) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = envelope(self.get(PAPERS, params=params), 200)["data"]
        return data

    def detail(self, paper_id: int) -> dict[str, Any]:
        data: dict[str, Any] = envelope(self.get(f"{PAPERS}/{paper_id}"), 200)["data"]
        return data

    def everything(self) -> list[dict[str, Any]]:
        """Every paper of every project, duplicates included: what "nothing imported" compares."""
        return self.listed(include_duplicates="true", limit=1000)

    def close(self) -> None:
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()


@contextmanager
def papers_api(store: Store, data_dir: Path, **app_options: Any) -> Iterator[PapersApi]:
    api = PapersApi(store, data_dir, **app_options)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[PapersApi]:
    with library_store_of("sqlite", tmp_path) as store, papers_api(store, tmp_path / "data") as opened:
        yield opened


def make_pdf(path: Path, text: str = "A paper") -> bytes:
    """A real one-page PDF, made now; answers its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 720, text)
    pdf.save()
    return path.read_bytes()


def attach_pdf(api: PapersApi, paper_id: int, pdf: Path) -> None:
    stored = api.files.put_file(pdf)
    file = PaperFile(stored.sha256, stored.size, None, "application/pdf", stored.path, utcnow())
    api.repository.file_attach(paper_id, file)


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


# -- the round trip, on both stores ------------------------------------------------------------------


def test_import_list_show_and_duplicates_round_trip(
    library_store: Store, start_task: StartTask, tmp_path: Path
) -> None:
    with papers_api(library_store, tmp_path / "data") as api:
        first = api.imported(ATTENTION, RESNET, GAT)
        assert first["created"] == 3 and first["merged"] == 0 and len(set(first["ids"])) == 3
        attention, resnet, gat = first["ids"]

        listed = api.listed(project_id=1)
        assert ids(listed) == [gat, resnet, attention]  # one batch, one created_at: newest id first
        assert all(set(item) == ITEM_FIELDS for item in listed)
        item = listed[2]
        assert item["doi"] == "10.48550/arxiv.1706.03762" and item["arxiv_id"] == "1706.03762"
        assert item["authors"] == ["Ashish Vaswani", "Noam Shazeer"] and item["sources"] == ["api"]
        assert item["has_pdf"] is False and item["duplicate_of"] is None
        assert item["score"] is None and item["snippet"] is None
        assert TIME_FORMAT.match(item["created_at"]) and TIME_FORMAT.match(item["updated_at"])
        assert listed[0]["arxiv_id"] == "1710.10903" and listed[1]["year"] == 2016

        detail = api.detail(attention)
        assert set(detail) == DETAIL_FIELDS
        assert {k: detail[k] for k in ITEM_FIELDS - {"score", "snippet"}} == {
            k: item[k] for k in ITEM_FIELDS - {"score", "snippet"}
        }
        assert detail["file"] is None and detail["text"] is None and detail["pdf_candidates"] == []

        # The same DOI, spelt otherwise, enriches the paper instead of adding one; ids in input order.
        again = api.imported({"doi": "doi:10.48550/ARXIV.1706.03762", "abstract": "Transformers."}, GAT)
        assert again == {"created": 0, "merged": 2, "ids": [attention, gat]}
        assert api.detail(attention)["abstract"] == "Transformers."
        assert api.listed(project_id=2) == []

        # A duplicate is hidden unless asked for, and then says of which paper.
        api.repository.dedup_apply(1, {resnet: attention}, fence=start_task())
        assert ids(api.listed(project_id=1)) == [gat, attention]
        shown = api.listed(project_id=1, include_duplicates="true")
        assert ids(shown) == [gat, resnet, attention] and shown[1]["duplicate_of"] == attention
        assert api.detail(resnet)["duplicate_of"] == attention


# -- listing: paging, q ------------------------------------------------------------------------------


def walk(api: PapersApi, **params: Any) -> tuple[list[int], list[httpx.Response]]:
    """Follow ``X-Next-Cursor`` from the first page to the last; answer the ids and the pages."""
    seen: list[int] = []
    pages: list[httpx.Response] = []
    cursor: str | None = None
    while len(pages) < 100:
        response = api.get(PAPERS, params={**params, **({"cursor": cursor} if cursor else {})})
        seen += ids(envelope(response, 200)["data"])
        pages.append(response)
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            return seen, pages
    raise AssertionError("paging does not end")


def test_pages_follow_the_cursor_newest_first_each_paper_once(api: PapersApi) -> None:
    created = [*api.imported(*({"title": f"Paper {n}"} for n in range(4)))["ids"]]
    created += api.imported(*({"title": f"Later {n}"} for n in range(3)))["ids"]
    api.imported({"title": "Elsewhere"}, project_id=2)

    seen, pages = walk(api, project_id=1, limit=3)

    assert seen == sorted(created, reverse=True)
    assert [len(envelope(page, 200)["data"]) for page in pages] == [3, 3, 1]
    link = pages[0].headers["Link"]
    assert link.endswith('>; rel="next"') and f"cursor={pages[0].headers['X-Next-Cursor']}" in link
    assert "project_id=1" in link and "limit=3" in link
    # A full last page still carries a cursor; the page after it is empty and carries none.
    full, full_pages = walk(api, project_id=1, limit=7)
    assert full == seen and [len(envelope(p, 200)["data"]) for p in full_pages] == [7, 0]
    assert len(walk(api, limit=2)[0]) == 8  # no project_id: every project's papers


def test_q_ranks_the_indexed_papers_that_have_every_word_and_says_why(api: PapersApi) -> None:
    gat, attention, resnet = api.imported(GAT, ATTENTION, RESNET)["ids"]
    schrodinger = api.imported({"title": "Schr\u00f6dinger Bridges", "authors": ["\u00c9mile Zola"]})["ids"][
        0
    ]
    assert api.listed(project_id=1, q="graph") == []  # not indexed yet: run the index step
    api.repository.index_update(1, rebuild=False, fence=None)

    [hit] = api.listed(project_id=1, q="GRAPH networks")
    assert hit["id"] == gat
    assert isinstance(hit["score"], float) and hit["score"] > 0
    assert "We present <b>graph</b> attention <b>networks</b> (GATs)." in hit["snippet"]
    assert set(ids(api.listed(project_id=1, q="attention"))) == {attention, gat}
    assert ids(api.listed(project_id=1, q="schrodinger bridge")) == [schrodinger]  # accents, stems
    assert ids(api.listed(project_id=1, q="residual imag*")) == [resnet]  # a prefix
    assert ids(api.listed(q="residual imag*")) == [resnet]  # every project's index
    assert api.listed(project_id=1, q="attention residual") == []  # every word, not any
    assert ids(api.listed(project_id=1, q="  ")) == [schrodinger, resnet, attention, gat]  # blank: no q


def test_q_pages_through_matches_only(api: PapersApi) -> None:
    records = [{"title": f"{'Graph' if n % 3 == 0 else 'Other'} paper {n}"} for n in range(30)]
    created = api.imported(*records)["ids"]
    graphs = {paper for n, paper in enumerate(created) if n % 3 == 0}
    api.repository.index_update(1, rebuild=False, fence=None)

    seen, pages = walk(api, project_id=1, q="graph", limit=4)

    assert sorted(seen) == sorted(graphs) and [len(envelope(p, 200)["data"]) for p in pages] == [4, 4, 2]
    scores = {item["score"] for page in pages for item in envelope(page, 200)["data"]}
    assert len(scores) == 1  # the same words in the same place: the same score


# -- the PDF -----------------------------------------------------------------------------------------


def test_the_pdf_route_streams_the_stored_bytes_inline(api: PapersApi, tmp_path: Path) -> None:
    paper = api.imported(ATTENTION)["ids"][0]
    content = make_pdf(tmp_path / "attention.pdf", "Attention")
    attach_pdf(api, paper, tmp_path / "attention.pdf")

    response = api.get(f"{PAPERS}/{paper}/pdf")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="{paper}.pdf"'
    assert response.content == content
    file = api.detail(paper)["file"]
    assert file["sha256"] == hashlib.sha256(content).hexdigest() and file["bytes"] == len(content)
    assert file["url"] is None and file["content_type"] == "application/pdf"
    assert TIME_FORMAT.match(file["fetched_at"])
    assert api.listed()[0]["has_pdf"] is True


def test_404s_answer_in_the_envelope(api: PapersApi, tmp_path: Path) -> None:
    paper = api.imported(ATTENTION)["ids"][0]
    assert envelope(api.get(f"{PAPERS}/4242"), 404)["message"] == "Paper 4242 not found"
    assert envelope(api.get(f"{PAPERS}/4242/pdf"), 404)["message"] == "Paper 4242 not found"
    assert envelope(api.get(f"{PAPERS}/{paper}/pdf"), 404)["message"] == f"Paper {paper} has no stored PDF"
    make_pdf(tmp_path / "gone.pdf")
    attach_pdf(api, paper, tmp_path / "gone.pdf")
    local = api.files.local_path(api.detail(paper)["file"]["sha256"])
    assert local is not None
    local.unlink()  # the database says there is a file; the file store lost it
    assert "file store does not hold it" in envelope(api.get(f"{PAPERS}/{paper}/pdf"), 404)["message"]


# -- bad input: 400 naming the parameter, nothing imported ---------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"project_id": "0"}, "project_id"),
        ({"project_id": "one"}, "project_id"),
        ({"project_id": str(2**63)}, "project_id"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"include_duplicates": "maybe"}, "include_duplicates"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "a b"}, "cursor"),
        ({"q": "x" * 501}, "q"),
        ({"q": "!!! ???"}, "q"),
        ({"q": " ".join(f"w{n}" for n in range(65))}, "q"),
    ],
)
def test_bad_list_parameters_answer_400_naming_them(
    api: PapersApi, params: dict[str, str], field: str
) -> None:
    body = envelope(api.get(PAPERS, params=params), 400)
    assert error_fields(body) == [field]
    assert field in body["message"]


@pytest.mark.parametrize("path", ["0", "abc", str(2**63), "0/pdf", "-1/pdf"])
def test_bad_paper_ids_answer_400_naming_the_id(api: PapersApi, path: str) -> None:
    assert error_fields(envelope(api.get(f"{PAPERS}/{path}"), 400)) == ["id"]


GOOD = [ATTENTION, RESNET, GAT]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"papers": GOOD}, "project_id"),
        ({"project_id": 0, "papers": GOOD}, "project_id"),
        ({"project_id": "1", "papers": GOOD}, "project_id"),
        ({"project_id": True, "papers": GOOD}, "project_id"),
        ({"project_id": 1}, "papers"),
        ({"project_id": 1, "papers": []}, "papers"),
        ({"project_id": 1, "papers": {"title": "x"}}, "papers"),
        ({"project_id": 1, "papers": [{"title": "x"}] * 10_001}, "papers"),
        ({"project_id": 1, "papers": [*GOOD, "Attention"]}, "papers.3"),
        ({"project_id": 1, "papers": [*GOOD, {"abstract": "neither a title nor an id"}]}, "papers.3"),
        ({"project_id": 1, "papers": [*GOOD, {"title": "x", "year": "soon"}]}, "papers.3.year"),
        ({"project_id": 1, "papers": [*GOOD, {"title": "x", "authors": "Smith"}]}, "papers.3.authors"),
        ({"project_id": 1, "papers": [*GOOD, {"title": "x", "authors": ["A", 2]}]}, "papers.3.authors.1"),
        ({"project_id": 1, "papers": [*GOOD, {"doi": "not a doi"}]}, "papers.3.doi"),
        (
            {"project_id": 1, "papers": [*GOOD, {"title": "x", "pdf_url": "ftp://x/y.pdf"}]},
            "papers.3.pdf_url",
        ),
        ({"project_id": 1, "papers": GOOD, "paper": []}, "paper"),
    ],
)
def test_a_bad_import_answers_400_naming_the_record_and_imports_nothing(
    api: PapersApi, body: dict[str, Any], field: str
) -> None:
    answer = envelope(api.post(PAPERS, json=body), 400)
    assert error_fields(answer) == [field]
    assert field in answer["message"]
    assert api.everything() == []


@pytest.mark.parametrize(
    ("content", "why"), [(b"{not json", "not valid JSON"), (b"[1, 2]", "must be a JSON object")]
)
def test_an_import_body_that_is_not_a_json_object_answers_400(
    api: PapersApi, content: bytes, why: str
) -> None:
    answer = envelope(api.post(PAPERS, content=content, headers={"content-type": "application/json"}), 400)
    assert why in answer["message"]
    assert api.everything() == []


# -- access control and body limits ------------------------------------------------------------------


def test_a_read_token_reads_the_library_but_cannot_import(tmp_path: Path) -> None:
    tokens = load_tokens(f"read:{READ},operate:{OPERATE}", None)
    with (
        library_store_of("sqlite", tmp_path) as store,
        papers_api(store, tmp_path / "d", tokens=tokens) as api,
    ):
        body = {"project_id": 1, "papers": [ATTENTION]}
        assert envelope(api.post(PAPERS, json=body), 401)
        refused = envelope(api.post(PAPERS, json=body, headers={"Authorization": f"Bearer {READ}"}), 403)
        assert "operate" in refused["message"]
        done = envelope(api.post(PAPERS, json=body, headers={"Authorization": f"Bearer {OPERATE}"}), 201)
        paper = done["data"]["ids"][0]
        read = {"Authorization": f"Bearer {READ}"}
        assert ids(envelope(api.get(PAPERS, headers=read), 200)["data"]) == [paper]
        assert envelope(api.get(f"{PAPERS}/{paper}", headers=read), 200)["data"]["id"] == paper
        assert envelope(api.get(f"{PAPERS}/{paper}/pdf", headers=read), 404)  # read may ask; there is none
        assert envelope(api.get(PAPERS), 401)


def records_of_size(size: int) -> bytes:
    """An import body of about ``size`` bytes: records with long abstracts."""
    abstract = "word " * 1000
    count = size // (len(abstract) + 60) + 1
    papers = [{"title": f"Paper {n}", "abstract": abstract} for n in range(count)]
    return json.dumps({"project_id": 1, "papers": papers}).encode()


def test_the_import_has_a_body_limit_of_its_own_and_the_other_routes_keep_theirs(tmp_path: Path) -> None:
    options = {"max_body_bytes": 1024 * 1024, "max_import_bytes": 4 * 1024 * 1024}
    with library_store_of("sqlite", tmp_path) as store, papers_api(store, tmp_path / "d", **options) as api:
        json_type = {"content-type": "application/json"}
        two_mib = records_of_size(2 * 1024 * 1024)
        assert envelope(api.post(PAPERS, content=two_mib, headers=json_type), 201)["data"]["created"] > 400
        assert (
            "limit is 1048576 bytes"
            in envelope(api.post(TASKS, content=body_of_size(2 << 20)), 413)["message"]
        )
        before = api.everything()
        too_big = records_of_size(5 * 1024 * 1024)
        assert (
            "limit is 4194304 bytes"
            in envelope(api.post(PAPERS, content=too_big, headers=json_type), 413)["message"]
        )
        assert api.everything() == before


# -- documentation -----------------------------------------------------------------------------------


def test_openapi_documents_every_papers_route_and_status_without_422(api: PapersApi) -> None:
    paths = envelope_free_openapi(api)["paths"]
    expected = {
        (PAPERS, "get"): {"200", "400", "500", "503"},
        (PAPERS, "post"): {"201", "400", "413", "500", "503", "507"},
        (f"{PAPERS}/{{id}}", "get"): {"200", "400", "404", "500", "503"},
        (f"{PAPERS}/{{id}}/pdf", "get"): {"200", "400", "404", "500", "503"},
    }
    for (path, method), statuses in expected.items():
        assert set(paths[path][method]["responses"]) == statuses, (path, method)
    pdf = paths[f"{PAPERS}/{{id}}/pdf"]["get"]["responses"]["200"]["content"]
    assert list(pdf) == ["application/pdf"]
    listed = paths[PAPERS]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "PaperListItemSchema" in json.dumps(listed)
    parameters = {p["name"] for p in paths[PAPERS]["get"]["parameters"]}
    assert parameters == {"project_id", "q", "limit", "cursor", "include_duplicates"}
    # The document gives the cursor its form: an empty one is not schema-valid (the API refuses it).
    [cursor] = [p["schema"] for p in paths[PAPERS]["get"]["parameters"] if p["name"] == "cursor"]
    assert {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"} in cursor["anyOf"]


def envelope_free_openapi(api: PapersApi) -> dict[str, Any]:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema
