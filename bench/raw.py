"""The databases' own limits, measured in the same run: what no queue on top of them can beat.

PostgreSQL: single-row INSERT + COMMIT, and claim transactions (``UPDATE ... WHERE id = (SELECT ...
FOR UPDATE SKIP LOCKED LIMIT 1)``, commit) on 1 and 4 connections; and the floor under a pickup:
INSERT+NOTIFY committed, a LISTENing connection woken, a claim transaction committed. SQLite in WAL mode with
``synchronous=NORMAL`` (as our store opens it): single-row INSERT and ``UPDATE ... RETURNING`` claims,
one transaction each. Each runs for a fixed time on a plain two-column table.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import psycopg

from bench.common import Row, fresh_database, percentile, process_cpu

PG_TABLE = """CREATE TABLE raw_queue (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                     status TEXT NOT NULL DEFAULT 'pending', payload JSONB NOT NULL)"""
PG_CLAIM = """UPDATE raw_queue SET status = 'running'
              WHERE id = (SELECT id FROM raw_queue WHERE status = 'pending' ORDER BY id
                          FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id"""
PG_BULK = "INSERT INTO raw_queue (payload) SELECT p::jsonb FROM unnest(%s::text[]) AS p"
BULK = 1000
SQLITE_TABLE = """CREATE TABLE raw_queue (id INTEGER PRIMARY KEY AUTOINCREMENT,
                                          status TEXT NOT NULL DEFAULT 'pending', payload TEXT NOT NULL)"""
SQLITE_CLAIM = """UPDATE raw_queue SET status = 'running'
                  WHERE id = (SELECT id FROM raw_queue WHERE status = 'pending' ORDER BY id LIMIT 1)
                  RETURNING id"""


def _for(seconds: float, step: Callable[[], object]) -> int:
    """Call ``step`` until ``seconds`` passed; answer the number of calls."""
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        step()
        done += 1
    return done


def _cpu_note(before: tuple[float | None, float], backend: int, done: int) -> str:
    """CPU per row of the client (this process) and of the PostgreSQL backend (when it is local):
    what our create's figures in ``CpuClock`` compare with."""
    client = (time.process_time() - before[1]) / done * 1e6
    after = process_cpu(backend)
    server = (
        ""
        if before[0] is None or after is None
        else f", PostgreSQL backend {(after - before[0]) / done * 1e6:.1f} us"
    )
    return f"CPU per row: client {client:.1f} us{server}"


PG_NOTIFYING = {
    "INSERT+COMMIT, 8 connections": ("INSERT INTO raw_queue (payload) VALUES ('{}') RETURNING id",),
    "INSERT with NOTIFY in its txn, 8 connections": (
        "WITH i AS (INSERT INTO raw_queue (payload) VALUES ('{}') RETURNING id)"
        " SELECT pg_notify('raw_new', i.id::text) FROM i",
    ),
    "INSERT+COMMIT, then NOTIFY alone, 8 connections": (
        "INSERT INTO raw_queue (payload) VALUES ('{}') RETURNING id",
        "SELECT pg_notify('raw_new', '')",
    ),
}
"""Commits of transactions that NOTIFY are serialized by PostgreSQL (a lock taken before the commit
and held through its WAL flush), so they cannot share a flush as concurrent plain commits do; a
NOTIFY in a transaction of its own has no WAL to flush."""


def _inserts(url: str, seconds: float, statements: tuple[str, ...], counts: list[int], slot: int) -> None:
    """One connection running ``statements`` for ``seconds``; its rounds go to ``counts[slot]``
    (-1 when it failed: the caller raises)."""
    counts[slot] = -1
    with psycopg.connect(url, autocommit=True) as conn:

        def step() -> None:
            for statement in statements:
                conn.execute(statement).fetchone()

        counts[slot] = _for(seconds, step)


def parallel(url: str, seconds: float, connections: int, statements: tuple[str, ...]) -> float:
    """Rounds of ``statements`` per second on ``connections`` connections (threads) at once."""
    counts = [0] * connections
    threads = [
        threading.Thread(target=_inserts, args=(url, seconds, statements, counts, i))
        for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if min(counts) < 0:
        raise RuntimeError(f"a connection failed running {statements}")
    return sum(counts) / seconds


def _claims(url: str, seconds: float, counts: list[int], slot: int) -> None:
    """One connection claiming for ``seconds``; its count goes to ``counts[slot]``."""
    with psycopg.connect(url, autocommit=True) as conn:
        counts[slot] = _for(seconds, lambda: conn.execute(PG_CLAIM).fetchone())


def _wake_and_claim(url: str, rounds: int, claim_flush: bool = True) -> Row:
    """The floor under a PostgreSQL pickup: one connection INSERTs a row and NOTIFYs in one
    transaction (what a create commits), another LISTENing reads the notification and runs a claim
    transaction; from before the INSERT to the claim's commit. No pool, no event loop, no JSON, one
    process (the notification is read once the commit returned: a floor, not a second process's wake).

    Without ``claim_flush`` the claiming connection has ``synchronous_commit = off``: its commit does
    not wait for the WAL flush, which shows what the second fsync of a pickup costs."""
    latencies, commits, claims = [], [], []
    with (
        psycopg.connect(url, autocommit=True) as listener,
        psycopg.connect(url, autocommit=True) as creator,
    ):
        listener.execute("LISTEN raw_wake")
        if not claim_flush:
            listener.execute("SET synchronous_commit = off")
        for i in range(rounds + 5):  # 5 rounds of warm-up
            began = time.perf_counter()
            with creator.transaction():
                creator.execute("INSERT INTO raw_queue (payload) VALUES ('{}')")
                creator.execute("NOTIFY raw_wake")
            committed = time.perf_counter()
            if not list(listener.notifies(timeout=5, stop_after=1)):
                raise RuntimeError("no NOTIFY arrived within 5 s")
            claim_began = time.perf_counter()
            listener.execute(PG_CLAIM).fetchone()
            claimed = time.perf_counter()
            if i >= 5:
                latencies.append((claimed - began) * 1000)
                commits.append((committed - began) * 1000)
                claims.append((claimed - claim_began) * 1000)
            time.sleep(0.02)  # an idle gap between rounds, as between the pickup samples
    p50 = percentile(latencies, 50)
    note = (
        f"p50 of its parts: INSERT+NOTIFY+COMMIT {percentile(commits, 50):.2f} ms, claim txn"
        f" {percentile(claims, 50):.2f} ms, the rest the wake; p95 {percentile(latencies, 95):.2f} ms"
    )
    extra = {
        "p50": p50,
        "p95": percentile(latencies, 95),
        "commit_p50": percentile(commits, 50),
        "claim_p50": percentile(claims, 50),
        "samples": len(latencies),
    }
    variant = "INSERT+NOTIFY -> LISTEN wake + claim txn" + (
        "" if claim_flush else " (synchronous_commit off)"
    )
    return Row("raw", "raw", "postgres", variant, p50, "ms p50", note, extra)


def postgres(admin: str, seconds: float) -> list[Row]:
    rows = []
    with fresh_database(admin, "raw") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(PG_TABLE)
            conn.execute("CREATE INDEX raw_pending ON raw_queue (id) WHERE status = 'pending'")
            backend = conn.info.backend_pid
            cpu = process_cpu(backend), time.process_time()
            done = _for(seconds, lambda: conn.execute("INSERT INTO raw_queue (payload) VALUES ('{}')"))
            rows.append(
                Row(
                    "raw",
                    "raw",
                    "postgres",
                    "INSERT+COMMIT, 1 connection",
                    done / seconds,
                    "rows/s",
                    note=_cpu_note(cpu, backend, done),
                )
            )
            # The floor under a bulk create: 1,000 rows per statement (its own transaction), no index
            # but the key, no second table.
            batch = ["{}"] * BULK
            done = _for(seconds, lambda: conn.execute(PG_BULK, (batch,)))
            rows.append(
                Row(
                    "raw",
                    "raw",
                    "postgres",
                    f"bulk: {BULK:,} rows per INSERT (unnest)+COMMIT, 1 connection",
                    done * BULK / seconds,
                    "rows/s",
                )
            )
            conn.execute("INSERT INTO raw_queue (payload) SELECT '{}' FROM generate_series(1, 200000)")
            conn.execute("VACUUM ANALYZE raw_queue")
        with psycopg.connect(url, autocommit=True) as listening:  # a listener, as a worker is
            listening.execute("LISTEN raw_new")
            for variant, statements in PG_NOTIFYING.items():
                rate = parallel(url, seconds, 8, statements)
                rows.append(Row("raw", "raw", "postgres", variant, rate, "rows/s"))
        for flush in (True, False):
            rows.append(_wake_and_claim(url, 100 if seconds < 5 else 300, claim_flush=flush))
        for connections in (1, 4):
            counts = [0] * connections
            threads = [
                threading.Thread(target=_claims, args=(url, seconds, counts, i)) for i in range(connections)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rows.append(
                Row(
                    "raw",
                    "raw",
                    "postgres",
                    f"SKIP LOCKED claim txn, {connections} connection(s)",
                    sum(counts) / seconds,
                    "txn/s",
                )
            )
    return rows


def sqlite(workdir: Path, seconds: float) -> list[Row]:
    path = workdir / "raw.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(SQLITE_TABLE)
        done = _for(seconds, lambda: conn.execute("INSERT INTO raw_queue (payload) VALUES ('{}')"))
        rows = [Row("raw", "raw", "sqlite", "INSERT (own txn)", done / seconds, "rows/s")]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw_queue (payload) VALUES (?)", [("{}",)] * 200_000)
        conn.execute("COMMIT")
        conn.execute("CREATE INDEX raw_pending ON raw_queue (id) WHERE status = 'pending'")
        done = _for(seconds, lambda: conn.execute(SQLITE_CLAIM).fetchone())
        rows.append(
            Row("raw", "raw", "sqlite", "UPDATE ... RETURNING claim (own txn)", done / seconds, "txn/s")
        )
    return rows
