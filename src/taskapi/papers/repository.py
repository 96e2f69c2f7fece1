"""The papers library in the database: upsert of records, reads, dedup's and crawl's writes, and the
shared pacing of the sources. Same methods on SQLite and PostgreSQL, each dialect with its named SQL
(``papers/sql/<dialect>/queries.sql``).

Every write is a short transaction of its own (``store.transaction()``): SQLite has one writer, and a
claim or a progress report must not wait long behind an import, so large writes go in batches.
A task's writes are fenced by ``(task id, attempt)``: each batch first checks, in its transaction, that
the task is still running at that attempt, and writes nothing if it is not (``FenceLost``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskapi.domain import Cursor, decode_cursor, encode_cursor
from taskapi.papers._base import PAPERS_COMPONENT, Fence, FenceLost, batches
from taskapi.papers._index import IndexMethods
from taskapi.papers._rows import draft_of, paper_of, string_list
from taskapi.papers._search import EmptyQuery, InvalidQuery
from taskapi.papers._texts import TextMethods
from taskapi.papers._upsert import MAX_HOPS, BatchUpsert, Draft, flatten, mark_duplicates
from taskapi.papers.errors import PaperNotFound
from taskapi.papers.records import IDENTIFIERS, Paper, PaperFile, PaperRecord
from taskapi.papers.texts import IndexedDocument, IndexResult, OcrTarget, PageText, SearchHit
from taskapi.store.db import Tx

DEFAULT_BATCH = 1000
"""Records (or duplicate pairs) per write transaction. Measured on SQLite: about 0.1 s per batch."""

PaperCursor = Cursor
"""A keyset position of the paper list (``created_at``, ``id``): the task list's, same opaque token."""
encode_paper_cursor = encode_cursor
decode_paper_cursor = decode_cursor


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did. ``ids[i]`` is the paper record ``i`` went to, ``new[i]`` whether it created it.

    ``created + merged == len(ids)``: ``merged`` counts every record that went to a paper it did not
    create, one the project had or one an earlier record of the same call created.
    ``already_present`` counts only those merged into papers the project had before the call (search's
    ``already_present``).
    """

    created: int
    merged: int
    ids: list[int]
    new: list[bool]

    @property
    def already_present(self) -> int:
        created_here = {paper_id for paper_id, new in zip(self.ids, self.new, strict=True) if new}
        return sum(1 for paper_id in self.ids if paper_id not in created_here)


@dataclass(frozen=True, slots=True)
class CrawlTarget:
    """A paper to fetch a PDF for: its candidate URLs (``pdf_candidates`` then ``pdf_url``, without
    repeats, possibly none), and its DOI and arXiv id for the fallbacks (Unpaywall, arxiv.org/pdf)."""

    paper_id: int
    candidates: tuple[str, ...]
    doi: str | None
    arxiv_id: str | None = None


def next_paper_cursor(page: Sequence[Paper], limit: int) -> PaperCursor | None:
    """Where the next page starts: after the last paper of a full page; ``None`` after a short one."""
    if not page or len(page) < limit:
        return None
    return PaperCursor(created_at=page[-1].created_at, id=page[-1].id)


class PapersRepository(TextMethods, IndexMethods):
    """The papers of every project, in the store's database (migrated with ``PAPERS_COMPONENT``), with
    their page texts and full-text index (``TextMethods``, ``IndexMethods``)."""

    # -- the upsert -------------------------------------------------------------------------------

    def import_records(
        self,
        project_id: int,
        records: Sequence[PaperRecord],
        *,
        fence: Fence | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> ImportResult:
        """Upsert ``records`` (normalised here) into the project's library, ``batch_size`` per
        transaction, in input order (see ``BatchUpsert`` for the rules).

        A record with neither a title nor an identifier raises ``ValueError`` before anything is
        written. Batches commit one by one: a store failure (or ``FenceLost``) mid-way leaves the
        earlier batches in; importing the same records again is then harmless for every record with
        an identifier (they merge into the papers the first try created).
        """
        prepared = [record.normalised() for record in records]
        for index, record in enumerate(prepared):
            if record.is_empty:
                raise ValueError(f"papers.{index}: a record needs a title or an identifier")
        placed: list[tuple[int, bool]] = []
        for batch in batches(prepared, batch_size):
            placed.extend(self._import_batch(project_id, batch, fence))
        created = sum(1 for _, new in placed if new)
        return ImportResult(
            created=created,
            merged=len(placed) - created,
            ids=[paper_id for paper_id, _ in placed],
            new=[new for _, new in placed],
        )

    def _import_batch(
        self, project_id: int, batch: Sequence[PaperRecord], fence: Fence | None
    ) -> list[tuple[int, bool]]:
        with self._store.transaction() as tx:
            self._guard(tx, fence, project_id)
            plan = BatchUpsert(self._closure(tx, self._matches(tx, project_id, batch)))
            placed = [plan.place(record) for record in batch]
            for draft, paper_id in zip(
                plan.created, self._codec.insert(tx, self._queries, project_id, plan.created), strict=True
            ):
                draft.id = paper_id
            self._codec.update(tx, self._queries, plan.changed)
        return [(_id_of(draft), new) for draft, new in placed]

    def _matches(self, tx: Tx, project_id: int, batch: Sequence[PaperRecord]) -> list[dict[str, Any]]:
        """The project's papers that carry any identifier of the batch (duplicates included)."""
        values: dict[str, set[str]] = {name: set() for name in IDENTIFIERS}
        for record in batch:
            for name, value in record.identifiers().items():
                values[name].add(value)
        if not any(values.values()):
            return []
        params = {name: self._codec.array(sorted(found)) for name, found in values.items()}
        return tx.fetch(self._queries["paper_match"], {**params, "project_id": project_id})

    def _closure(self, tx: Tx, rows: Sequence[Mapping[str, Any]]) -> dict[int, Draft]:
        """``rows`` as drafts, with the canonical papers their ``duplicate_of`` leads to."""
        drafts = {row["id"]: draft_of(row) for row in rows}
        for _ in range(MAX_HOPS):
            missing = {d.duplicate_of for d in drafts.values() if d.duplicate_of is not None} - drafts.keys()
            found = self._fetch_many(tx, missing) if missing else []
            if not found:
                break
            drafts.update((row["id"], draft_of(row)) for row in found)
        return drafts

    def _fetch_many(self, tx: Tx, ids: set[int]) -> list[dict[str, Any]]:
        return tx.fetch(self._queries["paper_get_many"], {"ids": self._codec.array(sorted(ids))})

    # -- reads ------------------------------------------------------------------------------------

    def paper_get(self, paper_id: int) -> Paper | None:
        """The paper with its file (if it has one), or ``None``."""
        with self._store.reading() as tx:
            row = tx.fetch_one(self._queries["paper_get"], {"id": paper_id})
        return None if row is None else paper_of(row, self._codec)

    def paper_list(
        self,
        project_id: int | None,
        *,
        limit: int,
        after: PaperCursor | None = None,
        include_duplicates: bool = False,
    ) -> list[Paper]:
        """Newest first (``created_at`` desc, ``id`` desc), after ``after``; of one project or all."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        present = [
            name
            for name, wanted in (
                ("project_id", project_id is not None),
                ("canonical", not include_duplicates),
                ("after", after is not None),
            )
            if wanted
        ]
        filters = " AND ".join(self._queries[f"paper_list.{name}"] for name in present) or "1 = 1"
        params = {
            "limit": limit,
            "project_id": project_id,
            "after_created_at": None if after is None else self._codec.time_param(after.created_at),
            "after_id": None if after is None else after.id,
        }
        with self._store.reading() as tx:
            rows = tx.fetch(self._queries["paper_list"].replace("{filters}", filters), params)
        return [paper_of(row, self._codec) for row in rows]

    def papers_for_dedup(self, project_id: int) -> list[Paper]:
        """The project's papers that are not duplicates, by id, each with its file (or ``None``)."""
        with self._store.reading() as tx:
            rows = tx.fetch(self._queries["papers_for_dedup"], {"project_id": project_id})
        return [paper_of(row, self._codec) for row in rows]

    def project_count(self, project_id: int, *, include_duplicates: bool = False) -> int:
        """How many papers the project has (without its duplicates unless asked)."""
        name = "project_count_all" if include_duplicates else "project_count"
        with self._store.reading() as tx:
            row = tx.fetch_one(self._queries[name], {"project_id": project_id})
        return 0 if row is None else int(row["n"])

    # -- dedup ------------------------------------------------------------------------------------

    def dedup_apply(
        self,
        project_id: int,
        duplicate_of: Mapping[int, int],
        *,
        fence: Fence,
        batch_size: int = DEFAULT_BATCH,
    ) -> int:
        """Mark each key a duplicate of its value and merge its identifiers (into empty fields),
        sources and PDF candidates into that canonical paper; the key's own duplicates move to the
        canonical too (``duplicate_of`` stays one hop deep). Answer how many rows changed: a second
        call with the same map changes none, and a row's ``updated_at`` moves only when it changes.

        Chains within the map are followed (``a->b, b->c`` marks both at ``c``); a cycle, or a paper
        that is not the project's, raises ``ValueError`` (in the batch that meets it; earlier batches
        stay).
        """
        pairs = sorted(flatten(duplicate_of).items())
        changed: set[int] = set()
        for batch in batches(pairs, batch_size):
            changed |= self._dedup_batch(project_id, batch, fence)
        return len(changed)

    def _dedup_batch(self, project_id: int, pairs: Sequence[tuple[int, int]], fence: Fence) -> set[int]:
        """One transaction; answer the ids of the rows it changed."""
        with self._store.transaction() as tx:
            self._guard(tx, fence, project_id)
            wanted = {paper_id for pair in pairs for paper_id in pair}
            rows = [row for row in self._fetch_many(tx, wanted) if row["project_id"] == project_id]
            absent = wanted - {row["id"] for row in rows}
            if absent:
                raise ValueError(f"not papers of project {project_id}: {sorted(absent)[:10]}")
            drafts = self._closure(tx, rows)
            mark_duplicates(drafts, pairs)
            changed = sorted((d for d in drafts.values() if d.changed), key=_id_of)
            self._codec.update(tx, self._queries, changed)
            moved = tx.fetch(
                self._queries["paper_repoint_duplicates"],
                {"pairs": _pairs_json(drafts, pairs), "now": self._codec.now()},
            )
        return {_id_of(draft) for draft in changed} | {row["id"] for row in moved}

    # -- crawl ------------------------------------------------------------------------------------

    def crawl_candidates(
        self, project_id: int, paper_ids: Sequence[int] | None, *, overwrite: bool, limit: int
    ) -> list[CrawlTarget]:
        """The papers to fetch, at most ``limit``: with ``paper_ids`` None every non-duplicate paper
        of the project without a file (every one when ``overwrite``), by id; else those of
        ``paper_ids`` that are the project's (without a file unless ``overwrite``), in that order."""
        if limit < 0:
            raise ValueError(f"limit must be at least 0, got {limit}")
        params: dict[str, Any] = {"project_id": project_id, "overwrite": overwrite, "limit": limit}
        if paper_ids is None:
            with self._store.reading() as tx:
                rows = tx.fetch(self._queries["crawl_candidates"], params)
            return [_crawl_target(row) for row in rows]
        wanted = list(dict.fromkeys(paper_ids))
        params["ids"] = self._codec.array(wanted)
        with self._store.reading() as tx:
            by_id = {row["id"]: row for row in tx.fetch(self._queries["crawl_candidates_of"], params)}
        return [_crawl_target(by_id[paper_id]) for paper_id in wanted if paper_id in by_id][:limit]

    def file_attach(self, paper_id: int, file: PaperFile, *, fence: Fence | None = None) -> None:
        """Record the paper's stored PDF (replacing an earlier one); ``PaperNotFound`` if no such paper."""
        params = {
            "paper_id": paper_id,
            "sha256": file.sha256,
            "bytes": file.bytes,
            "url": file.url,
            "content_type": file.content_type,
            "path": file.path,
            "fetched_at": self._codec.time_param(file.fetched_at),
        }
        with self._store.transaction() as tx:
            self._guard(tx, fence, None)
            if tx.execute(self._queries["file_upsert"], params) == 0:
                raise PaperNotFound(paper_id)

    # -- pacing -----------------------------------------------------------------------------------

    def pace_reserve(self, key: str, interval: float) -> float:
        """Take the next slot of ``key`` (a source or a host): answer how many seconds the caller
        must wait before sending. One atomic statement: slots are ``interval`` apart for every
        worker and host sharing the database (the database's clock on PostgreSQL)."""
        params = {"key": key, "interval": _seconds("interval", interval)}
        with self._store.transaction() as tx:  # SQLite: the host clock, read once this is the writer
            row = tx.fetch_one(self._queries["pace_reserve"], {**params, "now": time.time()})
        assert row is not None, "an upsert with RETURNING answers one row"
        return float(row["wait"])

    def pace_push(self, key: str, seconds: float) -> None:
        """Nobody sends to ``key`` before now + ``seconds`` (a 429 asked for that); a later slot
        already reserved stays."""
        params = {"key": key, "seconds": _seconds("seconds", seconds)}
        with self._store.transaction() as tx:
            tx.execute(self._queries["pace_push"], {**params, "now": time.time()})


def _seconds(name: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _id_of(draft: Draft) -> int:
    assert draft.id is not None, "every draft has an id once the batch is written"
    return draft.id


def _pairs_json(drafts: Mapping[int, Draft], pairs: Sequence[tuple[int, int]]) -> str:
    """``[[duplicate, canonical], ...]`` as they ended (a skipped pair points nowhere and moves none)."""
    ended = [[dup, drafts[dup].duplicate_of] for dup, _ in pairs if drafts[dup].duplicate_of is not None]
    return json.dumps(ended)


def _crawl_target(row: Mapping[str, Any]) -> CrawlTarget:
    urls = [*string_list(row["pdf_candidates"]), *([row["pdf_url"]] if row["pdf_url"] else [])]
    return CrawlTarget(
        paper_id=row["id"], candidates=tuple(dict.fromkeys(urls)), doi=row["doi"], arxiv_id=row["arxiv_id"]
    )


__all__ = [
    "DEFAULT_BATCH",
    "PAPERS_COMPONENT",
    "CrawlTarget",
    "EmptyQuery",
    "Fence",
    "FenceLost",
    "ImportResult",
    "IndexResult",
    "IndexedDocument",
    "InvalidQuery",
    "OcrTarget",
    "PageText",
    "PaperCursor",
    "PapersRepository",
    "SearchHit",
    "decode_paper_cursor",
    "encode_paper_cursor",
    "next_paper_cursor",
]
