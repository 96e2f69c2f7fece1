"""Migrations: applied in order they build exactly the canonical schema; applied again they do nothing.

Also keeps the dialects in step: every ``store/sql/<dialect>/`` defines the same named queries.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sqlite3
import threading
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest

from taskapi.domain import utcnow
from taskapi.store import sqlite as sqlite_module
from taskapi.store._queries import load_migrations, load_queries, load_schema
from taskapi.store._runs import RunSql
from taskapi.store.sqlite import SQLiteStore, parse_time

SchemaEntry = tuple[str, str, str, str | None]


def normalise_sql(sql: str | None) -> str | None:
    """The statement without comments and layout: what two spellings of one schema have in common."""
    if sql is None:
        return None
    text = re.sub(r"--[^\n]*", " ", sql)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s*([(),])\s*", r"\1", text)


def schema_of(path: Path) -> set[SchemaEntry]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return {(kind, name, table, normalise_sql(sql)) for kind, name, table, sql in rows}


def migrated(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    store.migrate()
    return store


def dialects() -> list[str]:
    """Every dialect directory under ``taskapi/store/sql`` (a new one is picked up by itself)."""
    root = resources.files("taskapi.store").joinpath("sql")
    return sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("_"))


def test_normalise_sql_ignores_layout_and_comments_only() -> None:
    spelled = "CREATE TABLE t (\n  a INT,  -- note\n  b TEXT\n)"
    assert normalise_sql(spelled) == normalise_sql("CREATE TABLE t(a INT, b TEXT)")
    assert normalise_sql(spelled) != normalise_sql("CREATE TABLE t(a INT, b TEXT NOT NULL)")


def test_migrations_build_exactly_the_canonical_schema(tmp_path: Path) -> None:
    migrated(tmp_path / "migrated.db").close()
    with sqlite3.connect(tmp_path / "canonical.db") as conn:
        conn.executescript(load_schema("sqlite"))
    canonical = schema_of(tmp_path / "canonical.db")
    by_migrations = schema_of(tmp_path / "migrated.db")
    assert {e[1] for e in canonical} >= {"tasks", "schema_migrations"}
    assert sorted(by_migrations - canonical, key=str) == [], "in the migrations, not in schema.sql"
    assert sorted(canonical - by_migrations, key=str) == [], "in schema.sql, not in the migrations"


def test_migrate_records_every_version(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tasks.db")
    before = utcnow()
    try:
        applied = store.migrate()
    finally:
        store.close()
    versions = [m.version for m in load_migrations("sqlite")]
    assert applied == versions
    with sqlite3.connect(tmp_path / "tasks.db") as conn:
        rows = conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
    assert [version for version, _ in rows] == versions
    for _, applied_at in rows:
        moment = parse_time(applied_at)
        assert moment is not None and before - timedelta(seconds=1) <= moment <= utcnow()


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    migrated(path).close()
    with sqlite3.connect(path) as conn:
        recorded = conn.execute("SELECT * FROM schema_migrations").fetchall()
    schema = schema_of(path)
    store = SQLiteStore(path)
    try:
        assert store.migrate() == []
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT * FROM schema_migrations").fetchall() == recorded
    assert schema_of(path) == schema


def test_concurrent_migrations_apply_each_version_once(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    start = threading.Barrier(4)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        store = SQLiteStore(path)
        try:
            start.wait(timeout=10)
            applied.append(store.migrate())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    everything = [m.version for m in load_migrations("sqlite")]
    assert sorted(v for versions in applied for v in versions) == everything


def test_migration_files_are_numbered_without_gaps() -> None:
    for dialect in dialects():
        versions = [m.version for m in load_migrations(dialect)]
        assert versions == [f"{n:04d}" for n in range(1, len(versions) + 1)], dialect


@pytest.mark.parametrize("dialect", dialects())
def test_each_dialect_has_queries_migrations_and_a_schema(dialect: str) -> None:
    assert load_queries(dialect), f"{dialect}: no named queries"
    assert load_migrations(dialect), f"{dialect}: no migrations"
    assert load_schema(dialect).strip(), f"{dialect}: schema.sql is empty"


@pytest.mark.parametrize("dialect", dialects())
def test_every_dialect_defines_the_same_query_names(dialect: str) -> None:
    """Shared names must match; a name "<dialect>.*" is private to its dialect (e.g. LISTEN)."""
    reference = {name for name in load_queries("sqlite") if not name.startswith("sqlite.")}
    names = {name for name in load_queries(dialect) if not name.startswith(f"{dialect}.")}
    assert sorted(reference - names) == [], f"{dialect} lacks these queries of sqlite"
    assert sorted(names - reference) == [], f"{dialect} has queries sqlite lacks"


def test_the_sqlite_store_uses_exactly_the_queries_it_defines() -> None:
    # The store is composed of mixins in private modules: read them all.
    modules = {inspect.getmodule(klass) for klass in SQLiteStore.__mro__}
    source = "".join(inspect.getsource(m) for m in modules if m and m.__name__.startswith("taskapi.store"))
    used = set(re.findall(r"""_queries\[\s*["']([\w.]+)["']\s*\]""", source))
    used |= set(re.findall(r"""self\._read\(\s*["']([\w.]+)["']""", source))
    used |= {f"run_{field.name}" for field in dataclasses.fields(RunSql)}  # RunSql.from_queries
    used |= {f"task_list.{name}" for name in sqlite_module._LIST_FILTERS}
    used.add("task_list")  # composed with its fragments by _queries.compose_task_list
    defined = set(load_queries("sqlite"))
    assert sorted(used - defined) == [], "used by sqlite.py but not defined in queries.sql"
    assert sorted(defined - used) == [], "defined in queries.sql but used nowhere"
