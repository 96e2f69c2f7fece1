"""What only PostgreSQL has to prove: claims from many connections, migrations from many hosts at once,
query plans at a realistic size, the schema, the pool's failure modes, and the store's SQL inventory.

The behaviour shared with SQLite is the conformance suite's (``test_store_conformance.py``); these tests
cover what differs in kind: real concurrency between connections, the planner, and a server that can
go away. Each test gets a database of its own (``tests/integration/pg.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg
import pytest

from taskapi.domain import Cursor, NewTask, StoreUnavailable, TaskQuery, TaskStatus, TaskType
from taskapi.papers import PAPERS_COMPONENT
from taskapi.store import postgres as postgres_module
from taskapi.store._queries import load_migrations, load_queries, load_schema
from taskapi.store._runs import RunSql
from taskapi.store.base import Claim, Completion, ProgressWrite
from taskapi.store.postgres import PostgresStore
from tests.integration.pg import empty_database, make_postgres_store, reopen_postgres_store

pytestmark = pytest.mark.postgres

ALL_TYPES = [t.value for t in TaskType]
CatalogEntry = tuple[str, ...]


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[PostgresStore]:
    with make_postgres_store(tmp_path) as store:
        yield store


def claim(store: PostgresStore, worker: str, limit: int = 10, lease_seconds: float = 30.0) -> list[int]:
    claimed = store.task_claim(Claim(worker, ALL_TYPES, limit, lease_seconds, {}))
    return [task.id for task in claimed]


def in_threads(count: int, job: Callable[[int], Any]) -> list[Any]:
    """Run ``job(i)`` on ``count`` threads released together; re-raise the first error here."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait(timeout=10)
            results[index] = job(index)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


# -- claims -------------------------------------------------------------------------------------------


def test_claims_from_four_connections_never_hand_out_a_task_twice(pg_store: PostgresStore) -> None:
    created = pg_store.task_create_many([NewTask(1, TaskType(ALL_TYPES[i % 6])) for i in range(1000)])

    def drain(index: int) -> list[int]:
        mine = reopen_postgres_store(pg_store)
        try:
            got: list[int] = []
            while batch := claim(mine, f"w{index}", limit=10):
                got.extend(batch)
            return got
        finally:
            mine.close()

    per_worker: list[list[int]] = in_threads(4, drain)
    claimed = [task_id for got in per_worker for task_id in got]
    assert len(claimed) == len(set(claimed)), "a task was claimed twice"
    assert sorted(claimed) == [task.id for task in created]
    assert sum(1 for got in per_worker if got) > 1, "one connection took everything: no contention"
    states = pg_store.task_states([task.id for task in created])
    assert {(state.status, state.attempt) for state in states} == {(TaskStatus.RUNNING, 1)}


def test_claim_skips_a_row_another_transaction_holds_instead_of_waiting(pg_store: PostgresStore) -> None:
    first, second = pg_store.task_create_many([NewTask(1, TaskType.OCR), NewTask(1, TaskType.OCR)])
    with psycopg.connect(pg_store.url) as other:  # a transaction of another host, holding ``first``
        other.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", [first.id])
        assert claim(pg_store, "w1", limit=2) == [second.id]
        other.rollback()
    assert claim(pg_store, "w1", limit=2) == [first.id]


# -- migrations ---------------------------------------------------------------------------------------


def catalog(url: str) -> set[CatalogEntry]:
    """Tables, columns, constraints, indexes and storage options of the public schema."""
    queries = [
        "SELECT 'column', table_name, column_name, data_type, is_nullable, coalesce(column_default, ''),"
        " is_identity, coalesce(identity_generation, '')"
        " FROM information_schema.columns WHERE table_schema = 'public'",
        "SELECT 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
        "SELECT 'index', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT 'table', relname, coalesce(array_to_string(reloptions, ','), '')"
        " FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
    ]
    with psycopg.connect(url) as conn:
        return {tuple(str(v) for v in row) for query in queries for row in conn.execute(query)}


def applied_versions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_migrations_build_exactly_the_canonical_schema(pg_store: PostgresStore) -> None:
    with empty_database() as canonical_url:
        with psycopg.connect(canonical_url, autocommit=True) as conn:
            conn.execute(load_schema("postgres"))
            conn.execute(load_schema("postgres", PAPERS_COMPONENT.package))  # the template has both
        canonical = catalog(canonical_url)
    migrated = catalog(pg_store.url)
    assert {entry[1] for entry in canonical} >= {"tasks", "schema_migrations"}
    assert sorted(migrated - canonical) == [], "in the migrations, not in schema.sql"
    assert sorted(canonical - migrated) == [], "in schema.sql, not in the migrations"


def test_migrate_twice_is_a_no_op(pg_store: PostgresStore) -> None:
    before = catalog(pg_store.url)
    assert pg_store.migrate([PAPERS_COMPONENT]) == []
    versions = [m.version for m in (*load_migrations("postgres"), *PAPERS_COMPONENT.migrations("postgres"))]
    assert applied_versions(pg_store.url) == versions
    assert catalog(pg_store.url) == before


def test_four_processes_migrating_one_database_at_once_apply_each_version_once() -> None:
    everything = [m.version for m in load_migrations("postgres")]
    with empty_database() as url:

        def migrate(_: int) -> list[str]:
            store = PostgresStore(url, min_size=1, max_size=1)
            try:
                return store.migrate()
            finally:
                store.close()

        applied: list[list[str]] = in_threads(4, migrate)
        assert sorted(v for versions in applied for v in versions) == everything
        assert applied.count(everything) == 1, "one migrator applies everything, the others nothing"
        assert applied_versions(url) == everything


# -- query plans: 20,000 rows, analysed ---------------------------------------------------------------

# Realistic proportions: most tasks finished or waiting, a handful running (bounded by the workers).
# Each filter value below matches a large share of the rows, so that only an ordered index walk is
# cheap: sorting would cost thousands of rows. (For a filter matching a handful of rows, PostgreSQL
# rightly fetches them with a bitmap scan and sorts them; that costs no more at ten million rows.)
SEED = """
INSERT INTO tasks (project_id, task_type, status, created_at, worker_id, lease_expires_at, attempt)
SELECT 1 + (n % 4) / 2,
       (ARRAY['search', 'search', 'search', 'dedup', 'crawl', 'ocr', 'index', 'keyword_expand'])[1 + n % 8],
       s.status,
       timestamptz '2025-01-01 00:00:00+00' + (n / 4) * interval '1 minute',
       CASE WHEN s.status = 'running' THEN 'worker-' || n % 7 END,
       CASE WHEN s.status = 'running' THEN timestamptz '2025-06-01 00:00:00+00' END,
       CASE WHEN s.status = 'pending' THEN 0 ELSE 1 END
FROM generate_series(1, 20000) AS n,
     LATERAL (SELECT CASE WHEN n % 1000 = 999 THEN 'running' WHEN n % 20 < 9 THEN 'pending'
                          WHEN n % 20 < 18 THEN 'completed' WHEN n % 20 = 18 THEN 'failed'
                          ELSE 'cancelled' END AS status) AS s;
UPDATE tasks SET completed_at = created_at + interval '1 minute'
WHERE status IN ('completed', 'failed', 'cancelled');
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, created_at, 'created', 0, 'api', '' FROM tasks
UNION ALL
SELECT id, created_at, 'claimed', 1, 'worker w', '' FROM tasks WHERE status <> 'pending'
ORDER BY 2, 1
"""
START = datetime(2025, 1, 1, tzinfo=UTC)
FILTERS: dict[str, Any] = {
    "project_id": 1,
    "status": TaskStatus.PENDING,
    "task_type": TaskType.SEARCH,
    "created_after": START + timedelta(hours=2),
    "created_before": START + timedelta(hours=80),
    "after": Cursor(START + timedelta(hours=78), 18_000),
}
COMBINATIONS = [names for size in range(len(FILTERS) + 1) for names in itertools.combinations(FILTERS, size)]
SAMPLE_PARAMS: dict[str, Any] = {
    "id": 5,
    "ids": [1, 2, 3],
    "attempt": 1,
    "attempts": [1, 1, 1],
    "progress": [1, 1, 1],
    "totals": [2, 2, 2],
    "results": ["{}"] * 3,
    "error_messages": ["boom"] * 3,
    "worker_id": "worker-1",
    "task_types": ALL_TYPES,
    "limit": 10,
    "lease_seconds": 30.0,
    "max_attempts": "{}",
    "actor": "api",
    "reason": "worker shutdown",
    "project_id": 1,
    "statuses": ["pending", "running"],
    "task_type": "ocr",
    "after_id": 19_000,
    "task_ids": [1, 2, 3],
    "kinds": ["killed"] * 3,
    "actors": ["worker w"] * 3,
    "details": [""] * 3,
    "older_than_seconds": 86_400.0,
}
WORKER_QUERIES = [
    "task_get",
    "task_get_many",
    "task_cancel",
    "task_claim",
    "task_set_progress",
    "task_complete",
    "task_fail",
    "postgres.task_finish_lock",
    "task_release",
    "lease_renew",
    "task_rescue",
    "task_status_many",
    "task_running_progress",
    "task_prune",
    "task_oldest_pending",
]
# (task_active_counts reads every pending and running row by design: here half the table, which the
# planner rightly reads whole. Its cost is the backlog's size, not the history's.)
# Reads of the event log: a task's timeline and the change feed walk task_events by an index.
EVENT_QUERIES = ["task_events", "task_changes", "task_events_add", "task_rare_event_counts"]
PLAN_MODES = ["force_custom_plan", "force_generic_plan"]  # generic: what a prepared statement may use
Node = dict[str, Any]


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[PostgresStore, psycopg.Connection[Any]]]:
    with make_postgres_store() as store, psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(SEED)
        conn.execute("ANALYZE tasks")
        conn.execute("ANALYZE task_events")
        yield store, conn


def plan_nodes(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any], mode: str) -> list[Node]:
    conn.execute(f"SET plan_cache_mode = {mode}")
    row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    assert row is not None

    def walk(node: Node) -> Iterator[Node]:
        yield node
        for child in node.get("Plans", []):
            yield from walk(child)

    return list(walk(row[0][0]["Plan"]))


def seq_scans(nodes: list[Node], table: str = "tasks") -> list[Node]:
    return [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table]


def sorts(nodes: list[Node]) -> list[Node]:
    """Sorts of rows read from a table; ordering a statement's own batch (a CTE's rows, e.g. the
    claimed tasks before their events are written) costs the batch, not the table."""
    return [
        n
        for n in nodes
        if n["Node Type"] in ("Sort", "Incremental Sort")
        and not all(child["Node Type"] == "CTE Scan" for child in n.get("Plans", []))
    ]


@pytest.mark.parametrize("mode", PLAN_MODES)
@pytest.mark.parametrize("names", COMBINATIONS, ids=lambda names: "+".join(names) or "no-filter")
def test_list_walks_an_index_in_order_for_every_filter_combination(
    seeded: tuple[PostgresStore, psycopg.Connection[Any]], names: tuple[str, ...], mode: str
) -> None:
    store, conn = seeded
    sql, params = store.task_list_sql(TaskQuery(**{name: FILTERS[name] for name in names}))
    nodes = plan_nodes(conn, sql, params, mode)
    assert seq_scans(nodes) == [], nodes
    assert sorts(nodes) == [], nodes
    assert any(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in nodes), nodes


@pytest.mark.parametrize("mode", PLAN_MODES)
@pytest.mark.parametrize("name", WORKER_QUERIES)
def test_worker_queries_never_scan_the_table(
    seeded: tuple[PostgresStore, psycopg.Connection[Any]], name: str, mode: str
) -> None:
    """Sorts are allowed here: the locking CTEs sort a batch's ids on purpose (lock order)."""
    _, conn = seeded
    nodes = plan_nodes(conn, load_queries("postgres")[name], SAMPLE_PARAMS, mode)
    assert seq_scans(nodes) == [], nodes


@pytest.mark.parametrize("mode", PLAN_MODES)
@pytest.mark.parametrize("name", EVENT_QUERIES)
def test_event_queries_walk_an_index(
    seeded: tuple[PostgresStore, psycopg.Connection[Any]], name: str, mode: str
) -> None:
    """A timeline is a few rows of a log that grows with every transition: found by index, not read."""
    _, conn = seeded
    nodes = plan_nodes(conn, load_queries("postgres")[name], SAMPLE_PARAMS, mode)
    assert seq_scans(nodes, "task_events") == [] and seq_scans(nodes) == [], nodes
    if name != "task_events_add":
        on_events = [n for n in nodes if n.get("Relation Name") == "task_events"]
        assert any("Index" in n["Node Type"] for n in on_events), nodes


def test_bulk_cancel_of_a_small_project_reads_only_its_rows(
    seeded: tuple[PostgresStore, psycopg.Connection[Any]],
) -> None:
    """Cancelling a project's few tasks must not read the table (a project holding half of every task
    is rightly read whole: the statement cancels most of what it reads)."""
    _, conn = seeded
    params = {**SAMPLE_PARAMS, "project_id": 3}
    nodes = plan_nodes(conn, load_queries("postgres")["task_cancel_many"], params, "force_custom_plan")
    assert seq_scans(nodes) == [] and seq_scans(nodes, "task_events") == [], nodes


@pytest.mark.parametrize("mode", PLAN_MODES)
def test_prune_walks_the_finished_tasks_oldest_first(
    seeded: tuple[PostgresStore, psycopg.Connection[Any]], mode: str
) -> None:
    _, conn = seeded
    nodes = plan_nodes(conn, load_queries("postgres")["task_prune"], SAMPLE_PARAMS, mode)
    assert any(n.get("Index Name") == "tasks_prunable" for n in nodes), nodes
    assert seq_scans(nodes, "task_events") == [] and seq_scans(nodes) == [], nodes


@pytest.mark.parametrize("mode", PLAN_MODES)
@pytest.mark.parametrize("task_types", [["ocr"], ALL_TYPES])
def test_claim_walks_the_pending_range_of_the_status_index_without_sorting_the_queue(
    seeded: tuple[PostgresStore, psycopg.Connection[Any]], task_types: list[str], mode: str
) -> None:
    _, conn = seeded
    params = {**SAMPLE_PARAMS, "task_types": task_types}
    nodes = plan_nodes(conn, load_queries("postgres")["task_claim"], params, mode)
    assert any(n.get("Index Name") == "tasks_status_created" for n in nodes), nodes
    assert sorts(nodes) == [] and seq_scans(nodes) == [], nodes


def test_every_index_serves_some_query(seeded: tuple[PostgresStore, psycopg.Connection[Any]]) -> None:
    """An index no query uses only slows every write: drop it, or add the query it serves here."""
    store, conn = seeded
    indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'")}
    used: set[str] = set()
    for mode in PLAN_MODES:
        for name in WORKER_QUERIES:
            nodes = plan_nodes(conn, load_queries("postgres")[name], SAMPLE_PARAMS, mode)
            used |= {n["Index Name"] for n in nodes if "Index Name" in n}
        for names in COMBINATIONS:
            sql, params = store.task_list_sql(TaskQuery(**{n: FILTERS[n] for n in names}))
            used |= {n["Index Name"] for n in plan_nodes(conn, sql, params, mode) if "Index Name" in n}
    assert indexes and indexes - used == set()


# -- times, batches and values ------------------------------------------------------------------------


def with_query(url: str, query: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=query))


def test_times_are_utc_whatever_the_session_time_zone(pg_store: PostgresStore) -> None:
    tokyo = PostgresStore(with_query(pg_store.url, "options=-c%20TimeZone%3DAsia/Tokyo"))
    try:
        task = tokyo.task_create(NewTask(1, TaskType.SEARCH))
        assert task.created_at.utcoffset() == timedelta(0)
        assert pg_store.task_get(task.id) == task
        moment = task.created_at.astimezone(ZoneInfo("Asia/Tokyo"))
        assert tokyo.task_list(TaskQuery(created_before=moment + timedelta(microseconds=1))) != []
        assert tokyo.task_list(TaskQuery(created_after=moment)) == []
    finally:
        tokyo.close()


def test_a_progress_batch_keeps_the_last_write_of_each_attempt(pg_store: PostgresStore) -> None:
    pg_store.task_create_many([NewTask(1, TaskType.SEARCH), NewTask(1, TaskType.SEARCH)])
    a, b = claim(pg_store, "w1")
    pg_store.task_cancel(b)
    writes = [ProgressWrite(a, 1, 1, 9), ProgressWrite(b, 1, 1, 9), ProgressWrite(a, 1, 2, 9)]
    assert pg_store.task_set_progress(writes, lease_seconds=30) == [b]
    after = pg_store.task_get(a)
    assert after is not None and (after.progress, after.total) == (2, 9)


def test_a_second_outcome_of_one_attempt_in_a_batch_loses(pg_store: PostgresStore) -> None:
    pg_store.task_create(NewTask(1, TaskType.SEARCH))
    [task_id] = claim(pg_store, "w1")
    first = Completion(task_id, 1, 3, 3, error_message="boom")
    second = Completion(task_id, 1, 3, 3, result={"late": True})
    assert pg_store.task_finish([first, second]) == [task_id]
    after = pg_store.task_get(task_id)
    assert after is not None and after.status is TaskStatus.FAILED and after.result is None


def test_params_postgresql_cannot_store_are_a_value_error(pg_store: PostgresStore) -> None:
    """jsonb refuses "\\u0000" in strings (valid JSON, accepted by SQLite): refused before a partial write."""
    with pytest.raises(ValueError, match="cannot be stored"):
        pg_store.task_create_many([NewTask(1, TaskType.SEARCH), NewTask(1, TaskType.SEARCH, {"q": "a\x00b"})])
    assert pg_store.task_list(TaskQuery()) == []


def test_a_nul_in_an_error_message_is_replaced_not_fatal_to_the_batch(pg_store: PostgresStore) -> None:
    """PostgreSQL text cannot hold NUL (SQLite can): the outcome is kept with U+FFFD in its place."""
    pg_store.task_create_many([NewTask(1, TaskType.SEARCH), NewTask(1, TaskType.SEARCH)])
    a, b = claim(pg_store, "w1")
    outcomes = [Completion(a, 1, 1, 1, error_message="bad\x00byte"), Completion(b, 1, 1, 1, result={})]
    assert pg_store.task_finish(outcomes) == [a, b]
    failed = pg_store.task_get(a)
    assert failed is not None and failed.error_message == "bad\ufffdbyte"


# -- the pool: a server that is gone, goes away, or a store that is closed ------------------------------


def test_an_unreachable_server_is_store_unavailable_with_the_reason() -> None:
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1/nowhere.*(refused|connect)"):
        PostgresStore("postgresql://postgres@127.0.0.1:1/nowhere", timeout=0.5)


def test_an_invalid_url_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid PostgreSQL URL"):
        PostgresStore("postgresql://postgres@127.0.0.1/db?no_such_option=1")


def test_the_store_recovers_by_itself_when_the_server_drops_its_connections(tmp_path: Path) -> None:
    with make_postgres_store(tmp_path, min_size=3, max_size=3) as store:
        store.ping()
        with psycopg.connect(store.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        failures = 0
        for _ in range(4):  # the first call may meet a dead connection; it purges all of them
            try:
                store.ping()
            except StoreUnavailable:
                failures += 1
        assert failures <= 1
        store.ping()
        assert store.task_create(NewTask(1, TaskType.SEARCH)).id >= 1


def test_a_closed_store_is_unavailable(pg_store: PostgresStore) -> None:
    pg_store.close()
    with pytest.raises(StoreUnavailable):
        pg_store.task_get(1)
    pg_store.close()  # closing twice is harmless (the fixture closes again)


# -- the SQL inventory --------------------------------------------------------------------------------


def test_the_postgres_store_uses_exactly_the_queries_it_defines() -> None:
    """``data_version`` is SQLite's poll helper; PostgreSQL defines it only for name parity."""
    # The store is composed of mixins in private modules: read them all.
    modules = {inspect.getmodule(klass) for klass in PostgresStore.__mro__}
    source = "".join(inspect.getsource(m) for m in modules if m and m.__name__.startswith("taskapi.store"))
    used = set(re.findall(r"""_queries\[\s*["']([\w.]+)["']\s*\]""", source))
    used |= set(re.findall(r"""self\.(?:_read|_execute)\(\s*["']([\w.]+)["']""", source))
    used |= {f"run_{field.name}" for field in dataclasses.fields(RunSql)}  # RunSql.from_queries
    used |= {f"task_list.{name}" for name in postgres_module._LIST_FILTERS}
    used.add("task_list")  # composed with its fragments by _queries.compose_task_list
    defined = set(load_queries("postgres")) - {"data_version"}
    assert sorted(used - defined) == [], "used by postgres.py but not defined in queries.sql"
    assert sorted(defined - used) == [], "defined in queries.sql but used nowhere"
