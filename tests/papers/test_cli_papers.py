"""``taskapi papers list|show|import`` in-process (Typer's ``CliRunner``) over a fresh SQLite file and
data directory per test, checked against the HTTP API over the same files.

A small Zotero-like BibTeX export names a real PDF (made with reportlab) in its ``file`` field, and a
second one that is not there: the paper arrives with its PDF, and the API serves the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from taskapi.cli import app
from tests.helpers.server import envelope
from tests.papers.conftest import library_store_of
from tests.papers.test_api_papers import PAPERS, PapersApi, make_pdf, papers_api

RUNNER = CliRunner(env={"COLUMNS": "160"})  # wide enough that no title wraps in a table

ZOTERO_FILES = (  # Zotero's attachments: description:path:mime type, separated by ";"
    "Full Text PDF:files/12/Vaswani et al. - 2017 - Attention Is All You Need.pdf:application/pdf;"
    "Snapshot:files/13/1706.html:text/html"
)
ZOTERO_BIB = r"""
@article{vaswani_attention_2017,
  title = {Attention Is All You Need},
  author = {Vaswani, Ashish and Shazeer, Noam and Parmar, Niki},
  year = {2017},
  journal = {Advances in Neural Information Processing Systems},
  volume = {30},
  doi = {10.48550/arXiv.1706.03762},
  abstract = {The dominant sequence transduction models are based on complex recurrent networks.
    We propose a new simple network architecture, the Transformer.},
  file = {FILE_FIELD},
}

@inproceedings{he_deep_2016,
  title = {Deep Residual Learning for Image Recognition},
  author = {He, Kaiming and Zhang, Xiangyu},
  year = {2016},
  booktitle = {{CVPR}},
  pages = {770--778},
  doi = {10.1109/CVPR.2016.90},
  file = {He et al. - 2016.pdf:files/99/He et al. - 2016.pdf:application/pdf},
}
"""


class Library:
    """One test's database, data directory and Zotero export (with its one real PDF)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = f"sqlite:///{root / 'library.db'}"
        self.data_dir = root / "data"
        self.export = root / "export" / "My Library.bib"
        self.pdf = make_pdf(
            root / "export" / "files" / "12" / "Vaswani et al. - 2017 - Attention Is All You Need.pdf",
            "Attention Is All You Need",
        )
        self.export.write_text(ZOTERO_BIB.replace("FILE_FIELD", ZOTERO_FILES), encoding="utf-8")
        self.missing = root / "export" / "files" / "99" / "He et al. - 2016.pdf"

    def run(self, *args: str) -> Result:
        """``taskapi papers ARGS --db ...``; a bug propagates instead of hiding behind an exit code."""
        return RUNNER.invoke(app, ["papers", *args, "--db", self.db], catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def failed(self, code: int, *args: str) -> str:
        """Run expecting exit ``code``: nothing on stdout, one line on stderr; answer that line."""
        result = self.run(*args)
        assert result.exit_code == code, (result.stdout, result.stderr)
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, (
            result.stderr
        )
        return result.stderr.strip()

    def import_export(self, *extra: str) -> Result:
        return self.ok("import", str(self.export), "--project", "1", "--data-dir", str(self.data_dir), *extra)


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return Library(tmp_path)


@pytest.fixture
def api(library: Library) -> Iterator[PapersApi]:
    """The HTTP API over the same database and data directory as the CLI."""
    with library_store_of("sqlite", library.root) as store, papers_api(store, library.data_dir) as opened:
        yield opened


# -- a Zotero export arrives with its PDF ------------------------------------------------------------


def test_a_zotero_export_arrives_with_its_pdf_and_the_api_serves_the_same_bytes(
    library: Library, api: PapersApi
) -> None:
    imported = library.import_export()
    assert imported.stdout == "Imported 2 records into project 1: 2 new, 0 merged; 1 PDF attached\n"
    assert imported.stderr == f"warning: not attached (missing, unreadable or not a PDF): {library.missing}\n"

    [resnet, attention] = library.json("list", "--project", "1")
    assert attention["title"] == "Attention Is All You Need" and attention["has_pdf"] is True
    assert resnet["pages"] == "770-778" and resnet["has_pdf"] is False and resnet["venue"] == "CVPR"
    shown = library.json("show", str(attention["id"]))
    assert shown["file"]["sha256"] == hashlib.sha256(library.pdf).hexdigest()
    assert shown["file"]["bytes"] == len(library.pdf) and shown["file"]["url"] is None
    assert shown["authors"] == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    assert shown["doi"] == "10.48550/arxiv.1706.03762" and shown["arxiv_id"] == "1706.03762"

    pdf = api.get(f"{PAPERS}/{attention['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == library.pdf
    # --json is the API's data, to the letter.
    assert shown == api.detail(attention["id"])
    assert [resnet, attention] == envelope(api.get(PAPERS, params={"project_id": 1}), 200)["data"]


def test_importing_the_export_again_merges_every_record_and_attaches_nothing_twice(library: Library) -> None:
    first = library.json("import", str(library.export), "-p", "1", "--data-dir", str(library.data_dir))
    again = library.json("import", str(library.export), "-p", "1", "--data-dir", str(library.data_dir))
    assert first["created"] == 2 and first["attached_pdfs"] == 1
    assert again == {
        "created": 0,
        "merged": 2,
        "ids": first["ids"],
        "attached_pdfs": 0,
        "missing_files": [str(library.missing)],
    }
    assert len(list((library.data_dir / "pdf").rglob("*.pdf"))) == 1  # content-addressed: one copy


def test_a_named_file_that_is_not_a_pdf_is_not_attached(library: Library) -> None:
    library.missing.parent.mkdir(parents=True)
    library.missing.write_text("<html>a landing page saved as .pdf</html>")
    result = library.json("import", str(library.export), "-p", "1", "--data-dir", str(library.data_dir))
    assert result["attached_pdfs"] == 1 and result["missing_files"] == [str(library.missing)]


def test_people_get_tables_and_a_panel(library: Library, api: PapersApi) -> None:
    library.import_export()
    api.repository.index_update(1, rebuild=False, fence=None)  # q searches the full-text index
    table = library.ok("list").stdout
    assert "Attention Is All You Need" in table and "Ashish Vaswani et al." in table and "yes" in table
    assert "Score" not in table and "Dup of" not in table
    assert "Score" in library.ok("list", "--q", "transformer").stdout
    assert library.ok("list", "--q", "no such words").stdout == "No papers.\n"
    panel = library.ok("show", "1").stdout
    assert "10.48550/arxiv.1706.03762" in panel and hashlib.sha256(library.pdf).hexdigest() in panel


def test_list_pages_with_the_cursor_printed_on_stderr(library: Library) -> None:
    library.import_export()
    jsonl = library.root / "more.jsonl"
    jsonl.write_text("".join(json.dumps({"title": f"Paper {n}"}) + "\n" for n in range(3)))
    library.ok("import", str(jsonl), "--project", "1")
    seen: list[int] = []
    cursor: list[str] = []
    for _ in range(5):
        result = library.ok("list", "--limit", "2", "--json", *cursor)
        seen += [paper["id"] for paper in json.loads(result.stdout)]
        lines = [line for line in result.stderr.splitlines() if line.startswith("next page: --cursor ")]
        if not lines:
            break
        cursor = ["--cursor", lines[0].split()[-1]]
    assert seen == [5, 4, 3, 2, 1]


# -- failures: exit codes and one line ---------------------------------------------------------------


def test_not_found_exits_1(library: Library) -> None:
    assert library.failed(1, "show", "42") == "error: Paper 42 not found"
    assert library.failed(1, "show", "42", "--json") == "error: Paper 42 not found"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["list", "--limit", "0"], "limit: must be an integer between 1 and 1000"),
        (["list", "--project", "0"], "project_id: must be an integer between 1"),
        (["list", "--q", "!!!"], "q: must contain a letter or a digit"),
        (["list", "--cursor", "bm90IGEgY3Vyc29y"], "--cursor: not a cursor this command printed"),
        (["show", "0"], "id: must be an integer between 1"),
        (["import", "{export}", "--project", "0"], "project_id: must be an integer between 1"),
        (["import", "{root}/nowhere.bib", "--project", "1"], "nowhere.bib: cannot be read"),
        (["import", "{export}", "--project", "1", "--format", "endnote"], "unknown format 'endnote'"),
        (["import", "{broken}", "--project", "1"], "broken.bib: entry broken (line 1)"),
    ],
)
def test_bad_input_exits_2_with_the_reason_and_imports_nothing(
    library: Library, args: list[str], says: str
) -> None:
    broken = library.root / "broken.bib"
    broken.write_text("@article{broken, year = {2020}}\n")
    values = {"export": str(library.export), "root": str(library.root), "broken": str(broken)}
    line = library.failed(2, *(arg.format(**values) for arg in args))
    assert line.startswith("error: ") and says in line, line
    assert library.json("list", "--include-duplicates") == []
    assert not (library.data_dir / "pdf").exists()


def test_a_bad_database_url_exits_2_and_an_unavailable_store_3(tmp_path: Path) -> None:
    bad = RUNNER.invoke(app, ["papers", "list", "--db", "mysql://user:secret@db/x"], catch_exceptions=False)
    assert bad.exit_code == 2 and bad.stderr.startswith("error: unsupported") and "secret" not in bad.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database file, not at all" * 10)
    for url in (f"sqlite:///{tmp_path}", f"sqlite:///{garbage}"):
        for command in (["list"], ["show", "1"], ["import", str(garbage), "-p", "1"]):
            gone = RUNNER.invoke(app, ["papers", *command, "--db", url], catch_exceptions=False)
            assert gone.exit_code == 3, (command, url, gone.stderr)
            assert gone.stderr.startswith("error: task store unavailable") and gone.stdout == ""


def test_an_unusable_data_dir_exits_3_and_imports_nothing(library: Library) -> None:
    blocked = library.root / "a-file"
    blocked.write_text("")
    line = library.failed(3, "import", str(library.export), "-p", "1", "--data-dir", str(blocked / "data"))
    assert line.startswith("error: file store unavailable")
    assert library.json("list") == []
