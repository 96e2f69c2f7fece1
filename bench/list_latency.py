"""List latency at scale: does a page of 50 cost the same on the millionth row as on the first?

Bulk-loads N tasks (default 1,000,000) into a fresh SQLite file with the migrated schema, then times
``store.task_list`` (the real code path: SQL, driver, row conversion) for first pages, keyset pages
deep into the list, and filter combinations that no index serves exactly. Prints p50/p99 per case.

    .venv/bin/python bench/list_latency.py               # 1,000,000 rows
    .venv/bin/python bench/list_latency.py --rows 100000 --repeat 100
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import accumulate
from pathlib import Path

from taskapi.domain import Cursor, TaskQuery, TaskStatus, TaskType
from taskapi.store.base import ListedTask
from taskapi.store.sqlite import SQLiteStore, format_time

# The bench writes rows the store's own API cannot (any status, any time); tooling, not the package.
BULK_INSERT = """
INSERT INTO tasks (project_id, task_type, status, progress, total, params, result, error_message,
                   created_at, started_at, completed_at, attempt)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
PROJECTS = 200
STATUS_WEIGHTS = {
    TaskStatus.COMPLETED: 80,
    TaskStatus.PENDING: 10,
    TaskStatus.FAILED: 5,
    TaskStatus.CANCELLED: 3,
    TaskStatus.RUNNING: 2,
}
TYPE_WEIGHTS = {
    TaskType.SEARCH: 30,
    TaskType.CRAWL: 25,
    TaskType.OCR: 20,
    TaskType.DEDUP: 10,
    TaskType.INDEX: 10,
    TaskType.KEYWORD_EXPAND: 5,
}
Row = tuple[int, str, str, int, int, str, str | None, str, str, str | None, str | None, int]


def generate(count: int, seed: int = 7) -> Iterator[Row]:
    """Tasks over 90 days in time order (ids follow time), created in bursts that share a timestamp.

    Projects follow a 1/k law (a few big projects, a long tail); statuses and types are skewed as in
    a pipeline that mostly succeeds.
    """
    rng = random.Random(seed)
    projects = list(range(1, PROJECTS + 1))
    project_cum = list(accumulate(1 / k for k in projects))
    statuses, status_cum = list(STATUS_WEIGHTS), list(accumulate(STATUS_WEIGHTS.values()))
    types, type_cum = [t.value for t in TYPE_WEIGHTS], list(accumulate(TYPE_WEIGHTS.values()))
    moment = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / count
    left = 0
    created = started = finished = ""
    for _ in range(count):
        if left == 0:  # a new burst: a pipeline step creating 1-5 tasks in one transaction
            left = rng.randint(1, 5)
            moment += step * left
            created = format_time(moment)
            started = format_time(moment + timedelta(seconds=1))
            finished = format_time(moment + timedelta(seconds=90))
        left -= 1
        status = rng.choices(statuses, cum_weights=status_cum)[0]
        pending = status is TaskStatus.PENDING
        yield (
            rng.choices(projects, cum_weights=project_cum)[0],
            rng.choices(types, cum_weights=type_cum)[0],
            status.value,
            0 if pending else 100,
            100,
            f'{{"query":"q{rng.randint(1, 10_000)}"}}',
            '{"papers_found":15}' if status is TaskStatus.COMPLETED else None,
            "ValueError: source unavailable" if status is TaskStatus.FAILED else "",
            created,
            None if pending else started,
            finished if status.is_final else None,
            0 if pending else 1,
        )


def bulk_load(path: Path, count: int) -> float:
    """Insert ``count`` rows in one transaction with ``executemany``; answer the seconds it took."""
    began = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the load is index-bound
        conn.execute("BEGIN")
        conn.executemany(BULK_INSERT, generate(count))
        conn.execute("COMMIT")
    finally:
        conn.close()
    return time.perf_counter() - began


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    query: TaskQuery
    page: int = 1  # time the page at this depth (1 = the first page)


def cursor_at_page(store: SQLiteStore, query: TaskQuery, page: int) -> Cursor | None:
    """Walk ``page - 1`` pages to find where page ``page`` starts (``None`` on the first page)."""
    cursor: Cursor | None = None
    for _ in range(page - 1):
        rows = store.task_list(replace(query, after=cursor))
        if len(rows) < query.limit:
            raise SystemExit(f"only {_ + 1} pages for {query}: load more rows or pick a bigger project")
        cursor = Cursor(rows[-1].created_at, rows[-1].id)
    return cursor


def timed(call: Callable[[], list[ListedTask]], repeat: int) -> tuple[float, float, int]:
    """p50 and p99 in milliseconds over ``repeat`` calls (after one warm-up), and the rows returned."""
    rows = len(call())
    samples = []
    for _ in range(repeat):
        began = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - began) / 1e6)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98], rows


def cases() -> list[Case]:
    big = TaskQuery(project_id=1, status=TaskStatus.COMPLETED, limit=50)
    return [
        Case("project+status, page 1", big),
        Case("project+status, page 2 (keyset)", big, page=2),
        Case("project+status, page 10", big, page=10),
        Case("project+status, page 1000", big, page=1000),
        Case("no filter, page 1", TaskQuery(limit=50)),
        Case("no filter, page 1000", TaskQuery(limit=50), page=1000),
        Case("project+rare status (running)", replace(big, status=TaskStatus.RUNNING)),
        Case("small project+status", replace(big, project_id=PROJECTS)),
        Case("status+type (no exact index)", TaskQuery(status=TaskStatus.RUNNING, task_type=TaskType.DEDUP)),
        Case(
            "project+status+type (no exact index)",
            TaskQuery(project_id=1, status=TaskStatus.RUNNING, task_type=TaskType.KEYWORD_EXPAND),
        ),
        Case("created_before 30 days ago", TaskQuery(created_before=datetime.now(UTC) - timedelta(days=30))),
    ]


def run(path: Path, rows: int, repeat: int) -> None:
    store = SQLiteStore(path)
    store.migrate()
    print(f"loading {rows:,} rows into {path} ...", flush=True)
    seconds = bulk_load(path, rows)
    size = path.stat().st_size / 2**20
    print(f"loaded in {seconds:.1f} s ({rows / seconds:,.0f} rows/s); file {size:.0f} MiB")
    print(f"\n{'case':<40} {'rows':>5} {'p50 ms':>8} {'p99 ms':>8}")
    for case in cases():
        after = cursor_at_page(store, case.query, case.page)
        query = replace(case.query, after=after)
        p50, p99, got = timed(partial(store.task_list, query), repeat)
        print(f"{case.name:<40} {got:>5} {p50:>8.3f} {p99:>8.3f}")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="tasks to load (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per case (default 200)")
    parser.add_argument("--db", type=Path, help="database file to create (default: a temporary one)")
    args = parser.parse_args()
    if args.db is not None:
        if args.db.exists():
            raise SystemExit(f"{args.db} exists: the bench wants a fresh file")
        run(args.db, args.rows, args.repeat)
        return
    with tempfile.TemporaryDirectory(prefix="taskapi-bench-") as folder:
        run(Path(folder) / "bench.db", args.rows, args.repeat)


if __name__ == "__main__":
    main()
