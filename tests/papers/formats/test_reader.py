"""Reading an import file: its format by extension or content, a size bound, UTF-8 (a BOM allowed),
and an unreadable or unknown file named in the error; the package's public surface."""

from __future__ import annotations

from pathlib import Path

import pytest

import taskapi.papers.formats as formats
from taskapi.papers.formats import FORMATS, ImportFormatError, detect_format, read_records

BIBTEX = "% exported\n\n@Article{a, title = {A bib paper}}\n"
RIS = "\ufeffTY  - JOUR\nTI  - A RIS paper\nER  - \n"
CSL = '[{"title": "A CSL paper", "DOI": "10.1000/x"}]'
JSONL = '{"title": "A JSONL paper"}\n{"title": "Another"}\n'


def test_the_public_surface() -> None:
    assert sorted(formats.__all__) == sorted(
        [
            "FORMATS",
            "ImportFormatError",
            "ImportedRecord",
            "detect_format",
            "read_records",
            "record_from_json",
        ]
    )
    assert FORMATS == ("bibtex", "ris", "csl-json", "jsonl")
    assert issubclass(ImportFormatError, ValueError)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("x.bib", "bibtex"),
        ("X.BIB", "bibtex"),
        ("x.ris", "ris"),
        ("x.json", "csl-json"),
        ("x.jsonl", "jsonl"),
        ("x.ndjson", "jsonl"),
    ],
)
def test_the_extension_tells_the_format(tmp_path: Path, name: str, fmt: str) -> None:
    assert detect_format(tmp_path / name) == fmt  # without opening it


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (BIBTEX, "bibtex"),
        (RIS, "ris"),
        (CSL, "csl-json"),
        (JSONL, "jsonl"),
        ('{\n "title": "x"\n}', "csl-json"),
    ],
)
def test_else_the_content_tells_and_the_file_reads(tmp_path: Path, text: str, fmt: str) -> None:
    path = tmp_path / "export.txt"
    path.write_text(text, encoding="utf-8")
    assert detect_format(path) == fmt
    records = read_records(path)
    assert records and all(imported.record.title for imported in records)


def test_an_unknown_format_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Just notes about papers.\n")
    with pytest.raises(ImportFormatError, match=r"notes\.txt: unknown format: expected BibTeX"):
        detect_format(path)
    with pytest.raises(
        ImportFormatError, match=r"unknown format 'endnote': one of bibtex, ris, csl-json, jsonl"
    ):
        read_records(path, "endnote")


def test_the_given_format_wins_over_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "papers.json"
    path.write_text(JSONL)
    assert [imported.where for imported in read_records(path, "jsonl")] == ["line 1", "line 2"]


def test_a_file_over_the_bound_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.bib"
    path.write_text(BIBTEX + " " * 2000)
    with pytest.raises(ImportFormatError, match=r"big\.bib: is larger than 1,000 bytes"):
        read_records(path, max_bytes=1000)
    path.write_text(BIBTEX)
    assert len(read_records(path, max_bytes=len(BIBTEX))) == 1  # at the bound is within it


def test_text_that_is_not_utf8_fails_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.ris"
    path.write_bytes("TY  - JOUR\nTI  - Caf\u00e9\nER  - \n".encode("latin-1"))
    with pytest.raises(ImportFormatError, match=r"latin1\.ris: line 2: not UTF-8 text"):
        read_records(path)


def test_a_missing_file_is_an_import_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match=r"gone\.bib: cannot be read: No such file or directory"):
        read_records(tmp_path / "gone.bib")
    with pytest.raises(ImportFormatError, match="cannot be read"):
        detect_format(tmp_path / "gone")
