"""CSL-JSON import: Zotero's export read into the library's fields; a malformed file fails naming the
line or the record, a mistyped field of a good record is only missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taskapi.papers.formats import ImportFormatError, read_records

ZOTERO_CSL: list[dict[str, Any]] = [
    {
        "id": "http://zotero.org/users/1/items/ABCD1234",
        "type": "article-journal",
        "title": "Deep learning for cats",
        "container-title": "Journal of Feline Studies",
        "page": "123-145",
        "volume": "12",
        "issue": "3",
        "source": "DOI.org (Crossref)",
        "abstract": "We show that cats\nprefer boxes.",
        "URL": "https://example.org/article/123",
        "DOI": "10.1000/ABC.123",
        "ISSN": "1234-5678",
        "language": "en",
        "author": [
            {"family": "Smith", "given": "Jane"},
            {"family": "Berg", "given": "Jan", "non-dropping-particle": "van der"},
            {"literal": "World Health Organization"},
        ],
        "accessed": {"date-parts": [["2024", 1, 15]]},
        "issued": {"date-parts": [["2020", 5, 1]]},
        "PMID": "31234567",
    },
    {
        "id": "http://zotero.org/users/1/items/EFGH5678",
        "type": "article",
        "title": "Attention is all you need",
        "publisher": "arXiv",
        "number": "arXiv:1706.03762",
        "URL": "http://arxiv.org/abs/1706.03762",
        "DOI": "10.48550/arXiv.1706.03762",
        "note": "arXiv:1706.03762 [cs]",
        "author": [{"family": "Vaswani", "given": "Ashish"}],
        "issued": {"date-parts": [[2017, 6, 12]]},
    },
    {"type": "report", "title": "A report", "number": "TR-7", "issued": {"raw": "2019-06"}, "volume": 4},
]


def _write(tmp_path: Path, value: object, name: str = "library.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


def test_a_zotero_csl_export_is_read_into_the_library_fields(tmp_path: Path) -> None:
    smith, vaswani, report = read_records(_write(tmp_path, ZOTERO_CSL))

    assert [smith.where, vaswani.where, report.where] == ["record 1", "record 2", "record 3"]
    record = smith.record
    assert record.title == "Deep learning for cats"
    assert record.authors == ["Jane Smith", "Jan van der Berg", "World Health Organization"]
    assert record.abstract == "We show that cats prefer boxes."
    assert (record.year, record.venue, record.volume, record.issue, record.pages) == (
        2020,
        "Journal of Feline Studies",
        "12",
        "3",
        "123-145",
    )
    assert (record.doi, record.pmid, record.arxiv_id, record.source) == (
        "10.1000/abc.123",
        "31234567",
        None,
        "import",
    )
    assert (vaswani.record.arxiv_id, vaswani.record.doi, vaswani.record.year) == (
        "1706.03762",
        "10.48550/arxiv.1706.03762",
        2017,
    )
    assert (report.record.year, report.record.volume, report.record.arxiv_id) == (2019, "4", None)
    assert smith.pdf_files == smith.missing_files == ()


def test_a_single_item_object_is_one_record(tmp_path: Path) -> None:
    [imported] = read_records(_write(tmp_path, ZOTERO_CSL[1]))
    assert imported.record.arxiv_id == "1706.03762"


def test_a_mistyped_field_is_missing_not_fatal(tmp_path: Path) -> None:
    item = {
        "title": 7,
        "DOI": "10.1000/X",
        "author": [{"family": 3}, "Smith", {"given": "Ann", "family": "Lee"}],
    }
    item["issued"] = {"date-parts": "2020"}
    [imported] = read_records(_write(tmp_path, [item]))
    assert (imported.record.title, imported.record.doi, imported.record.year) == ("7", "10.1000/x", None)
    assert imported.record.authors == ["3", "Ann Lee"]


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ('[\n  {"title": "One"},\n  {"title": "Two",}\n]', "line 3 column 19", "not JSON"),
        ('[{"title": "One"}, "two", {"title": "Three"}]', "record 2", "must be an object"),
        ('[{"title": "One"}, {"note": "nothing"}]', "record 2", "needs a title or an identifier"),
        ('{"title": "One"} {"title": "Two"}', "line 1 column 18", "not JSON: Extra data"),
        ("42", None, "must be an array of items"),
        ("[" * 100_000 + "]" * 100_000, None, "nested too deeply"),
    ],
    ids=["syntax", "not-an-object", "empty-record", "two-objects", "a-number", "deep"],
)
def test_a_broken_file_fails_naming_the_spot(
    tmp_path: Path, text: str, where: str | None, reason: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ImportFormatError) as caught:
        read_records(path)
    assert (caught.value.where, caught.value.path) == (where, path)
    assert reason in caught.value.reason
