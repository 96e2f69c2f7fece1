"""The papers library's rules that every door shares: the HTTP routes and the CLI are thin layers over
``PaperService``, as the task routes are over ``TaskService``.

It checks what a caller gives (ids, limits, records: all before anything is written), imports records
through the repository's upsert, copies an export's local PDFs into the file store and attaches them,
and answers lists page by page with an opaque cursor.

Until the full-text index exists (the ``index`` step), ``q`` is answered by reading the project's papers
newest first, a thousand at a time, and keeping those whose title, abstract or authors contain every
word of ``q`` (case- and accent-insensitive, as a word or the start of one). It costs a scan of the
project when few papers match; the index will replace it behind the same ``list``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from taskapi.domain import DEFAULT_LIST_LIMIT, MAX_ID, MAX_LIST_LIMIT, InvalidInput, utcnow
from taskapi.papers.errors import PaperFileNotFound, PaperNotFound
from taskapi.papers.files import FileStore, StoredFile
from taskapi.papers.formats import ImportedRecord, read_records, record_from_json
from taskapi.papers.records import Paper, PaperFile, fold
from taskapi.papers.repository import (
    ImportResult,
    PaperCursor,
    PapersRepository,
    decode_paper_cursor,
    encode_paper_cursor,
)

MAX_IMPORT = 10_000
"""Most records one ``import_papers`` call takes (an import file has no such bound)."""
MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 20
SCAN_BATCH = 1_000
"""Papers read per query while ``q`` is answered by scanning (see the module's docstring)."""
SNIPPET_CHARS = 300
MAX_PDF_BYTES = 1 << 30
"""Largest local PDF an import copies into the file store (a named file may be anything)."""
PDF_CONTENT_TYPE = "application/pdf"
_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WITHIN = 1024  # readers accept a little junk before the header; so do we
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def check_id(name: str, value: object) -> int:
    """An id or project id: an integer in 1..2**63-1 (the task service's rule and message)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(name, f"must be an integer between 1 and {MAX_ID}")
    if not 1 <= value <= MAX_ID:
        raise InvalidInput(name, f"must be an integer between 1 and {MAX_ID}, got {value}")
    return value


def check_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIST_LIMIT:
        raise InvalidInput("limit", f"must be an integer between 1 and {MAX_LIST_LIMIT}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ListedPaper:
    """A paper of a list; with ``q``, how many times its words occur (``score``) and the passage that
    shows why it matched (``snippet``: the abstract's best sentence, else the title)."""

    paper: Paper
    score: int | None = None
    snippet: str | None = None


@dataclass(frozen=True, slots=True)
class PaperPage:
    """One page of a list; ``next_cursor`` is set when the page is full (the next may be empty)."""

    items: list[ListedPaper]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ImportFileResult:
    """What ``import_file`` did: papers created and merged, each record's paper id in file order, the
    PDFs attached, and the files the export names that could not be attached (absent, unreadable, not
    a PDF, or too large), as paths."""

    created: int
    merged: int
    ids: list[int]
    attached_pdfs: int
    missing_files: list[str] = field(default_factory=list)


class TextQuery:
    """The words of ``q`` and how a paper matches them: every word, in its title, abstract or
    authors, as a word or the start of one (``network`` finds ``networks``), case and accents aside."""

    def __init__(self, q: str) -> None:
        if len(q) > MAX_QUERY_CHARS:
            raise InvalidInput("q", f"must be at most {MAX_QUERY_CHARS} characters, got {len(q)}")
        words = list(dict.fromkeys(fold(q).split()))
        if not words:
            raise InvalidInput("q", f"must contain a letter or a digit, got {q!r}")
        if len(words) > MAX_QUERY_WORDS:
            raise InvalidInput("q", f"must have at most {MAX_QUERY_WORDS} words, got {len(words)}")
        self.words = words
        self._patterns = [re.compile(rf"\b{re.escape(word)}") for word in words]

    def match(self, paper: Paper) -> ListedPaper | None:
        """``paper`` with its score and snippet if it contains every word, else ``None``."""
        raw = " ".join(filter(None, [paper.title, paper.abstract, *paper.authors]))
        if raw.isascii():  # folding keeps ASCII letters: a word missing from the lower-case text is absent
            lower = raw.lower()
            if not all(word in lower for word in self.words):
                return None
        text = fold(raw)
        counts = [len(pattern.findall(text)) for pattern in self._patterns]
        if not all(counts):
            return None
        return ListedPaper(paper, score=sum(counts), snippet=self.snippet(paper))

    def snippet(self, paper: Paper) -> str | None:
        """The abstract's sentence with the most of the words (the first of equals), else the title."""
        best, best_hits = None, 0
        for sentence in _SENTENCE_END.split(paper.abstract or ""):
            folded = fold(sentence)
            hits = sum(1 for pattern in self._patterns if pattern.search(folded))
            if hits > best_hits:
                best, best_hits = sentence, hits
        return _shortened(best or paper.title)


def _shortened(text: str | None) -> str | None:
    if text is None or len(text) <= SNIPPET_CHARS:
        return text
    return text[: SNIPPET_CHARS - 1].rstrip() + "\u2026"


def _cursor_after(paper: Paper) -> PaperCursor:
    return PaperCursor(created_at=paper.created_at, id=paper.id)


def _is_pdf(path: Path) -> bool:
    """A regular file of at most ``MAX_PDF_BYTES`` whose first bytes hold the PDF header."""
    try:
        if path.stat().st_size > MAX_PDF_BYTES:
            return False
        with path.open("rb") as handle:
            return _PDF_MAGIC in handle.read(_PDF_MAGIC_WITHIN)
    except OSError:
        return False


# Aliases for annotations inside PaperService, where ``list`` names its method.
_Hits = list[ListedPaper]
_Firsts = list[StoredFile | None]
_Paths = list[str]


class PaperService:
    """The papers library over its repository and file store. ``files`` may be left out by callers
    that only read the library (``papers list``/``show``); importing files and serving PDFs need it."""

    def __init__(self, repository: PapersRepository, files: FileStore | None = None) -> None:
        self.repository = repository
        self.files = files

    # -- reading ------------------------------------------------------------------------------------

    def get(self, paper_id: int) -> Paper:
        """One paper with its file; ``PaperNotFound`` if there is none with this id."""
        paper = self.repository.paper_get(check_id("id", paper_id))
        if paper is None:
            raise PaperNotFound(paper_id)
        return paper

    def list(
        self,
        project_id: int | None = None,
        *,
        q: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        cursor: str | None = None,
        include_duplicates: bool = False,
    ) -> PaperPage:
        """Papers newest first (every project's unless ``project_id``), duplicates hidden unless asked;
        with ``q`` (blank is none) only those containing all its words. ``cursor`` is a previous page's
        ``next_cursor``."""
        project = None if project_id is None else check_id("project_id", project_id)
        limit = check_limit(limit)
        after = None if cursor is None else decode_paper_cursor(cursor)
        query = TextQuery(q) if q is not None and q.strip() else None
        if query is None:
            papers = self.repository.paper_list(
                project, limit=limit, after=after, include_duplicates=include_duplicates
            )
            items = [ListedPaper(paper) for paper in papers]
        else:
            items = self._search(project, query, limit, after, include_duplicates)
        following = _cursor_after(items[-1].paper) if items and len(items) == limit else None
        return PaperPage(items, None if following is None else encode_paper_cursor(following))

    def _search(
        self,
        project_id: int | None,
        query: TextQuery,
        limit: int,
        after: PaperCursor | None,
        include_duplicates: bool,
    ) -> _Hits:
        """The first ``limit`` matches after ``after``, reading the list a batch at a time."""
        hits: _Hits = []
        while True:
            batch = self.repository.paper_list(
                project_id, limit=SCAN_BATCH, after=after, include_duplicates=include_duplicates
            )
            for paper in batch:
                hit = query.match(paper)
                if hit is not None:
                    hits.append(hit)
                    if len(hits) == limit:
                        return hits
            if len(batch) < SCAN_BATCH:
                return hits
            after = _cursor_after(batch[-1])

    def pdf_path(self, paper_id: int) -> Path:
        """The stored PDF of a paper on this machine; ``PaperNotFound`` when the paper is not there,
        ``PaperFileNotFound`` (a ``PaperNotFound``) when its PDF is not."""
        paper = self.get(paper_id)
        if paper.file is None:
            raise PaperFileNotFound(paper.id)
        path = self._file_store().local_path(paper.file.sha256)
        if path is None:
            raise PaperFileNotFound(paper.id, "has a PDF on record, but the file store does not hold it")
        return path

    # -- importing ----------------------------------------------------------------------------------

    def import_papers(self, project_id: int, records: Sequence[object]) -> ImportResult:
        """Import 1..10,000 JSON records (``POST /api/v1/papers``): all are checked first, and one bad
        record (``papers.3``, ``papers.3.year``) imports none. ``ids`` follow the records' order."""
        project = check_id("project_id", project_id)
        if isinstance(records, str | bytes) or not isinstance(records, Sequence):
            raise InvalidInput("papers", "must be a list of paper objects")
        if not 1 <= len(records) <= MAX_IMPORT:
            raise InvalidInput("papers", f"must hold between 1 and {MAX_IMPORT} papers, got {len(records)}")
        checked = [record_from_json(value, f"papers.{index}") for index, value in enumerate(records)]
        return self.repository.import_records(project, checked)

    def import_file(self, project_id: int, path: Path, fmt: str | None = None) -> ImportFileResult:
        """Import an export file (BibTeX, RIS, CSL-JSON, JSON Lines; ``fmt`` or guessed from the name)
        and attach the local PDFs it names: each is copied into the file store, and a record's first
        PDF becomes its paper's file unless the paper has one already (an import fills what is empty,
        as the upsert does). A file that does not parse imports nothing (``ImportFormatError``)."""
        project = check_id("project_id", project_id)
        imported = read_records(path, fmt)
        files = self._file_store() if any(item.pdf_files for item in imported) else None
        stored, missing = self._store_pdfs(files, imported)
        result = self.repository.import_records(project, [item.record for item in imported])
        attached = sum(
            self._attach(paper_id, pdf) for paper_id, pdf in zip(result.ids, stored, strict=True) if pdf
        )
        return ImportFileResult(result.created, result.merged, list(result.ids), attached, missing)

    def _store_pdfs(
        self, files: FileStore | None, imported: Sequence[ImportedRecord]
    ) -> tuple[_Firsts, _Paths]:
        """Each record's first PDF that could be stored (every PDF named is copied in), and the named
        files that could not."""
        firsts: _Firsts = []
        missing: _Paths = []
        for item in imported:
            missing.extend(str(path) for path in item.missing_files)
            first: StoredFile | None = None
            for pdf in item.pdf_files:
                stored = self._put_pdf(files, pdf) if files is not None else None
                if stored is None:
                    missing.append(str(pdf))
                first = first or stored
            firsts.append(first)
        return firsts, list(dict.fromkeys(missing))

    @staticmethod
    def _put_pdf(files: FileStore, pdf: Path) -> StoredFile | None:
        if not _is_pdf(pdf):
            return None
        try:
            return files.put_file(pdf)
        except OSError:
            return None

    def _attach(self, paper_id: int, stored: StoredFile) -> bool:
        """Attach ``stored`` unless the paper has a file already; answer whether it did."""
        paper = self.repository.paper_get(paper_id)
        if paper is None or paper.file is not None:
            return False
        attached = PaperFile(
            sha256=stored.sha256,
            bytes=stored.size,
            url=None,
            content_type=PDF_CONTENT_TYPE,
            path=stored.path,
            fetched_at=utcnow(),
        )
        self.repository.file_attach(paper_id, attached)
        return True

    def _file_store(self) -> FileStore:
        if self.files is None:
            raise RuntimeError("this PaperService was built without a file store")
        return self.files


__all__ = [
    "MAX_IMPORT",
    "ImportFileResult",
    "ImportResult",
    "ListedPaper",
    "PaperPage",
    "PaperService",
    "TextQuery",
]
