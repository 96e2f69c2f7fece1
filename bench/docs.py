"""``docs/benchmarks.md``: the latest table with the machine, the versions and the command.

The method text is written here once; what each peer's driver does is taken from the driver's own
docstring (``bench/peers/<name>.py``), so the page cannot drift from the code.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from bench.common import ROOT, Row
from bench.peers_runner import PEERS
from bench.report import markdown

METHOD = """\
## How it is measured

Every figure comes from one run on one machine: the raw database limits first, then our service,
then each peer one after another, then the list latency and memory. Each measurement gets a fresh
database (a new PostgreSQL database, a new SQLite file, a flushed Redis database 13) and real
processes. Worker concurrency is 10 and one worker process unless a row says otherwise; drain,
pickup and cancel are measured for an `async def` and a `def` handler wherever the queue has both.

- **raw**: a plain two-column table. PostgreSQL: single-row `INSERT` + `COMMIT` (autocommit) and
  claim transactions `UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)` on 1 and 4
  connections; a bulk `INSERT ... SELECT FROM unnest()` of 1,000 rows per commit; and the floor under
  a pickup: `INSERT` + `NOTIFY` committed on one connection, the notification read on a `LISTEN`ing
  one and a claim transaction committed there (p50, with its parts in the note). SQLite (WAL,
  `synchronous=NORMAL`): single-row `INSERT` and `UPDATE ... RETURNING` claims, one transaction
  each. Each runs for a fixed time.
- **http**: the hot routes of one `taskapi serve --no-worker` process on a SQLite file of 60,000
  pending tasks (`bench/http_rps.py`): `wrk` (else an asyncio client) keeps 8 keep-alive connections
  busy for 5 s (quick 3 s) per route, 3 runs (quick 1), medians: the 50-row list, a detail, a create,
  a cancel. The note has the server process's CPU per request (user + system from `/proc`), the
  figure other load on the machine moves least.
- **create**: `TaskService.create()` (Python API), one call per task, sequential (the note has the
  CPU per task of the caller and of its PostgreSQL backend); and `POST /api/v1/tasks` from 8
  keep-alive connections (`wrk`, else an asyncio client) for 10 s (quick 3 s) against a real
  `taskapi serve --no-worker --processes 2`, the count checked in the store, the serving processes'
  CPU per request in the note. Bulk: `create_many()` and `POST /api/v1/tasks/batch` in batches of
  1,000, sequential.
- **drain**: N pending tasks (10,000; quick 2,000) bulk-created, then `taskapi worker --burst` (1 or 3
  processes) with a no-op handler. Verified from the store (`count(completed) == N`); the rate is
  N / (last `completed_at` - first `started_at`) from the store; `extra.wall_seconds` in the JSON also
  counts process start-up. Peers: the handler appends its start and end time to a file; the rate is
  N / (last end - first start) over the N handler runs (their final acknowledgement is not counted,
  a small advantage to them).
- **pickup**: an idle worker (a first task has run), then one task at a time, 20-270 ms apart at
  random (a fixed gap would lock the samples to a polling worker's phase); the figure is the
  handler's `time.time()` at its start minus the bench's just before the create call (one clock on
  one machine): p50 and p95 of 50 (quick 10); the note has the p50 from the moment the create call
  returned (issue 12's "create returns -> handler starts"; the handler may start before the caller
  has its answer). Ours two ways: `POST /api/v1/tasks` to `taskapi serve` with its embedded worker,
  and `TaskService.create()` with a separate `taskapi worker` process. `bench/pickup_profile.py`
  profiles the second with py-spy.
- **cancel**: a running task, cancelled through `POST /api/v1/tasks/{id}/cancel` on a real
  `taskapi serve` (embedded worker), until the handler has stopped (it writes its stop time in a
  `finally`) and `GET` shows `cancelled`. Handlers: `def` looping in 10 ms sleeps calling
  `ctx.progress()`, an `async def` one, and a stubborn `def` one that never looks at its context
  (stopped by the kill after `--cancel-grace`; the figure is until its process is gone). Peers:
  the nearest equivalent of their API, listed below.
- **list**: N rows bulk-loaded straight into the store's table (SQLite `executemany` in one
  transaction, PostgreSQL `COPY`, then `ANALYZE`), a real `taskapi serve --no-worker --processes 2`, and 8
  concurrent clients asking `GET /api/v1/tasks?project_id=1&status=completed&limit=50` and the
  next keyset page (`cursor` from `X-Next-Cursor`); the figure is p99 (p50 beside it), client side.
  A `page 1 (wrk)` row asks page 1 from `wrk` (8 connections, 5 s): a C client, whose own CPU and
  scheduling take far less of the two cores than the 8 Python client threads (on this machine
  their p99 is several times wrk's).
  Project 1 is the largest (projects follow a 1/k law over 200 projects).
- **memory**: RSS of an idle `taskapi worker` after 3 s, and of `taskapi serve` (embedded worker)
  after it drained N tasks (half `async`, half `def`); the note adds its child processes.

Targets are those of issues 5 and 12 ("ahead of PgQueuer" compares with PgQueuer's row of the same
run). A pickup's figure is from the create call; issue 12 measures PostgreSQL's from the create's
return ("create returns -> handler starts"), so that target is judged on the p50 from the return
(in the target's text), and so is a pickup from an HTTP create against the Python API's + 1 ms;
SQLite's pickup target (issue 5) is judged from the call. "met"/"NOT met" is judged on this run's
figure (a quick run's list
target is judged at its largest size, not at 10,000,000 rows). Benchmarks never gate CI and are not
part of the test suite.

Every row's note ends with the machine's 1-minute load average when its measurement began.

Caveats: the bench's own clients (HTTP clients, the list's 8 client threads) run on the same cores
as the system measured, so on a small machine they take CPU from it; commit rates (raw
`INSERT+COMMIT`, one-call creates) follow the disk's fsync latency and move with other load on the
machine. Compare figures of one run with each other, not across runs; a quick run's small sizes
and 10 samples make its latencies noisy.
"""


def _driver_docs() -> str:
    parts = ["## What each peer's figures mean\n"]
    for peer in PEERS:
        path = ROOT / "bench" / "peers" / f"{peer.name}.py"
        text = ast.get_docstring(ast.parse(path.read_text())) or ""
        parts.append(f"**{peer.name}** (`pip install {peer.requirement}`, Python {peer.python}): {text}\n")
    return "\n".join(parts)


def write(path: Path, meta: dict[str, Any], rows: list[Row]) -> None:
    mach = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    text = f"""# Benchmarks

Run them with one command from the repository's root:

```bash
make bench         # full: 10,000-task drains, list latency at 10,000 and 10,000,000 rows
make bench-quick   # small sizes (--quick): a few minutes
.venv/bin/python -m bench.run --help   # sections, peers, sizes
```

The peers are installed by the bench into throw-away venvs under `bench/.venvs/` (git-ignored) from
the registry; PostgreSQL is `TASKAPI_TEST_POSTGRES_URL` (default
`postgresql://postgres@127.0.0.1:5432/test`, whose user may create databases); Redis is
127.0.0.1:6379, else the bench starts `redis-server` on a free port, else skips the Redis peers.

The pipeline's own benchmarks (import, dedup quality against bib-dedupe, dedup at scale, crawl, and
the second half's steps) are in [pipeline-benchmarks.md](pipeline-benchmarks.md). How issue 12's
targets stand, and the profiles of what stands in the way of those not met, are in
[performance.md](performance.md).

## Latest run

- When: {meta["stamp"]} ({meta["mode"]} mode, took {meta["seconds"]} s)
- Command: `{meta["command"]}`
- Machine: {mach.get("cores")} cores, {mach.get("ram_gib")} GiB RAM, {mach.get("cpu", "?")}; {mach.get("os")}
- Versions: {versions}
- Redis: {meta["redis"]}; worker concurrency {meta["concurrency"]};
  our `--cancel-grace` {meta["cancel_grace"]:g} s

{markdown(rows)}
{METHOD}
{_driver_docs()}"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
