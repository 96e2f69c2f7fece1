"""BibTeX import: a Zotero export arrives with its PDFs, LaTeX as text, identifiers normalised, and a
broken file fails naming the spot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from taskapi.papers.formats import ImportedRecord, ImportFormatError, read_records
from tests.papers.formats.conftest import MakePdf

ZOTERO_EXPORT = r"""
@article{smith_deep_2020,
	title = {Deep {Learning} for {Cats}: {A} {Study} of {M}{\"u}ller's {Data}},
	volume = {12},
	issn = {1234-5678},
	shorttitle = {Deep {Learning} for {Cats}},
	url = {https://example.org/article/123},
	doi = {10.1000/ABC.123},
	abstract = {We show that 95\% of cats prefer {\textless}boxes{\textgreater} \& {\em warm} places.},
	language = {en},
	number = {3},
	urldate = {2024-01-15},
	journal = {Journal of Feline Studies},
	author = {Smith, Jane and M{\"u}ller, Hans and {\O}stergaard, Lars and van der Berg, Jan},
	month = may,
	year = {2020},
	note = {Publisher: Cat Press},
	keywords = {cats, deep learning},
	pages = {123--145},
	file = {SMITH_FILES},
}

@misc{vaswani_attention_2017,
	title = {Attention {Is} {All} {You} {Need}},
	url = {http://arxiv.org/abs/1706.03762},
	doi = {10.48550/arXiv.1706.03762},
	urldate = {2024-01-15},
	publisher = {arXiv},
	author = {Vaswani, Ashish and Shazeer, Noam and others},
	month = aug,
	year = {2023},
	note = {arXiv:1706.03762 [cs]},
	file = {VASWANI_FILES},
}

@inproceedings{jones_graphs_2019,
	title = {Graphs on {Windows}},
	booktitle = {Proceedings of the {Graph} {Conference}},
	author = {Jones, Tom},
	year = {2019},
	doi = {https://doi.org/10.1000/GRAPH.7},
	file = {Full Text:files\\14\\jones.pdf:application/pdf;Gone:files/99/gone.pdf:application/pdf},
}
""".replace(
    "SMITH_FILES",
    "Full Text PDF:files/12/Smith et al. - 2020 - Deep Learning for Cats.pdf:application/pdf;"
    "Snapshot:files/13/123.html:text/html;Supplement:files/12/supplement.pdf:application/pdf",
).replace(
    "VASWANI_FILES",
    r"arXiv Fulltext PDF:C\:\\Users\\jane\\Zotero\\storage\\ABCD1234\\Vaswani et al. - 2017.pdf"
    r":application/pdf;"
    r"arXiv.org Snapshot:C\:\\Users\\jane\\Zotero\\storage\\ABCD1234\\1706.html:text/html",
)
"""The file fields as Zotero writes them: ``;`` between attachments, ``\\:`` and ``\\\\`` escaped."""


def _by_key(records: list[ImportedRecord]) -> dict[str, ImportedRecord]:
    return {imported.where.split()[1]: imported for imported in records}


def _write(tmp_path: Path, text: str, name: str = "library.bib") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_zotero_export_arrives_with_the_pdfs_it_names(tmp_path: Path, make_pdf: MakePdf) -> None:
    full_text = make_pdf(tmp_path / "files/12/Smith et al. - 2020 - Deep Learning for Cats.pdf")
    supplement = make_pdf(tmp_path / "files/12/supplement.pdf")
    windows_relative = make_pdf(tmp_path / "files/14/jones.pdf")
    (tmp_path / "files/13").mkdir(parents=True)
    (tmp_path / "files/13/123.html").write_text("<html></html>")

    records = _by_key(read_records(_write(tmp_path, ZOTERO_EXPORT)))

    assert records["smith_deep_2020"].pdf_files == (full_text, supplement)  # not the HTML snapshot
    assert records["smith_deep_2020"].missing_files == ()
    assert records["jones_graphs_2019"].pdf_files == (windows_relative,)  # files\14\jones.pdf
    assert records["jones_graphs_2019"].missing_files == (tmp_path / "files/99/gone.pdf",)
    vaswani = records["vaswani_attention_2017"]
    assert vaswani.pdf_files == ()
    assert vaswani.missing_files == (
        Path(r"C:\Users\jane\Zotero\storage\ABCD1234\Vaswani et al. - 2017.pdf"),
    )  # unescaped, and only the PDF attachment
    assert all(path.is_absolute() for imported in records.values() for path in imported.pdf_files)


def test_fields_are_plain_text_with_identifiers_normalised(tmp_path: Path) -> None:
    records = _by_key(read_records(_write(tmp_path, ZOTERO_EXPORT)))

    smith = records["smith_deep_2020"]
    assert smith.where == "entry smith_deep_2020 (line 2)"
    record = smith.record
    assert record.title == "Deep Learning for Cats: A Study of Müller's Data"
    assert record.authors == ["Jane Smith", "Hans Müller", "Lars Østergaard", "Jan van der Berg"]
    assert record.abstract == "We show that 95% of cats prefer <boxes> & warm places."
    assert (record.year, record.venue, record.volume, record.issue, record.pages) == (
        2020,
        "Journal of Feline Studies",
        "12",
        "3",
        "123-145",
    )
    assert (record.doi, record.arxiv_id, record.source) == ("10.1000/abc.123", None, "import")
    assert record.pdf_url is None  # the url is a landing page

    vaswani = records["vaswani_attention_2017"].record
    assert vaswani.title == "Attention Is All You Need"
    assert vaswani.authors == ["Ashish Vaswani", "Noam Shazeer"]  # "others" is not a person
    assert (vaswani.doi, vaswani.arxiv_id) == ("10.48550/arxiv.1706.03762", "1706.03762")

    jones = records["jones_graphs_2019"].record
    assert (jones.venue, jones.doi) == ("Proceedings of the Graph Conference", "10.1000/graph.7")


@pytest.mark.parametrize(
    ("fields", "arxiv_id"),
    [
        ("eprint = {2101.00001v3}, archivePrefix = {arXiv}", "2101.00001"),
        ("eprint = {hep-ex/0307015}, eprinttype = {arxiv}", "hep-ex/0307015"),
        ("eprint = {2101.00001}", "2101.00001"),
        ("arxivId = {2101.00001}", "2101.00001"),
        ("journal = {arXiv preprint arXiv:2101.00001}", "2101.00001"),
        ("url = {https://arxiv.org/pdf/2101.00001v2.pdf}", "2101.00001"),
        ("doi = {10.48550/ARXIV.2101.00001}", "2101.00001"),
        ("eprint = {2101.00001}, archivePrefix = {HAL}", None),
        ("number = {arXiv:2101.00001}", "2101.00001"),
    ],
)
def test_the_arxiv_id_is_found_where_exporters_put_it(
    tmp_path: Path, fields: str, arxiv_id: str | None
) -> None:
    text = f"@misc{{a, title = {{A paper}}, {fields}}}\n"
    [imported] = read_records(_write(tmp_path, text))
    assert imported.record.arxiv_id == arxiv_id
    assert imported.record.issue is None  # a number outside an @article is not an issue


def test_an_identifier_is_decoded_only_where_escaped(tmp_path: Path) -> None:
    text = r"""
@article{a, title = {A}, doi = {10.1000/a\_b}}
@article{b, title = {B}, doi = {10.1002/(SICI)1097--4636~x}}
"""
    escaped, verbatim = read_records(_write(tmp_path, text))
    assert escaped.record.doi == "10.1000/a_b"
    assert verbatim.record.doi == "10.1002/(sici)1097--4636~x"


def test_biblatex_fields_pmid_macros_and_a_pdf_url(tmp_path: Path) -> None:
    text = r"""
@string{jfs = {Journal of Feline Studies}}
@article{lee2019,
  title = {{BERT}: Pre-training of $\alpha$-helices, 50% faster},
  author = {Lee, Kim and {World Health Organization}},
  date = {2019-06-01},
  journaltitle = jfs,
  pmid = {031234567},
  url = {https://example.org/papers/lee.pdf},
}
"""
    [imported] = read_records(_write(tmp_path, text))
    record = imported.record
    assert record.title == r"BERT: Pre-training of $\alpha$-helices, 50% faster"  # math kept, % is text
    assert record.authors == ["Kim Lee", "World Health Organization"]
    assert (record.year, record.venue, record.pmid) == (2019, "Journal of Feline Studies", "31234567")
    assert record.pdf_url == "https://example.org/papers/lee.pdf"


def test_a_block_that_does_not_parse_fails_naming_its_line(tmp_path: Path) -> None:
    text = (
        "@article{good, title = {Good}}\n\n"
        "@article{broken,\n  title = {Broken},\n  year = 2020\n\n"  # no closing brace
        "@article{next, title = {Next}}\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(ImportFormatError) as caught:
        read_records(path)
    assert caught.value.where == "line 3"
    assert str(caught.value).startswith(f"{path}: line 3: the block does not parse: ")


def test_a_duplicate_key_fails_naming_its_line(tmp_path: Path) -> None:
    text = "@article{same, title = {One}}\n@article{same, title = {Two}}\n"
    with pytest.raises(ImportFormatError, match=r"line 2: duplicate entry key 'same'"):
        read_records(_write(tmp_path, text))


def test_an_entry_without_title_or_identifier_fails_naming_it(tmp_path: Path) -> None:
    text = "@article{ok, title = {A title}}\n\n@misc{empty_one,\n  note = {nothing else},\n}\n"
    with pytest.raises(ImportFormatError) as caught:
        read_records(_write(tmp_path, text))
    assert caught.value.where == "entry empty_one (line 3)"
    assert "needs a title or an identifier (doi, arxiv_id, s2_id, openalex_id, pmid)" in str(caught.value)


def test_text_that_is_not_bibtex_fails_and_an_empty_file_has_no_records(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="contains no BibTeX entries"):
        read_records(_write(tmp_path, "just some notes\nabout papers\n"))
    assert read_records(_write(tmp_path, "\n  \n", name="empty.bib")) == []


def test_hostile_sizes_are_cut_quickly(tmp_path: Path) -> None:
    names = " and ".join(f"Author{i}, A." for i in range(5000))
    title = "Long {\\'e}" + " word" * 200_000
    text = f"@article{{big,\n title = {{{title}}},\n author = {{{names}}},\n doi = {{10.1/x}}\n}}\n"
    started = time.perf_counter()
    [imported] = read_records(_write(tmp_path, text))
    assert time.perf_counter() - started < 5
    assert imported.record.title is not None and len(imported.record.title) <= 2000
    assert imported.record.title.startswith("Long é word")
    assert len(imported.record.authors) == 500
    assert imported.record.authors[0] == "A. Author0"


@pytest.mark.parametrize(
    "value",
    [
        r"Deep {Learning} in M{\"u}nchen and {\AA}rhus",
        r"{\em Deep nets} for {\textless}cats{\textgreater}: $a + b = c$ -- really?",
        r"``Quoted'' and 5\% of {\&} cases, caf\'e~au~lait",
        r"\textit{In vivo} and \textbf {bold} and a \\ break and \url{https://x.org/a_b}",
        r"Unbalanced {brace and \"o",
        r"Prices of $5 and $10 and {$\alpha$-helices}",
        r"M{\"u}ller--Lee {\'e}t{\'e} \"{u}ber \textit{\"u}ber {\{}x{\}} 5\%x \$5 {\em x}y {\o}{\ss}",
        r"We show that 95\% of cats prefer {\textless}boxes{\textgreater} \& {\"u}ber-{\o}l {\&} {\{}",
        r"{\textless}b{\textgreater}bold{\textless}/b{\textgreater} a\_b \#1 R\&D {\\}",
    ],
)
def test_decoding_piece_by_piece_equals_decoding_the_whole_value(value: str) -> None:
    """The speed-up (decode the pieces between spaces alone) must not change the text."""
    from taskapi.papers.formats import _latex

    whole = _latex._latex_to_text().latex_to_text(value)
    by_pieces = _latex.to_text(value)
    assert " ".join(by_pieces.split()) == " ".join(whole.split())


def test_file_fields_of_other_exporters(tmp_path: Path, make_pdf: MakePdf) -> None:
    """Better BibTeX's bare absolute path, Mendeley's ``:path:pdf``, JabRef's unescaped drive."""
    absolute = make_pdf(tmp_path / "elsewhere/Lee 2019.pdf")
    relative = make_pdf(tmp_path / "pdfs/kim.pdf")
    text = (
        f"@article{{bbt, title = {{A}}, file = {{{absolute}}}}}\n"
        "@article{mendeley, title = {B}, file = {:pdfs/kim.pdf:pdf}}\n"
        "@article{jabref, title = {C}, file = {:C:\\Users\\x\\c.pdf:PDF}}\n"
        "@article{html_only, title = {D}, file = {Snapshot:pdfs/page.html:text/html}}\n"
    )
    bbt, mendeley, jabref, html_only = read_records(_write(tmp_path, text))
    assert (bbt.pdf_files, mendeley.pdf_files) == ((absolute,), (relative,))
    assert (jabref.pdf_files, jabref.missing_files) == ((), (Path(r"C:\Users\x\c.pdf"),))
    assert (html_only.pdf_files, html_only.missing_files) == ((), ())


def test_a_file_field_naming_thousands_of_files_is_bounded(tmp_path: Path) -> None:
    many = ";".join(f"PDF:files/{i}.pdf:application/pdf" for i in range(200_000))
    started = time.perf_counter()
    [imported] = read_records(_write(tmp_path, f"@article{{a, title = {{A}}, file = {{{many}}}}}\n"))
    assert time.perf_counter() - started < 5
    assert imported.pdf_files == () and len(imported.missing_files) == 100
