"""The databases' own limits, measured in the same run: what no queue on top of them can beat.

PostgreSQL: single-row INSERT + COMMIT, and claim transactions (``UPDATE ... WHERE id = (SELECT ...
FOR UPDATE SKIP LOCKED LIMIT 1)``, commit) on 1 and 4 connections. SQLite in WAL mode with
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

from bench.common import Row, fresh_database

PG_TABLE = """CREATE TABLE raw_queue (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                     status TEXT NOT NULL DEFAULT 'pending', payload JSONB NOT NULL)"""
PG_CLAIM = """UPDATE raw_queue SET status = 'running'
              WHERE id = (SELECT id FROM raw_queue WHERE status = 'pending' ORDER BY id
                          FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id"""
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


def _claims(url: str, seconds: float, counts: list[int], slot: int) -> None:
    """One connection claiming for ``seconds``; its count goes to ``counts[slot]``."""
    with psycopg.connect(url, autocommit=True) as conn:
        counts[slot] = _for(seconds, lambda: conn.execute(PG_CLAIM).fetchone())


def postgres(admin: str, seconds: float) -> list[Row]:
    rows = []
    with fresh_database(admin, "raw") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(PG_TABLE)
            conn.execute("CREATE INDEX raw_pending ON raw_queue (id) WHERE status = 'pending'")
            done = _for(seconds, lambda: conn.execute("INSERT INTO raw_queue (payload) VALUES ('{}')"))
            rows.append(
                Row("raw", "raw", "postgres", "INSERT+COMMIT, 1 connection", done / seconds, "rows/s")
            )
            conn.execute("INSERT INTO raw_queue (payload) SELECT '{}' FROM generate_series(1, 200000)")
            conn.execute("VACUUM ANALYZE raw_queue")
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
