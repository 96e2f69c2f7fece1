"""The full-text index of each project's library and its ranked search.

SQLite: an FTS5 table (``porter unicode61 remove_diacritics 2``) over title, abstract and body (the page
texts joined), ranked by ``bm25`` (title 10, abstract 4, body 1), with ``snippet()``. PostgreSQL: a
weighted ``tsvector`` (A title, B abstract, C body) under a GIN index, ranked by ``ts_rank_cd``, with
``ts_headline``; its configuration ``taskapi_english`` stems English and folds accents (``unaccent``).

Incremental: every change of a paper's title, abstract, ``duplicate_of`` or text queues the paper
(``paper_index_queue``, written by triggers and ``text_store``) with a fresh ``seq``; a run visits the
queue once in id order, a batch per short fenced transaction, and removes an entry only at the ``seq``
it read, so a change committed meanwhile (however late its transaction commits) is visited next time.
Papers that are duplicates (or gone) leave the index. ``rebuild`` queues the whole project first.

A query is parsed by ``_search`` and rendered with every word quoted: what users type is never syntax.

Ranking is bounded (``SEARCH_CANDIDATES``): a query matching more papers than ``matches`` (3,000 on
SQLite, 1,500 on PostgreSQL) ranks only its first ``matches`` matches in id/table order plus the
papers whose title has its words (``titles`` of them; PostgreSQL finds them in an index on the
titles' words, SQLite by FTS5's column filter). PostgreSQL ranks the union by one ``ts_rank_cd``;
SQLite puts the title matches (ranked by bm25 on their titles) before the others. Narrower queries
are ranked exactly; a page further than the bound ranks as many matches as it needs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from taskapi.papers._base import Fence, RepositoryCore
from taskapi.papers._rows import paper_of
from taskapi.papers._search import Query, parse_query, to_fts5, to_fts5_title, to_tsquery
from taskapi.papers.texts import IndexBackend, IndexedDocument, IndexResult, SearchHit
from taskapi.store.db import Tx

INDEX_BATCH = 500
"""Papers per index transaction: a few tens of milliseconds of writing on SQLite."""
BATCH_TEXT_CHARS = 4_000_000
"""Page text one index transaction takes at most (beyond its first paper): a few hundred milliseconds
of tokenizing, so that a batch of long papers does not hold SQLite's writer for long."""
MAX_BODY_CHARS = 2_000_000
"""Longest body indexed (the pages joined): about 600 dense pages."""
MAX_OFFSET = 100_000


@dataclass(frozen=True, slots=True)
class Candidates:
    """How many matches a query ranks: ``matches``, its first matches (all of them when it has no more:
    exact), and ``titles``, matches whose title has the query's words. Ranking costs ~1.4 us a match on
    SQLite, 3-6 us on PostgreSQL (reading the vectors): ranking every match of a word found in half of
    100,000 papers takes 50-250 ms, the bounded set a few milliseconds."""

    matches: int
    titles: int


SEARCH_CANDIDATES: Mapping[str, Candidates] = {
    "sqlite": Candidates(matches=3_000, titles=5_000),
    "postgres": Candidates(matches=1_500, titles=500),
}
_NO_BOUND = 2**63 - 1
SNIPPET_TOKENS = 32
HEADLINE_CHARS = 20_000
HEADLINE_PAGES = 10
"""How much of a body ``ts_headline`` reads for a snippet (it parses all it is given): a match deeper
in the text is found, but its snippet shows the start of the paper instead."""
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use marks around a match, made <b>...</b> once escaped
_HEADLINE = f"StartSel={_OPEN}, StopSel={_CLOSE}, MaxWords=35, MinWords=12, MaxFragments=1"
_MARKS = {"open": _OPEN, "close": _CLOSE, "ellipsis": "\u2026", "tokens": SNIPPET_TOKENS}
_BACKENDS: Mapping[str, IndexBackend] = {"sqlite": "sqlite-fts5", "postgres": "postgres-tsvector"}

Progress = Callable[[int, int], None]


def html_snippet(marked: str | None) -> str:
    """The engine's passage made HTML-safe, its matches in ``<b>...</b>``."""
    escaped = html.escape(marked or "", quote=False)
    return " ".join(escaped.replace(_OPEN, "<b>").replace(_CLOSE, "</b>").split())


class IndexMethods(RepositoryCore):
    """The full-text methods of ``PapersRepository``."""

    @property
    def index_backend(self) -> IndexBackend:
        return _BACKENDS[self._store.dialect]

    # -- writing the index ------------------------------------------------------------------------

    def index_update(
        self,
        project_id: int,
        *,
        rebuild: bool,
        fence: Fence | None,
        progress: Progress | None = None,
        batch_size: int = INDEX_BATCH,
    ) -> IndexResult:
        """(Re)index the project's papers changed since the last run (every one with ``rebuild``), a
        batch per fenced transaction; ``progress(done, total)`` in papers after each batch. Raises
        ``FenceLost`` (from the batch that found out; earlier batches stay) when the task is no
        longer running at this attempt."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if rebuild:
            with self._store.transaction() as tx:
                self._guard(tx, fence, project_id)
                tx.execute(self._queries["index_enqueue_project"], {"project_id": project_id})
        total = self._count(self._queries["index_pending"], project_id)
        if progress is not None:
            progress(0, total)
        indexed = removed = done = 0
        after = 0
        while True:
            with self._store.transaction() as tx:
                self._guard(tx, fence, project_id)
                visited, written, gone = self._index_batch(tx, project_id, after, batch_size)
            if not visited:
                break
            done, indexed, removed = done + len(visited), indexed + written, removed + gone
            after = visited[-1]
            if progress is not None:
                progress(done, max(total, done))
        if self._store.dialect == "postgres" and indexed + removed:
            with self._store.transaction() as tx:
                tx.fetch(self._queries["postgres.index_flush"], {})
        return IndexResult(
            indexed=indexed,
            removed=removed,
            backend=self.index_backend,
            documents_with_fulltext=self._count(self._queries["index_with_body"], project_id),
        )

    def _index_batch(self, tx: Tx, project_id: int, after: int, size: int) -> tuple[list[int], int, int]:
        """Visit the next ``size`` queued papers after id ``after``: answer their ids, how many
        documents were written and how many removed."""
        queued = tx.fetch(
            self._queries["index_queue_batch"], {"project_id": project_id, "after_id": after, "limit": size}
        )
        if not queued:
            return [], 0, 0
        queued = _within_budget(queued)
        ids = [int(row["paper_id"]) for row in queued]
        params = {"project_id": project_id, "ids": self._codec.array(ids), "max_body": MAX_BODY_CHARS}
        gone = tx.fetch(self._queries["index_remove"], params)
        if self._store.dialect == "sqlite":
            tx.execute(self._queries["sqlite.index_fts_delete"], params)
            tx.execute(self._queries["sqlite.index_fts_write"], params)
        written = tx.fetch(self._queries["index_write"], params)
        done = json.dumps([[row["paper_id"], row["seq"]] for row in queued])
        tx.execute(self._queries["index_dequeue"], {"done": done})
        return ids, len(written), len(gone)

    # -- reading it -------------------------------------------------------------------------------

    def index_size(self, project_id: int) -> int:
        """How many documents the project's index holds."""
        return self._count(self._queries["index_size"], project_id)

    def search(self, project_id: int | None, q: str, *, limit: int, offset: int = 0) -> list[SearchHit]:
        """The project's indexed papers matching ``q`` (web-search syntax, see ``_search``), best first,
        from ``offset``: each with its score and an HTML-safe snippet (``None``: every project's).
        Papers not indexed yet are not found; a project never indexed answers ``[]``.
        ``InvalidQuery`` (``EmptyQuery``) when ``q`` cannot be searched."""
        query = parse_query(q)
        with self._store.reading() as tx:
            ranked = self._ranked(tx, project_id, query, limit, offset)
            if not ranked:
                return []
            ids = self._codec.array([int(row["paper_id"]) for row in ranked])
            snippets = self._snippets(tx, query, ids, ranked)
            rows = {row["id"]: row for row in tx.fetch(self._queries["paper_get_listed"], {"ids": ids})}
        return [
            SearchHit(paper_of(rows[paper_id], self._codec), score, snippets.get(paper_id, ""))
            for paper_id, score in _scored(ranked)
            if paper_id in rows
        ]

    def search_documents(
        self, project_id: int, q: str, *, limit: int, body_chars: int | None = None
    ) -> list[IndexedDocument]:
        """The top ``limit`` indexed documents for ``q``, best first, with their indexed texts (for
        pseudo-relevance feedback; ``body_chars`` bounds each body). ``InvalidQuery`` as ``search``."""
        query = parse_query(q)
        with self._store.reading() as tx:
            ranked = _scored(self._ranked(tx, project_id, query, limit, 0))
            if not ranked:
                return []
            ids = self._codec.array([paper_id for paper_id, _ in ranked])
            params = {"ids": ids, "body_chars": _body_chars(body_chars)}
            rows = tx.fetch(self._queries["index_documents_of"], params)
        texts = {row["paper_id"]: row for row in rows}
        return [_document(texts[paper_id], score) for paper_id, score in ranked if paper_id in texts]

    def index_documents(
        self, project_id: int, *, batch: int = 1000, body_chars: int | None = None
    ) -> Iterator[IndexedDocument]:
        """Every document of the project's index in id order, read ``batch`` at a time (each batch a
        read of its own: nothing is held open between them); ``body_chars`` bounds each body."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        after = 0
        while True:
            params = {
                "project_id": project_id,
                "after_id": after,
                "limit": batch,
                "body_chars": _body_chars(body_chars),
            }
            with self._store.reading() as tx:
                rows = tx.fetch(self._queries["index_documents"], params)
            yield from (_document(row, 0.0) for row in rows)
            if len(rows) < batch:
                return
            after = int(rows[-1]["paper_id"])

    def _ranked(
        self, tx: Tx, project_id: int | None, query: Query, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The page of matches, best first: ``paper_id``, ``score`` and, on SQLite, ``snippet``."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if not 0 <= offset <= MAX_OFFSET:
            raise ValueError(f"offset must be between 0 and {MAX_OFFSET}, got {offset}")
        params: dict[str, Any] = {"project_id": project_id, "limit": limit, "offset": offset, **_MARKS}
        bounds = SEARCH_CANDIDATES[self._store.dialect]
        candidates = max(bounds.matches, offset + limit)
        if self._store.dialect == "sqlite":
            params["scoped"] = int(self._shared(tx, project_id))
            return self._ranked_fts5(tx, query, params, candidates)
        params.update(
            match=to_tsquery(query),
            positive=to_tsquery(query, positive_only=True),
            candidates=candidates,
            title_candidates=max(bounds.titles, offset + limit),
        )
        return tx.fetch(self._queries["search"], params)

    def _ranked_fts5(
        self, tx: Tx, query: Query, params: dict[str, Any], candidates: int
    ) -> list[dict[str, Any]]:
        """FTS5's page: exact when the query matches at most ``candidates`` papers; else the papers
        whose title matches (the first ``titles`` of them, ranked on their titles: FTS5 scores a
        column-filtered match on that column) come first, then the best of the first ``candidates``
        matches. (FTS5 cannot rank a set of ids fast, only an id range: hence two rankings.)"""
        match = to_fts5(query)
        bound = self._bound(tx, match, candidates)
        if bound is None:
            return tx.fetch(self._queries["search"], {**params, "match": match, "bound": _NO_BOUND})
        start, stop = params["offset"], params["offset"] + params["limit"]
        window = {**params, "offset": 0, "limit": stop}
        title = to_fts5_title(query)
        titles = max(SEARCH_CANDIDATES["sqlite"].titles, stop)
        title_bound = self._bound(tx, title, titles)
        title_bound = _NO_BOUND if title_bound is None else title_bound
        titled = tx.fetch(self._queries["search"], {**window, "match": title, "bound": title_bound})
        others = tx.fetch(self._queries["search"], {**window, "match": match, "bound": bound})
        seen = {row["paper_id"] for row in titled}
        merged = titled + [row for row in others if row["paper_id"] not in seen]
        return merged[start:stop]

    def _bound(self, tx: Tx, match: str, candidates: int) -> int | None:
        """The last id of the first ``candidates`` matches of ``match``; ``None`` when there are no more."""
        row = tx.fetch_one(self._queries["sqlite.search_bound"], {"match": match, "candidates": candidates})
        return None if row is None else int(row["paper_id"]) - 1

    def _shared(self, tx: Tx, project_id: int | None) -> bool:
        if project_id is None:
            return False
        row = tx.fetch_one(self._queries["sqlite.index_shared"], {"project_id": project_id})
        return bool(row and row["shared"])

    def _snippets(self, tx: Tx, query: Query, ids: Any, ranked: list[dict[str, Any]]) -> dict[int, str]:
        """Each hit's passage: SQLite's came with the ranking (snippet() on the page's rows);
        PostgreSQL's ts_headline runs over the page's papers."""
        if self._store.dialect == "sqlite":
            found = {int(row["paper_id"]): row["snippet"] for row in ranked}
        else:
            params = {
                "ids": ids,
                "match": to_tsquery(query),
                "headline_chars": HEADLINE_CHARS,
                "headline_pages": HEADLINE_PAGES,
                "headline_options": _HEADLINE,
            }
            rows = tx.fetch(self._queries["postgres.search_snippets"], params)
            found = {int(row["paper_id"]): row["snippet"] for row in rows}
        return {paper_id: html_snippet(marked) for paper_id, marked in found.items()}

    def _count(self, sql: str, project_id: int) -> int:
        with self._store.reading() as tx:
            row = tx.fetch_one(sql, {"project_id": project_id})
        return 0 if row is None else int(row["n"])


def _within_budget(queued: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first queued papers whose texts together stay within ``BATCH_TEXT_CHARS`` (at least one)."""
    total = 0
    for count, row in enumerate(queued):
        total += min(int(row["chars"]), MAX_BODY_CHARS)
        if total > BATCH_TEXT_CHARS and count > 0:
            return queued[:count]
    return queued


def _scored(ranked: list[dict[str, Any]]) -> list[tuple[int, float]]:
    return [(int(row["paper_id"]), float(row["score"])) for row in ranked]


def _body_chars(bound: int | None) -> int:
    if bound is not None and bound < 0:
        raise ValueError(f"body_chars must be at least 0, got {bound}")
    return MAX_BODY_CHARS if bound is None else min(bound, MAX_BODY_CHARS)


def _document(row: Mapping[str, Any], score: float) -> IndexedDocument:
    return IndexedDocument(
        paper_id=int(row["paper_id"]),
        title=row["title"] or "",
        abstract=row["abstract"] or "",
        body=row["body"] or "",
        score=score,
    )
