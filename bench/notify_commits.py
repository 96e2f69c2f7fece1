"""Why concurrent creates on PostgreSQL do not scale: the NOTIFY in the create's transaction.

PostgreSQL serializes the commits of transactions that sent a NOTIFY (``PreCommit_Notify`` takes a
database-wide lock that is held until the commit, WAL flush included, is done), so those commits
cannot share a flush the way concurrent plain commits do. This measures the store's own create
statement (``postgres.task_insert_one``: the task row, its ``created`` event, two ``pg_notify``)
on a freshly migrated store, from 1 and from 8 connections at once, three ways: as it is; with the
two notifications sent in a statement of their own right after the commit (a transaction without
WAL to flush); and without them. A LISTENing connection is open as a worker's would be::

    .venv/bin/python -m bench.notify_commits [--seconds 3] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics

import psycopg

from bench.common import DEFAULT_PG, fresh_database
from bench.raw import parallel
from taskapi.service import TaskService
from taskapi.store._queries import load_queries

AFTER = "SELECT pg_notify('taskapi', %(note)s), pg_notify('taskapi_changes', '')"


def variants() -> dict[str, tuple[str, ...]]:
    """The create's statements each way, with their parameters bound as literals (``parallel`` runs
    plain SQL)."""
    one = load_queries("postgres")["postgres.task_insert_one"]
    note = '\'{"kind": "created", "task_type": "index"}\''  # the payload the store builds per type
    bound = (
        one.replace("%(project_id)s", "1")
        .replace("%(task_type)s", "'index'")
        .replace("%(params)s", "'{}'")
        .replace("%(actor)s", "'api'")
        .replace("%(note)s", note)
    )
    # The same CTE without its two notifications (``announced`` and ``changed``).
    silent = re.sub(r", announced AS \(.*?\n\), changed AS \(.*?\n\)", "", bound, flags=re.DOTALL)
    silent = silent.replace(" CROSS JOIN announced CROSS JOIN changed", "")
    if "pg_notify" in silent:
        raise RuntimeError("postgres.task_insert_one changed shape: update bench.notify_commits")
    return {
        "NOTIFY in the create's transaction (as shipped)": (bound,),
        "NOTIFY in its own statement after the commit": (silent, AFTER.replace("%(note)s", note)),
        "no NOTIFY": (silent,),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=2, help="rounds, alternating the ways; medians")
    parser.add_argument("--pg", default=os.environ.get("TASKAPI_TEST_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args()
    found: dict[tuple[str, int], list[float]] = {}
    with fresh_database(args.pg, "notify_commits") as url:
        with TaskService.open(url):
            pass  # migrated
        with psycopg.connect(url, autocommit=True) as listening:
            listening.execute("LISTEN taskapi")
            for _ in range(args.repeat):
                for name, statements in variants().items():
                    for connections in (1, 8):
                        rate = parallel(url, args.seconds, connections, statements)
                        found.setdefault((name, connections), []).append(rate)
    print(f"load {os.getloadavg()[0]:.2f}; creates/s, median of {args.repeat}:")
    for (name, connections), rates in found.items():
        print(f"  {statistics.median(rates):8,.0f}  {name}, {connections} connection(s)")


if __name__ == "__main__":
    main()
