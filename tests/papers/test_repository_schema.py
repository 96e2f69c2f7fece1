"""The papers library's SQL: migrations build exactly the canonical schema on both dialects, both
dialects define the same named queries, the repository uses exactly those it defines, and the lookups
the upsert and the list depend on walk their indexes (SQLite's plans)."""

from __future__ import annotations

import inspect
import re
import sqlite3
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from taskapi.papers import PAPERS_COMPONENT, _base, _index, _rows, _texts, repository
from taskapi.store._queries import load_migrations, load_queries, load_schema
from taskapi.store.base import Store
from taskapi.store.postgres import PostgresStore
from taskapi.store.sqlite import SQLiteStore
from tests.integration.pg import empty_database

PACKAGE = PAPERS_COMPONENT.package
DIALECTS = ["sqlite", "postgres"]
LAST_MIGRATION = f"papers/{load_migrations('sqlite', PACKAGE)[-1].version}"


def normalise_sql(sql: str | None) -> str | None:
    """A statement without comments and layout: what two spellings of one schema have in common."""
    if sql is None:
        return None
    text = re.sub(r"--[^\n]*", " ", sql)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s*([(),])\s*", r"\1", text)


def sqlite_schema(path: Path) -> set[tuple[str, str, str | None]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    conn.close()
    return {(kind, name, normalise_sql(sql)) for kind, name, sql in rows}


def test_sqlite_migrations_build_exactly_the_canonical_schema(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "migrated.db")
    try:
        assert store.migrate([PAPERS_COMPONENT])[-1] == LAST_MIGRATION
        assert store.migrate([PAPERS_COMPONENT]) == []
    finally:
        store.close()
    conn = sqlite3.connect(tmp_path / "canonical.db")
    with conn:
        conn.executescript(load_schema("sqlite") + load_schema("sqlite", PACKAGE))
    conn.close()
    canonical, migrated = sqlite_schema(tmp_path / "canonical.db"), sqlite_schema(tmp_path / "migrated.db")
    canonical.discard(("table", "sqlite_sequence", "CREATE TABLE sqlite_sequence(name,seq)"))
    migrated.discard(("table", "sqlite_sequence", "CREATE TABLE sqlite_sequence(name,seq)"))
    assert {"papers", "paper_files", "source_pacing"} <= {entry[1] for entry in canonical}
    assert sorted(migrated - canonical, key=str) == [], "in the migrations, not in schema.sql"
    assert sorted(canonical - migrated, key=str) == [], "in schema.sql, not in the migrations"


def pg_catalog(url: str) -> set[tuple[str, ...]]:
    """Tables, columns, constraints and indexes of the public schema."""
    queries = [
        "SELECT 'column', table_name, column_name, data_type, is_nullable, coalesce(column_default, ''),"
        " is_identity FROM information_schema.columns WHERE table_schema = 'public'",
        "SELECT 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
        "SELECT 'index', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger"
        " WHERE NOT tgisinternal",
        "SELECT 'function', proname, pg_get_function_identity_arguments(oid), md5(prosrc) FROM pg_proc"
        " WHERE pronamespace = 'public'::regnamespace",
        "SELECT 'ts config', cfgname, '', '' FROM pg_ts_config WHERE cfgnamespace = 'public'::regnamespace",
        "SELECT 'sequence', sequencename, '', '' FROM pg_sequences WHERE schemaname = 'public'",
    ]
    with psycopg.connect(url) as conn:
        return {tuple(str(v) for v in row) for query in queries for row in conn.execute(query)}


@pytest.mark.postgres
def test_postgres_migrations_build_exactly_the_canonical_schema(shared_postgres_library: Store) -> None:
    """The shared database is a clone of the session's template, which ``migrate`` built."""
    store = cast(PostgresStore, shared_postgres_library)
    assert store.migrate([PAPERS_COMPONENT]) == []
    with psycopg.connect(store.url) as conn:
        applied = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert applied[-1] == LAST_MIGRATION
    with empty_database() as canonical_url:
        with psycopg.connect(canonical_url, autocommit=True) as conn:
            conn.execute(load_schema("postgres"))
            conn.execute(load_schema("postgres", PACKAGE))
        canonical, migrated = pg_catalog(canonical_url), pg_catalog(store.url)
    assert {"papers", "paper_files", "source_pacing"} <= {entry[1] for entry in canonical}
    assert sorted(migrated - canonical) == [], "in the migrations, not in schema.sql"
    assert sorted(canonical - migrated) == [], "in schema.sql, not in the migrations"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialect_has_numbered_migrations_and_the_same_query_names(dialect: str) -> None:
    versions = [m.version for m in load_migrations(dialect, PACKAGE)]
    assert versions == [f"{n:04d}" for n in range(1, len(versions) + 1)]
    shared = {name for name in load_queries("sqlite", PACKAGE) if not name.startswith("sqlite.")}
    names = {name for name in load_queries(dialect, PACKAGE) if not name.startswith(f"{dialect}.")}
    assert sorted(shared ^ names) == []


def test_the_repository_uses_exactly_the_queries_it_defines() -> None:
    source = "".join(inspect.getsource(module) for module in (repository, _rows, _base, _texts, _index))
    used = set(re.findall(r"""queries\[\s*["']([\w.]+)["']\s*\]""", source))
    used |= {f"paper_list.{name}" for name in ("project_id", "canonical", "after")}  # composed by name
    used |= set(re.findall(r'"(project_count(?:_all)?)"', source))
    for dialect in DIALECTS:
        defined = set(load_queries(dialect, PACKAGE))
        other = "sqlite." if dialect == "postgres" else "postgres."
        private = {name for name in used if name.startswith(other)}
        assert sorted(used - defined - private) == [], f"used, not defined in {dialect}"
        assert sorted(defined - used) == [], f"defined in {dialect}, used nowhere"


SAMPLE: dict[str, Any] = {
    "project_id": 1,
    "doi": '["10.1000/a"]',
    "arxiv_id": '["2101.00001"]',
    "s2_id": "[]",
    "openalex_id": '["W1"]',
    "pmid": '["1"]',
    "ids": "[1, 2]",
    "id": 1,
    "limit": 50,
    "after_created_at": "2025-01-01T00:00:00.000000",
    "after_id": 10,
    "overwrite": 0,
    "pairs": "[[1, 2]]",
    "now": "2025-01-01T00:00:00.000000",
}


def plan(conn: sqlite3.Connection, sql: str) -> str:
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", SAMPLE))


@pytest.fixture
def sqlite_conn(tmp_path: Path) -> Any:
    store = SQLiteStore(tmp_path / "plans.db")
    store.migrate([PAPERS_COMPONENT])
    store.close()
    conn = sqlite3.connect(tmp_path / "plans.db")
    yield conn
    conn.close()


def test_the_upsert_looks_every_identifier_up_in_its_index(sqlite_conn: sqlite3.Connection) -> None:
    found = plan(sqlite_conn, load_queries("sqlite", PACKAGE)["paper_match"])
    for name in ("doi", "arxiv_id", "s2_id", "openalex_id", "pmid"):
        assert f"INDEX papers_project_{name} (project_id=? AND {name}=?)" in found, found
    assert "SCAN papers" not in found


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (["project_id", "canonical"], "papers_project_canonical_created"),
        (["project_id", "canonical", "after"], "papers_project_canonical_created"),
        (["project_id"], "papers_project_created"),
        (["project_id", "after"], "papers_project_created"),
        ([], "papers_created"),
    ],
)
def test_every_list_walks_an_index_in_its_order(
    sqlite_conn: sqlite3.Connection, filters: list[str], index: str
) -> None:
    queries = load_queries("sqlite", PACKAGE)
    where = " AND ".join(queries[f"paper_list.{name}"] for name in filters) or "1 = 1"
    found = plan(sqlite_conn, queries["paper_list"].replace("{filters}", where))
    assert f"INDEX {index}" in found, found
    assert "TEMP B-TREE" not in found, found


@pytest.mark.parametrize("name", ["papers_for_dedup", "crawl_candidates", "project_count"])
def test_project_walks_in_id_order_use_the_non_duplicates_index(
    sqlite_conn: sqlite3.Connection, name: str
) -> None:
    found = plan(sqlite_conn, load_queries("sqlite", PACKAGE)[name])
    assert "INDEX papers_project_canonical " in found + " ", found
    assert "TEMP B-TREE" not in found, found


@pytest.mark.parametrize("name", ["paper_get_many", "crawl_candidates_of"])
def test_lookups_by_id_use_the_primary_key(sqlite_conn: sqlite3.Connection, name: str) -> None:
    found = plan(sqlite_conn, load_queries("sqlite", PACKAGE)[name])
    assert "USING INTEGER PRIMARY KEY (rowid=?)" in found.split(" | ")[0], found


def test_moving_a_duplicates_duplicates_looks_them_up_in_their_index(sqlite_conn: sqlite3.Connection) -> None:
    found = plan(sqlite_conn, load_queries("sqlite", PACKAGE)["paper_repoint_duplicates"])
    assert "INDEX papers_duplicate_of (duplicate_of=?)" in found, found


def test_the_package_exports_what_it_names() -> None:
    import taskapi.papers as package

    assert all(hasattr(package, name) for name in package.__all__)
    assert {"PapersRepository", "PAPERS_COMPONENT", "Fence", "FenceLost", "ImportResult"} <= set(
        package.__all__
    )
