"""The index's queries walk the indexes they were written for: a lost index, or a planner led astray by
the statistics of a large fresh import, fails here rather than in a 100,000-paper library."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from taskapi.papers import PAPERS_COMPONENT, PaperRecord, PapersRepository
from taskapi.store._queries import load_queries
from taskapi.store.base import Store
from taskapi.store.postgres import PostgresStore
from taskapi.store.sqlite import SQLiteStore

PACKAGE = PAPERS_COMPONENT.package
SAMPLE = {
    "project_id": 1,
    "ids": "[1, 2, 3]",
    "after_id": 0,
    "limit": 50,
    "offset": 0,
    "max_body": 100,
    "body_chars": 100,
    "match": '"graph"',
    "scoped": 1,
    "done": "[[1, 2]]",
    "paper_id": 1,
    "open": "[",
    "close": "]",
    "ellipsis": "...",
    "tokens": 16,
    "bound": 2**63 - 1,
    "candidates": 3000,
}


@pytest.fixture
def sqlite_conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    store = SQLiteStore(tmp_path / "plans.db")
    store.migrate([PAPERS_COMPONENT])
    store.close()
    conn = sqlite3.connect(tmp_path / "plans.db")
    yield conn
    conn.close()


def plan(conn: sqlite3.Connection, name: str) -> str:
    sql = load_queries("sqlite", PACKAGE)[name]
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", SAMPLE))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index_queue_batch", "paper_index_queue_project (project_id=? AND paper_id>?)"),
        ("index_pending", "USING COVERING INDEX paper_index_queue_project (project_id=?)"),
        ("index_size", "USING COVERING INDEX paper_index_docs_project (project_id=?)"),
        ("index_with_body", "USING INDEX paper_index_docs_with_body (project_id=?)"),
        ("sqlite.index_shared", "USING COVERING INDEX paper_index_docs_project (project_id<?)"),
        ("index_documents", "paper_index_docs_project (project_id=? AND paper_id>?) | SCAN f VIRTUAL TABLE"),
        ("index_write", "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)"),
        ("sqlite.index_fts_write", "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)"),
        ("index_remove", "paper_index_docs USING INTEGER PRIMARY KEY (rowid=?)"),
        ("search", "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)"),
        ("sqlite.search_bound", "SCAN paper_fts VIRTUAL TABLE"),
        ("ocr_targets", "INDEX papers_project_canonical"),
        ("ocr_targets_of", "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)"),
        ("text_pages", "paper_texts USING INDEX sqlite_autoindex_paper_texts_1 (paper_id=?)"),
    ],
)
def test_sqlite_index_queries_walk_their_indexes(
    sqlite_conn: sqlite3.Connection, name: str, expected: str
) -> None:
    found = plan(sqlite_conn, name)
    assert expected in found, found
    assert "SCAN papers" not in found and "SCAN p " not in found + " ", found


def test_the_queue_trigger_finds_the_largest_seq_in_its_index(sqlite_conn: sqlite3.Connection) -> None:
    found = " | ".join(
        row[3]
        for row in sqlite_conn.execute(
            "EXPLAIN QUERY PLAN SELECT coalesce(max(seq), 0) + 1 FROM paper_index_queue"
        )
    )
    assert "paper_index_queue_seq" in found, found


@pytest.mark.postgres
def test_postgres_visits_a_batch_by_id_even_right_after_a_large_import(
    shared_postgres_library: Store,
) -> None:
    """No ANALYZE has run: statistics that still say the project is tiny once made the planner walk
    the project's index (and hash all of it) for every batch of 500. By id, or a scan of a small table:
    never the project's index."""
    store = shared_postgres_library
    assert isinstance(store, PostgresStore)
    PapersRepository(store).import_records(1, [PaperRecord(title=f"Paper {n}") for n in range(2000)])
    queries = load_queries("postgres", PACKAGE)
    params = {"project_id": 1, "ids": list(range(1, 501)), "max_body": 100, "done": json.dumps([[1, 1]])}
    with psycopg.connect(store.url) as conn:
        for name in ("index_write", "index_remove"):
            found = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {queries[name]}", params))
            assert "papers_project" not in found, (name, found)
        conn.rollback()


@pytest.mark.postgres
def test_postgres_finds_a_searchs_title_candidates_in_the_titles_index(
    shared_postgres_library: Store,
) -> None:
    """A broad query's bounded candidates: the papers whose title matches come from the index on the
    titles' words, never from reading every match."""
    store = shared_postgres_library
    assert isinstance(store, PostgresStore)
    params = {
        "project_id": 1,
        "match": "'graph'",
        "positive": "'graph'",
        "candidates": 1500,
        "title_candidates": 500,
        "limit": 50,
        "offset": 0,
    }
    with psycopg.connect(store.url) as conn:
        conn.execute("SET enable_seqscan = off")
        sql = load_queries("postgres", PACKAGE)["search"]
        found = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}", params))
        conn.rollback()
    assert "paper_search_titles" in found, found
