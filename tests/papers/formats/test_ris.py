"""RIS import: a Zotero export with ``L1`` attachments, the fields as the library keeps them, and the
broken files rispy would read in silence (a cut-off record, a malformed ``TY``) failing by line."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from taskapi.papers.formats import ImportFormatError, read_records
from tests.papers.formats.conftest import MakePdf

END = ""  # Zotero ends a record with "ER  - " (a trailing space): "ER  - {END}" keeps it off this source


def _zotero_export(absolute_pdf: Path) -> str:
    file_url = "file://" + quote(str(absolute_pdf))
    return f"""TY  - JOUR
TI  - Deep learning for cats
AU  - Smith, Jane
AU  - Müller, Hans
AU  - Smith, John, Jr.
T2  - Journal of Feline Studies
AB  - We show that cats
  prefer boxes.
DA  - 2020/05/01/
PY  - 2020
DO  - https://doi.org/10.1000/ABC.123
VL  - 12
IS  - 3
SP  - 123
EP  - 145
UR  - https://example.org/article/123
L1  - files/12/Smith - 2020 - Deep learning.pdf
L1  - {file_url}
L1  - files/99/gone.pdf
L2  - https://example.org/snapshot.html
N1  - Publisher: Cat Press
ER  - {END}

TY  - PREPRINT
TI  - Attention is all you need
AU  - Vaswani, Ashish
PY  - 2017
UR  - http://arxiv.org/abs/1706.03762v5
L1  - https://arxiv.org/pdf/1706.03762v5
ER  - {END}

TY  - JOUR
T1  - A PubMed record
A1  - Lee, Kim
Y1  - 2019///
JO  - J Cats
AN  - 31234567
DB  - PubMed
ER  - {END}
"""


def test_a_zotero_export_arrives_with_its_l1_pdfs(tmp_path: Path, make_pdf: MakePdf) -> None:
    relative = make_pdf(tmp_path / "export/files/12/Smith - 2020 - Deep learning.pdf")
    elsewhere = make_pdf(tmp_path / "other dir/full text.pdf")
    path = tmp_path / "export/library.ris"
    path.write_text(_zotero_export(elsewhere), encoding="utf-8")

    smith, vaswani, lee = read_records(path)

    assert smith.pdf_files == (relative, elsewhere)  # every L1, a file:// URL decoded
    assert smith.missing_files == (tmp_path / "export/files/99/gone.pdf",)
    assert (vaswani.pdf_files, vaswani.missing_files) == ((), ())
    assert vaswani.record.pdf_url == "https://arxiv.org/pdf/1706.03762v5"  # an http L1 is a PDF link
    assert [smith.where, vaswani.where, lee.where] == [
        "record 1 (line 1)",
        "record 2 (line 24)",
        "record 3 (line 32)",
    ]


def test_fields_are_mapped_and_identifiers_normalised(tmp_path: Path) -> None:
    path = tmp_path / "library.ris"
    path.write_bytes(_zotero_export(tmp_path / "none.pdf").replace("\n", "\r\n").encode())  # Windows lines

    smith, vaswani, lee = (imported.record for imported in read_records(path))

    assert smith.title == "Deep learning for cats"
    assert smith.authors == ["Jane Smith", "Hans Müller", "John Smith Jr."]
    assert smith.abstract == "We show that cats prefer boxes."
    assert (smith.year, smith.venue, smith.volume, smith.issue, smith.pages) == (
        2020,
        "Journal of Feline Studies",
        "12",
        "3",
        "123-145",
    )
    assert (smith.doi, smith.source, smith.pdf_url) == ("10.1000/abc.123", "import", None)
    assert (vaswani.arxiv_id, vaswani.year) == ("1706.03762", 2017)
    assert (lee.title, lee.authors, lee.year, lee.venue, lee.pmid) == (
        "A PubMed record",
        ["Kim Lee"],
        2019,
        "J Cats",
        "31234567",
    )


def test_an_accession_number_of_another_database_is_not_a_pmid(tmp_path: Path) -> None:
    path = tmp_path / "wos.ris"
    path.write_text("TY  - JOUR\nTI  - A paper\nAN  - WOS:000123\nDB  - Web of Science\nER  - \n")
    [imported] = read_records(path)
    assert imported.record.pmid is None


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (
            "TY  - JOUR\nTI  - One\nER  - \n\nTY  - JOUR\nTI  - Cut off\nAU  - Smith, J.\n",
            "line 5",
            "no 'ER'",
        ),
        ("TY  - JOUR\nTI  - One\n\nTY  - JOUR\nTI  - Two\nER  - \n", "line 1", "no 'ER' before line 4"),
        ("TY  - JOUR\nTI  - One\nER  - \n Ty - JOUR\nTI  - Two\nER  - \n", "line 6", "'ER' without a record"),
        ("TY  - JOUR\nAU  - Smith, J.\nER  - \n", "record 1 (line 1)", "needs a title or an identifier"),
    ],
    ids=["cut-off", "no-er-before-next", "malformed-ty", "empty-record"],
)
def test_a_broken_file_fails_naming_the_line(tmp_path: Path, text: str, where: str, reason: str) -> None:
    path = tmp_path / "broken.ris"
    path.write_text(text)
    with pytest.raises(ImportFormatError) as caught:
        read_records(path)
    assert caught.value.where == where
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}: {where}: ")


def test_text_without_records_fails_and_an_empty_file_has_none(tmp_path: Path) -> None:
    path = tmp_path / "notes.ris"
    path.write_text("some notes\nno records\n")
    with pytest.raises(ImportFormatError, match="contains no RIS records"):
        read_records(path)
    path.write_text("\n")
    assert read_records(path) == []
