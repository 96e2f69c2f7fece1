"""JSON Lines import: one API record a line; a bad line fails the import naming the line (and the
field); every record is an ``import``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskapi.papers.formats import ImportFormatError, read_records


def test_each_line_is_a_record_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    lines = [
        json.dumps({"title": "One", "doi": "https://doi.org/10.1000/ONE", "source": "api", "extra": [1]}),
        "",
        json.dumps({"arxiv_id": "https://arxiv.org/abs/2101.00001v3", "authors": ["Jane Smith"]}),
        json.dumps({"title": "Três", "year": 2021, "pmid": "pmid:0042"}) + "\r",
    ]
    path = tmp_path / "papers.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    one, two, three = read_records(path)

    assert [one.where, two.where, three.where] == ["line 1", "line 3", "line 4"]
    assert (one.record.doi, one.record.source) == ("10.1000/one", "import")
    assert (two.record.arxiv_id, two.record.authors, two.record.source) == (
        "2101.00001",
        ["Jane Smith"],
        "import",
    )
    assert (three.record.title, three.record.year, three.record.pmid) == ("Três", 2021, "42")
    assert one.pdf_files == one.missing_files == ()


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"title": "Two",', "not JSON: Expecting property name enclosed in double quotes (column 17)"),
        ('["Two"]', "must be a JSON object, got list"),
        ('{"title": "Two", "year": "next year"}', "year: must be a year between 1000 and 2999"),
        ('{"title": "Two", "authors": ["A", 3]}', "authors.1: must be a string"),
        ('{"abstract": "no title"}', "needs a title or an identifier"),
        ("[" * 100_000, "JSON nested too deeply"),
    ],
)
def test_a_bad_line_fails_the_import_naming_the_line(tmp_path: Path, bad_line: str, reason: str) -> None:
    path = tmp_path / "papers.ndjson"
    path.write_text(f'{{"title": "One"}}\n\n{bad_line}\n{{"title": "Three"}}\n', encoding="utf-8")
    with pytest.raises(ImportFormatError) as caught:
        read_records(path)
    assert caught.value.where == "line 3"
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}: line 3: ")
