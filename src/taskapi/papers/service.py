"""The papers library's rules that every door shares: the HTTP routes and the CLI are thin layers over
``PaperService``, as the task routes are over ``TaskService``.

It checks what a caller gives (ids, limits, records: all before anything is written), imports records
through the repository's upsert, copies an export's local PDFs into the file store and attaches them,
and answers lists page by page with an opaque cursor.

With ``q``, the list is the full-text index ranked best first (``PapersRepository.search``): papers
not indexed yet (before an ``index`` run) are not found, and a project never indexed answers an empty
list. Its pages are an offset (an opaque cursor bound to the query), up to ``MAX_RANKED`` results.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from taskapi.domain import DEFAULT_LIST_LIMIT, InvalidInput, check_id, check_limit, utcnow
from taskapi.papers._search import InvalidQuery
from taskapi.papers.errors import PaperFileNotFound, PaperNotFound
from taskapi.papers.files import FileStore, StoredFile
from taskapi.papers.formats import ImportedRecord, read_records, record_from_json
from taskapi.papers.records import ListedPaper, Paper, PaperDetail, PaperFile
from taskapi.papers.repository import (
    ImportResult,
    PaperCursor,
    PapersRepository,
    decode_paper_cursor,
    encode_paper_cursor,
)
from taskapi.papers.texts import PaperText

MAX_IMPORT = 10_000
"""Most records one ``import_papers`` call takes (an import file has no such bound)."""
MAX_QUERY_CHARS = 500
MAX_RANKED = 100_000
"""Ranked results reachable by paging (a search box's answer is read from the top)."""
MAX_PDF_BYTES = 1 << 30
"""Largest local PDF an import copies into the file store (a named file may be anything)."""
PDF_CONTENT_TYPE = "application/pdf"
_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WITHIN = 1024  # readers accept a little junk before the header; so do we
_BAD_CURSOR = "not a cursor this API issued for this query (use the X-Next-Cursor header)"


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


def _query_key(project_id: int | None, q: str) -> str:
    return hashlib.sha256(f"{project_id}|{q}".encode()).hexdigest()[:12]


def encode_rank_cursor(project_id: int | None, q: str, offset: int) -> str:
    """The opaque cursor of a ranked page: where the next page starts, bound to its query."""
    raw = f"rank|{offset}|{_query_key(project_id, q)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_rank_cursor(token: str, project_id: int | None, q: str) -> int:
    """The offset a ranked page's cursor names; ``InvalidInput`` for any other token (a cursor of
    another query, or of the list without ``q``)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, offset, key = raw.split("|")
        start = int(offset)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor", _BAD_CURSOR) from exc
    if kind != "rank" or key != _query_key(project_id, q) or not 0 <= start <= MAX_RANKED:
        raise InvalidInput("cursor", _BAD_CURSOR)
    return start


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

    def detail(self, paper_id: int) -> PaperDetail:
        """One paper with its file and the summary of its text; ``PaperNotFound`` if none."""
        paper = self.get(paper_id)
        return PaperDetail(paper, self.repository.text_summary(paper.id))

    def text(self, paper_id: int) -> PaperText:
        """The paper's extracted text per page (none before ``ocr``); ``PaperNotFound`` if no paper."""
        paper = self.get(paper_id)
        return PaperText(paper.id, self.repository.paper_text(paper.id))

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
        with ``q`` (blank is none) those the full-text index finds, best first (duplicates are never
        indexed). ``cursor`` is a previous page's ``next_cursor``."""
        project = None if project_id is None else check_id("project_id", project_id)
        limit = check_limit(limit)
        if q is not None and q.strip():
            return self._ranked(project, q, limit, cursor)
        after = None if cursor is None else decode_paper_cursor(cursor)
        papers = self.repository.paper_list(
            project, limit=limit, after=after, include_duplicates=include_duplicates
        )
        following = _cursor_after(papers[-1]) if papers and len(papers) == limit else None
        items = [ListedPaper(paper) for paper in papers]
        return PaperPage(items, None if following is None else encode_paper_cursor(following))

    def _ranked(self, project_id: int | None, q: str, limit: int, cursor: str | None) -> PaperPage:
        """One page of the ranked search; the next page's cursor when this one is full and more can
        follow within ``MAX_RANKED``."""
        if len(q) > MAX_QUERY_CHARS:
            raise InvalidInput("q", f"must be at most {MAX_QUERY_CHARS} characters, got {len(q)}")
        offset = 0 if cursor is None else decode_rank_cursor(cursor, project_id, q)
        limit = min(limit, MAX_RANKED - offset)
        try:
            hits = self.repository.search(project_id, q, limit=limit, offset=offset) if limit else []
        except InvalidQuery as exc:
            raise InvalidInput("q", str(exc)) from None
        items = [ListedPaper(hit.paper, score=hit.score, snippet=hit.snippet) for hit in hits]
        following = offset + len(hits)
        full = bool(hits) and len(hits) == limit and following < MAX_RANKED
        return PaperPage(items, encode_rank_cursor(project_id, q, following) if full else None)

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
    "PaperDetail",
    "PaperPage",
    "PaperService",
    "PaperText",
]
