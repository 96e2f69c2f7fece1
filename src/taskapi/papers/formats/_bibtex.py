"""BibTeX (and BibLaTeX) files, as Zotero, Better BibTeX, JabRef and Google Scholar write them.

Parsed by bibtexparser 2 (``@string`` macros resolved, enclosing braces removed); a block it could not
parse, or a duplicate entry key, fails the import naming the line, so no entry is lost unseen. Fields:
``title``, ``author``, ``year`` (or BibLaTeX ``date``), ``journal``/``journaltitle``/``booktitle``,
``volume``, ``issue`` (or an ``@article``'s ``number``), ``pages``, ``doi``, ``eprint`` with
``archivePrefix``/``eprinttype`` arXiv (or Mendeley's ``arxivId``, an arXiv URL or ``arXiv:...``
note), ``pmid``, ``abstract``, ``url`` (a PDF link becomes ``pdf_url``) and ``file`` (the local PDFs).
"""

from __future__ import annotations

from pathlib import Path

from bibtexparser.entrypoint import parse_string
from bibtexparser.exceptions import BlockAbortedException
from bibtexparser.library import Library
from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

from taskapi.papers.formats import _attachments, _latex
from taskapi.papers.formats._common import (
    ImportedRecord,
    ImportFormatError,
    find_arxiv_id,
    finish,
    first_text,
    page_range,
    pdf_url_of,
)
from taskapi.papers.records import PaperRecord, normalise_year

_DECODED = {
    "title": 4000,
    "abstract": 200_000,
    "journal": 2000,
    "journaltitle": 2000,
    "booktitle": 2000,
    "volume": 200,
    "number": 200,
    "issue": 200,
    "pages": 200,
    "year": 200,
    "date": 200,
    "doi": 500,
    "eprint": 500,
    "archiveprefix": 200,
    "eprinttype": 200,
    "arxivid": 500,
    "pmid": 200,
    "note": 2000,
}
"""The fields the library keeps, decoded from LaTeX, each cut to a bound before decoding (a hostile
value must not cost the decoder minutes); ``PaperRecord.normalised`` cuts them again to its limits."""
_IDENTIFIER_FIELDS = frozenset({"doi", "eprint", "arxivid", "pmid"})
_MAX_AUTHOR_FIELD = 200_000


def parse_bibtex(text: str, path: Path) -> list[ImportedRecord]:
    """Every entry of a BibTeX file, in file order; an ``ImportFormatError`` for a block that does
    not parse, a duplicate key, an entry without a title or an identifier, or a file of no entries."""
    library = parse_string(text)
    _raise_on_failed_blocks(library, path)
    if not library.entries and text.strip():
        raise ImportFormatError(path, None, "contains no BibTeX entries (@article{key, ...})")
    return [_imported(entry, path) for entry in library.entries]


def _raise_on_failed_blocks(library: Library, path: Path) -> None:
    """The first block bibtexparser could not take, as an error naming its line."""
    if library.failed_blocks:
        block = min(library.failed_blocks, key=lambda failed: failed.start_line or 0)
        raise ImportFormatError(path, f"line {(block.start_line or 0) + 1}", _failure(block))


def _failure(block: ParsingFailedBlock) -> str:
    error = block.error
    if isinstance(block, DuplicateBlockKeyBlock):
        return f"duplicate entry key {block.key!r}: each entry needs its own key"
    if isinstance(error, BlockAbortedException):
        return f"the block does not parse: {' '.join(error.abort_reason.split())}"
    return f"the block does not parse: {' '.join(str(error).split()) or type(error).__name__}"


def _fields(entry: Entry) -> dict[str, str]:
    """The entry's text fields by lower-case name (``DOI`` and ``doi`` alike), the first of each."""
    fields: dict[str, str] = {}
    for field in entry.fields:
        if isinstance(field.value, str):
            fields.setdefault(field.key.lower(), field.value)
    return fields


def _imported(entry: Entry, path: Path) -> ImportedRecord:
    where = f"entry {entry.key} (line {(entry.start_line or 0) + 1})"
    raw = _fields(entry)
    fields = {name: _text(name, raw[name][:limit]) for name, limit in _DECODED.items() if name in raw}
    authors = _latex.display_names(raw.get("author", "")[:_MAX_AUTHOR_FIELD])
    record = _record(fields, authors, url=raw.get("url"), kind=entry.entry_type.lower())
    pdfs, missing = _attachments.resolve(_attachments.bibtex_file_pdfs(raw.get("file")), path.parent)
    return ImportedRecord(finish(record, path, where), pdfs, where, missing)


def _text(name: str, value: str) -> str:
    return _latex.identifier_text(value) if name in _IDENTIFIER_FIELDS else _latex.to_text(value)


def _record(fields: dict[str, str], authors: list[str], url: str | None, kind: str) -> PaperRecord:
    """The record of an entry's decoded fields; ``number`` is an issue in an ``@article`` only (a
    report's number, a proceedings' series number, Zotero's ``arXiv:...`` archive id elsewhere)."""
    get = fields.get
    return PaperRecord(
        title=get("title"),
        abstract=get("abstract"),
        authors=authors,
        year=_year(fields),
        venue=first_text(get("journal"), get("journaltitle"), get("booktitle")),
        volume=get("volume"),
        issue=first_text(get("issue"), get("number") if kind == "article" else None),
        pages=page_range(get("pages")),
        doi=get("doi"),
        arxiv_id=_arxiv_id(fields, url),
        pmid=get("pmid"),
        pdf_url=pdf_url_of(url),
    )


def _year(fields: dict[str, str]) -> int | None:
    return normalise_year(fields.get("year")) or normalise_year(fields.get("date"))


def _arxiv_id(fields: dict[str, str], url: str | None) -> str | None:
    """From ``eprint`` when the archive is arXiv (or unnamed: an arXiv-shaped id is arXiv's), else
    Mendeley's ``arxivId``, an arXiv URL, or a text naming ``arXiv:...`` (Google Scholar's journal)."""
    archive = first_text(fields.get("archiveprefix"), fields.get("eprinttype"))
    eprint = fields.get("eprint") if archive is None or archive.strip().lower() == "arxiv" else None
    return find_arxiv_id(
        eprint, fields.get("arxivid"), url, fields.get("journal"), fields.get("note"), fields.get("number")
    )
