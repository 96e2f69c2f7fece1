"""The papers views in a real browser over a real ``taskapi serve`` with the built-in pipeline handlers:
a project's library (newest first, paged, kept in the URL), the search box (ranked, with highlighted
snippets), one paper (identifiers, sources, PDF link, duplicates both ways, the text the ocr step read)
and a paper that does not exist.

Papers arrive as users bring them: ``POST /api/v1/papers``, and ``taskapi papers import`` of a Zotero
BibTeX export that names a real PDF (made with reportlab); duplicates, text and the index come from
the real dedup, ocr and index steps, run as tasks by the server's worker.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from typer.testing import CliRunner

from taskapi.cli import app
from tests.browser.conftest import OPERATE_TOKEN, READ_TOKEN, Dashboard, serving
from tests.integration.pg import cloned_database
from tests.pipeline.ocr.pdfs import SCANNED, make_pdf

pytestmark = pytest.mark.slow  # real server processes and a real browser

PAPERS = "/api/v1/papers"
DOCS = Path(__file__).resolve().parents[2] / "docs"
LIBRARY_ENV = {  # the real dedup, ocr and index handlers (named too, in case the build lists them not yet)
    "TASKAPI_BUILTIN_HANDLERS": "true",
    "TASKAPI_HANDLERS": "taskapi.pipeline.handlers.ocr,taskapi.pipeline.handlers.index",
}

# "graphene" in a title, in an abstract only, and nowhere; the title hit is imported first
CORPUS: list[dict[str, Any]] = [
    {
        "title": "Graphene field-effect transistors at terahertz frequencies",
        "abstract": "We measure graphene devices up to 1 THz. Graphene channels keep their mobility.",
        "authors": ["Lena Ortiz", "Kwame Mensah", "Yuki Sato", "Petra Novak"],
        "year": 2021,
        "venue": "Nano Letters",
        "doi": "10.1021/acs.nanolett.1c00001",
    },
    {
        "title": "Charge transport in two-dimensional materials",
        "abstract": "A review of transport in layered crystals, from graphene to metal dichalcogenides.",
        "authors": ["Ines Duarte"],
        "year": 2019,
        "venue": "Reviews of Modern Physics",
        "arxiv_id": "1904.00002",
    },
    {"title": "Perovskite solar cells with ten percent efficiency", "abstract": "Halide perovskites absorb."},
    {
        "title": "Protein folding with attention",
        "abstract": "A transformer predicts structures from sequences.",
    },
]


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A server on SQLite that runs the built-in handlers, with its own data directory for PDFs."""
    directory = tmp_path_factory.mktemp("library")
    env = {**LIBRARY_ENV, "TASKAPI_DATA_DIR": str(directory / "data")}
    with serving(f"sqlite:///{directory / 'x.db'}", directory, env) as started:
        yield started


def import_papers(dashboard: Dashboard, project: int, papers: list[dict[str, Any]]) -> list[int]:
    response = dashboard.client.post(PAPERS, json={"project_id": project, "papers": papers})
    assert response.status_code == 201, response.text
    ids = response.json()["data"]["ids"]
    assert isinstance(ids, list)
    return [int(paper_id) for paper_id in ids]


def run_step(dashboard: Dashboard, project: int, task_type: str, **params: Any) -> dict[str, Any]:
    """Run one pipeline step as a task on the server's worker; answer its result."""
    task = dashboard.wait_for(
        dashboard.create(project, task_type, **params), "completed", "failed", timeout=30
    )
    assert task["status"] == "completed", task
    result = task["result"]
    assert isinstance(result, dict)
    return result


ZOTERO_BIB = r"""
@article{novoselov_graphene_2004,
  title = {Electric Field Effect in Atomically Thin Carbon Films},
  author = {Novoselov, Konstantin S. and Geim, Andre K. and Morozov, Sergey V. and Jiang, Da},
  year = {2004},
  journal = {Science},
  volume = {306},
  number = {5696},
  pages = {666--669},
  doi = {10.1126/science.1102896},
  abstract = {We describe monocrystalline graphitic films, a few atoms thick, which are metallic.},
  file = {Full Text PDF:files/7/Novoselov - 2004.pdf:application/pdf},
}
"""


def import_export(dashboard: Dashboard, project: int, root: Path) -> int:
    """``taskapi papers import`` of a Zotero export naming a real PDF, into the server's database and
    data directory; answers the paper's id."""
    (root / "files" / "7").mkdir(parents=True)
    make_pdf(root / "files" / "7" / "Novoselov - 2004.pdf", PDF_PAGES)
    export = root / "My Library.bib"
    export.write_text(ZOTERO_BIB, encoding="utf-8")
    data_dir = Path(dashboard.server.log_path).parent / "data"
    command = ["papers", "import", str(export), "--project", str(project), "--json"]
    command += ["--db", dashboard.database_url, "--data-dir", str(data_dir)]
    result = CliRunner().invoke(app, command, catch_exceptions=False)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    imported = json.loads(result.stdout)
    assert imported["attached_pdfs"] == 1, imported
    return int(imported["ids"][0])


PDF_PAGES = [  # a page with a text layer, and a scanned one that only Tesseract can read
    ("text", ["Graphene is a single layer of carbon atoms in a honeycomb lattice."]),
    ("scan", SCANNED),
]


def save_docs_screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    """The README's screenshots (1100 px wide, as ``docs/dashboard.png``), retaken on demand:
    ``TASKAPI_DOCS_SCREENSHOTS=1``."""
    if os.environ.get("TASKAPI_DOCS_SCREENSHOTS") == "1":
        page.set_viewport_size({"width": 1100, "height": 700})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(DOCS / name), full_page=full_page)


# -- the list ------------------------------------------------------------------------------------------


def titles(page: Any) -> Any:
    return page.locator("#papers tbody .title")


def test_a_projects_papers_newest_first_paged_and_kept_in_the_url(
    page: Any, library: Dashboard, project: int
) -> None:
    records = [
        {"title": f"Survey part {n}", "year": 2000 + n, "doi": f"10.1000/survey.{project}.{n}"}
        for n in range(25)
    ]
    ids = import_papers(library, project, records)
    import_papers(library, project + 100_000, [{"title": "Another project's paper"}])
    newest_first = [f"Survey part {n}" for n in range(24, -1, -1)]  # one import: ties broken by id

    page.goto(f"{library.url}/?project_id={project}")  # the tasks of the project, then its papers
    page.get_by_role("navigation", name="Views").get_by_role("link", name="Papers").click()
    expect(page).to_have_url(f"{library.url}/?view=papers&project={project}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Papers")
    expect(page.get_by_role("link", name="Papers", exact=True)).to_have_attribute("aria-current", "page")
    expect(titles(page)).to_have_text(newest_first)
    expect(page.locator("#papers caption")).to_have_text(f"Papers of project {project}, newest first")
    first = page.locator("#papers tbody tr").first
    expect(first).to_contain_text(f"10.1000/survey.{project}.24")
    expect(first).to_contain_text("2024")

    view = page.locator("#papers-view")
    view.get_by_label("Per page").select_option("20")
    expect(titles(page)).to_have_text(newest_first[:20])
    view.get_by_role("button", name="Older →").click()
    expect(titles(page)).to_have_text(newest_first[20:])
    expect(page).to_have_url(re.compile(r"[?&]cursor="))
    page.reload()  # the page is in the URL
    expect(titles(page)).to_have_text(newest_first[20:])
    view.get_by_role("button", name="← Newer").click()
    expect(titles(page)).to_have_text(newest_first[:20])

    titles(page).first.click()
    expect(page).to_have_url(f"{library.url}/?paper={ids[-1]}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Survey part 24")
    page.get_by_role("link", name="← Papers").click()
    expect(titles(page)).to_have_text(newest_first[:20])


def test_an_empty_project_says_how_to_bring_papers(page: Any, library: Dashboard, project: int) -> None:
    page.goto(f"{library.url}/?view=papers&project={project}")
    message = page.locator("#papers-message")
    expect(message).to_contain_text(f"No papers in project {project} yet.")
    expect(message).to_contain_text(f"taskapi papers import refs.bib --project {project}")
    expect(page.locator("#papers")).to_be_hidden()
    message.get_by_role("link", name="pipeline run").click()
    expect(page).to_have_url(f"{library.url}/?view=runs&project={project}")


# -- search ----------------------------------------------------------------------------------------------


def _search(page: Any, words: str) -> None:
    box = page.locator("#papers-view").get_by_label("Search", exact=True)
    box.fill(words)
    box.press("Enter")


def _expect_ranked_search(page: Any, dashboard: Dashboard, project: int) -> None:
    import_papers(dashboard, project, CORPUS)
    run_step(dashboard, project, "index")

    page.goto(f"{dashboard.url}/?view=papers&project={project}")
    expect(titles(page)).to_have_count(len(CORPUS))
    _search(page, "graphene")
    expect(page).to_have_url(f"{dashboard.url}/?view=papers&project={project}&q=graphene")
    expect(titles(page)).to_have_text([CORPUS[0]["title"], CORPUS[1]["title"]])  # the title hit first
    expect(page.locator("#papers caption")).to_contain_text("best match first for “graphene”")
    snippets = page.locator("#papers tbody .snippet")
    expect(snippets).to_have_count(2)
    for index in range(2):
        expect(snippets.nth(index).locator("mark").first).to_have_text(
            re.compile(r"^graphene$", re.IGNORECASE)
        )
    scores = page.locator("#papers tbody td.score")
    expect(scores.first).to_be_visible()
    assert all(text.strip() for text in scores.all_inner_texts())

    _search(page, "unobtainium")
    expect(page.locator("#papers-message")).to_contain_text("No papers match “unobtainium”.")
    page.go_back()
    expect(titles(page)).to_have_text([CORPUS[0]["title"], CORPUS[1]["title"]])
    expect(page.locator("#papers-view").get_by_label("Search", exact=True)).to_have_value("graphene")


def test_search_ranks_the_title_hit_first_and_marks_the_words_in_each_snippet(
    page: Any, library: Dashboard, project: int
) -> None:
    _expect_ranked_search(page, library, project)
    save_docs_screenshot(page, "dashboard-papers.png")


@pytest.mark.postgres
def test_search_on_postgresql(page: Any, tmp_path: Path) -> None:
    env = {**LIBRARY_ENV, "TASKAPI_DATA_DIR": str(tmp_path / "data")}
    with cloned_database() as database_url, serving(database_url, tmp_path, env) as dashboard:
        _expect_ranked_search(page, dashboard, 1)


# -- one paper -------------------------------------------------------------------------------------------


def test_a_papers_page_shows_its_identifiers_sources_pdf_and_text(
    page: Any, library: Dashboard, project: int, tmp_path: Path
) -> None:
    paper_id = import_export(library, project, tmp_path)
    import_papers(
        library,
        project,
        [
            {
                "title": "Electric field effect in atomically thin carbon films",
                "doi": "10.1126/SCIENCE.1102896",
                "arxiv_id": "cond-mat/0410550",
            }
        ],
    )
    run_step(library, project, "ocr")

    page.goto(f"{library.url}/?view=papers&project={project}")
    page.get_by_role("link", name="Electric Field Effect in Atomically Thin Carbon Films").click()
    expect(page).to_have_url(f"{library.url}/?paper={paper_id}")
    body = page.locator("#paper-body")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Electric Field Effect in Atomically Thin Carbon Films"
    )
    expect(page.locator("#p-authors")).to_have_text(
        "Konstantin S. Novoselov, Andre K. Geim, Sergey V. Morozov, Da Jiang"
    )
    expect(body).to_contain_text("Science, vol. 306, no. 5696, pp. 666")
    expect(body.get_by_role("link", name="10.1126/science.1102896")).to_have_attribute(
        "href", "https://doi.org/10.1126/science.1102896"
    )
    expect(body.get_by_role("link", name="cond-mat/0410550")).to_have_attribute(
        "href", "https://arxiv.org/abs/cond-mat/0410550"
    )  # merged in from the API's record with the same DOI
    expect(page.locator("#p-fields .chips li")).to_have_text(["import", "api"])

    pdf = body.get_by_role("link", name="Open the PDF")
    answer = page.request.get(pdf.evaluate("link => link.href"))
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF-")

    summary = r"^2 pages, [\d,]+ characters \(1 from the text layer, 1 by Tesseract OCR\)\.$"
    expect(page.locator("#p-text-summary")).to_have_text(re.compile(summary))
    pages = page.locator("#p-text details")
    expect(pages.nth(0).locator("summary")).to_contain_text("Page 1 · text layer")
    expect(pages.nth(0).locator("pre")).to_contain_text("Graphene is a single layer of carbon atoms")
    expect(pages.nth(1).locator("summary")).to_have_text(
        re.compile(r"^Page 2 · Tesseract OCR · \d+% confidence · [\d,]+ characters$")
    )
    expect(pages.nth(1).locator("pre")).to_be_hidden()  # filled in when opened
    pages.nth(1).locator("summary").click()
    expect(pages.nth(1).locator("pre")).to_contain_text(re.compile(r"Tesseract\s+reads", re.IGNORECASE))
    save_docs_screenshot(page, "dashboard-paper.png", full_page=True)


def test_with_a_token_the_pdf_link_carries_it_since_a_link_cannot_send_headers(
    page: Any, tmp_path: Path
) -> None:
    env = {
        "TASKAPI_DATA_DIR": str(tmp_path / "data"),
        "TASKAPI_API_TOKENS": f"read:{READ_TOKEN},operate:{OPERATE_TOKEN}",
    }
    with serving(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, env, OPERATE_TOKEN) as dashboard:
        paper_id = import_export(dashboard, 1, tmp_path / "export")
        page.goto(f"{dashboard.url}/?paper={paper_id}")
        dialog = page.get_by_role("dialog", name="API token")
        dialog.get_by_label("Token").fill(READ_TOKEN)
        dialog.get_by_role("button", name="Use token").click()
        pdf = page.locator("#p-pdf").get_by_role("link", name="Open the PDF")
        href = pdf.evaluate("link => link.href")
        assert href.endswith(f"/api/v1/papers/{paper_id}/pdf?access_token={READ_TOKEN}")
        answer = page.request.get(href)  # no Authorization header: the link alone opens it
        assert answer.status == 200 and answer.body().startswith(b"%PDF-")
        assert page.request.get(href.split("?")[0]).status == 401
        expect(page.locator("#p-no-text")).to_have_text("No text yet.")  # the ocr step has not run


def test_a_paper_without_a_pdf_says_no_text_yet_and_lists_where_crawl_looks(
    page: Any, library: Dashboard, project: int
) -> None:
    [paper_id] = import_papers(
        library, project, [{"title": "A preprint", "pdf_url": "https://example.org/a.pdf"}]
    )
    page.goto(f"{library.url}/?paper={paper_id}")
    expect(page.locator("#p-pdf")).to_contain_text("No PDF stored yet.")
    expect(page.locator("#p-pdf").get_by_role("link", name="https://example.org/a.pdf")).to_be_visible()
    expect(page.locator("#p-no-text")).to_have_text("No text yet.")
    expect(page.locator("#p-text")).to_contain_text("the crawl step fetches it")
    expect(page.locator("#p-ids")).to_have_text("No identifier recorded.")


def test_duplicates_link_both_ways_and_are_listed_on_request(
    page: Any, library: Dashboard, project: int
) -> None:
    preprint, journal = import_papers(
        library,
        project,
        [
            {
                "title": "Deep residual learning for image recognition",
                "year": 2015,
                "arxiv_id": "1512.03385",
                "authors": ["Kaiming He", "Xiangyu Zhang"],
            },
            {
                "title": "Deep Residual Learning for Image Recognition",
                "year": 2016,
                "doi": "10.1109/CVPR.2016.90",
                "authors": ["Kaiming He", "Xiangyu Zhang"],
                "venue": "CVPR",
            },
        ],
    )
    assert run_step(library, project, "dedup")["marked_duplicate"] == 1

    page.goto(f"{library.url}/?paper={journal}")  # the canonical: it has the DOI
    duplicates = page.locator("#p-duplicates")
    expect(duplicates).to_contain_text("Marked as duplicates of this paper (1):")
    duplicates.get_by_role("link", name="Deep residual learning for image recognition").click()
    expect(page).to_have_url(f"{library.url}/?paper={preprint}")
    expect(duplicates).to_contain_text(f"This paper is a duplicate of paper {journal}")
    duplicates.get_by_role("link", name=f"paper {journal}").click()
    expect(page).to_have_url(f"{library.url}/?paper={journal}")
    expect(page.locator("#p-ids")).to_contain_text("1512.03385")  # the duplicate's arXiv id, merged in

    page.goto(f"{library.url}/?view=papers&project={project}")
    expect(titles(page)).to_have_text(["Deep Residual Learning for Image Recognition"])
    page.locator("#papers-view").get_by_label("Show duplicates").check()
    expect(page).to_have_url(f"{library.url}/?view=papers&project={project}&include_duplicates=true")
    expect(titles(page)).to_have_count(2)
    expect(page.locator(f'#papers tbody tr[data-id="{preprint}"] .dup')).to_have_text(
        f"Duplicate of paper {journal}"
    )


def test_an_unknown_paper_says_not_found(page: Any, library: Dashboard) -> None:
    answer = library.client.get(f"{PAPERS}/987654321")
    assert answer.status_code == 404
    page.goto(f"{library.url}/?paper=987654321")
    alert = page.locator("#paper-missing")
    expect(alert).to_contain_text("Paper not found.")
    expect(alert).to_contain_text(answer.json()["message"])
    page.goto(f"{library.url}/?paper=abc")
    expect(alert).to_contain_text('"abc" is not a paper ID.')
    alert.get_by_role("link", name="Back to the papers").click()
    expect(page).to_have_url(f"{library.url}/?view=papers")
