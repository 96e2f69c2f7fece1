"""What differs between the dialects once the SQL is chosen: how lists, times and batches travel.

SQLite keeps lists as JSON text and times as UTC text, and writes a batch with ``executemany`` (in-process,
no round trips); PostgreSQL keeps jsonb and timestamptz and writes a batch in one statement over a
jsonb parameter (one round trip). Everything above this module is the same code for both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from taskapi.domain import utcnow
from taskapi.papers._upsert import Draft
from taskapi.papers.records import Paper, PaperFile
from taskapi.store.db import Tx
from taskapi.store.sqlite import format_time, parse_time

Queries = Mapping[str, str]


def string_list(value: object) -> list[str]:
    """A stored list of strings; anything else stored there reads as empty (never an exception)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


class Codec(Protocol):
    """One dialect's representation of parameters and rows, and its way to write a batch."""

    def array(self, values: Iterable[object]) -> Any:
        """A list parameter (``json_each`` / ``= ANY``)."""
        ...

    def time_param(self, moment: datetime) -> Any: ...

    def time_of(self, value: Any) -> datetime: ...

    def now(self) -> Any:
        """The ``now`` parameter of a write (SQLite: the host clock; PostgreSQL's SQL reads its own)."""
        ...

    def insert(self, tx: Tx, queries: Queries, project_id: int, drafts: Sequence[Draft]) -> list[int]:
        """Insert new papers; answer their ids in the order of ``drafts``."""
        ...

    def update(self, tx: Tx, queries: Queries, drafts: Sequence[Draft]) -> None:
        """Write every mutable column of these (loaded) papers."""
        ...


class SQLiteCodec:
    def array(self, values: Iterable[object]) -> str:
        return json.dumps(list(values))

    def time_param(self, moment: datetime) -> str:
        return format_time(moment)

    def time_of(self, value: Any) -> datetime:
        moment = parse_time(value)
        assert moment is not None, "a NOT NULL time column"
        return moment

    def now(self) -> str:
        return format_time(utcnow())

    def _params(self, draft: Draft, now: str) -> dict[str, Any]:
        return {**draft.columns(json.dumps), "id": draft.id, "now": now}

    def insert(self, tx: Tx, queries: Queries, project_id: int, drafts: Sequence[Draft]) -> list[int]:
        """``executemany`` in this write transaction: the rows get the ids right above the largest id
        ever given (AUTOINCREMENT, one writer), checked after the insert."""
        if not drafts:
            return []
        seen = _seen(tx, queries)
        now = self.now()
        tx.execute_many(
            queries["paper_insert"], [{**self._params(d, now), "project_id": project_id} for d in drafts]
        )
        if _seen(tx, queries) != seen + len(drafts):
            raise RuntimeError("the new papers' ids are not one run: another writer in this transaction?")
        return list(range(seen + 1, seen + 1 + len(drafts)))

    def update(self, tx: Tx, queries: Queries, drafts: Sequence[Draft]) -> None:
        if drafts:
            now = self.now()
            tx.execute_many(queries["paper_update"], [self._params(d, now) for d in drafts])


def _seen(tx: Tx, queries: Queries) -> int:
    row = tx.fetch_one(queries["sqlite.paper_id_seen"])
    assert row is not None
    return int(row["seen"])


class PostgresCodec:
    def array(self, values: Iterable[object]) -> list[object]:
        return list(values)

    def time_param(self, moment: datetime) -> datetime:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def time_of(self, value: Any) -> datetime:
        assert isinstance(value, datetime), "a NOT NULL timestamptz column"
        return value.astimezone(UTC)

    def now(self) -> None:
        return None

    def insert(self, tx: Tx, queries: Queries, project_id: int, drafts: Sequence[Draft]) -> list[int]:
        """One INSERT ... SELECT over the batch as jsonb, rows in ``position`` order: identity values
        are drawn in that order, so the ids sorted map back to the drafts."""
        if not drafts:
            return []
        rows = [{**d.columns(), "position": n} for n, d in enumerate(drafts)]
        found = tx.fetch(queries["paper_insert"], {"project_id": project_id, "rows": json.dumps(rows)})
        return sorted(int(row["id"]) for row in found)

    def update(self, tx: Tx, queries: Queries, drafts: Sequence[Draft]) -> None:
        if drafts:
            rows = [{**d.columns(), "id": d.id} for d in drafts]
            tx.execute(queries["paper_update"], {"rows": json.dumps(rows)})


def codec_for(dialect: str) -> Codec:
    if dialect == "sqlite":
        return SQLiteCodec()
    if dialect == "postgres":
        return PostgresCodec()
    raise ValueError(f"the papers library has no SQL for dialect {dialect!r}")


def draft_of(row: Mapping[str, Any]) -> Draft:
    """A loaded paper as the upsert and dedup change it."""
    return Draft.loaded(row["id"], row, string_list)


def paper_of(row: Mapping[str, Any], codec: Codec) -> Paper:
    """A paper from a ``paper_get``/``paper_list``/``papers_for_dedup`` row (file columns ``file_*``)."""
    return Paper(
        id=row["id"],
        project_id=row["project_id"],
        title=row["title"],
        abstract=row["abstract"],
        authors=string_list(row["authors"]),
        year=row["year"],
        venue=row["venue"],
        volume=row["volume"],
        issue=row["issue"],
        pages=row["pages"],
        doi=row["doi"],
        arxiv_id=row["arxiv_id"],
        s2_id=row["s2_id"],
        openalex_id=row["openalex_id"],
        pmid=row["pmid"],
        pdf_url=row["pdf_url"],
        oa_status=row["oa_status"],
        sources=string_list(row["sources"]),
        pdf_candidates=string_list(row["pdf_candidates"]),
        duplicate_of=row["duplicate_of"],
        created_at=codec.time_of(row["created_at"]),
        updated_at=codec.time_of(row["updated_at"]),
        file=_file_of(row, codec),
    )


def _file_of(row: Mapping[str, Any], codec: Codec) -> PaperFile | None:
    if row.get("file_sha256") is None:
        return None
    return PaperFile(
        sha256=row["file_sha256"],
        bytes=row["file_bytes"],
        url=row["file_url"],
        content_type=row["file_content_type"],
        path=row["file_path"],
        fetched_at=codec.time_of(row["file_fetched_at"]),
    )
