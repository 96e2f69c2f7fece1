"""Import into the papers library: papers/s through ``POST /api/v1/papers`` and through a ``search``
task replaying 10 Semantic Scholar bulk pages of 1,000, on SQLite and PostgreSQL, with the claim
latency of other tasks measured while the import runs (SQLite has one writer: claims must not wait
long behind an import).

A real ``taskapi serve`` process per store (built-in handlers, embedded worker), the replay server of
the tests for the source. Standalone::

    .venv/bin/python -m bench.import_rate [--papers 10000] [--stores sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from taskapi.domain import NewTask, TaskType
from taskapi.store import open_store
from taskapi.store.base import Claim
from tests.helpers.server import free_port
from tests.pipeline.source_server import SourceServer

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "title": f"A study of benchmark topic {n} with measured effects",
            "abstract": "We measure. " * 40,
            "authors": [f"Author {n % 97}", f"Other {n % 89}"],
            "year": 2000 + n % 25,
            "doi": f"10.5555/bench.{n}",
            "venue": "Journal of Benchmarks",
        }
        for n in range(count)
    ]


def wait_task(client: httpx.Client, task_id: int) -> dict[str, Any]:
    while True:
        task: dict[str, Any] = client.get(f"/api/v1/tasks/{task_id}").json()["data"]
        if task["status"] in {"completed", "failed", "cancelled"}:
            return task
        time.sleep(0.05)


def claim_latencies(url: str, stop: threading.Event) -> list[float]:
    """Create and claim one task at a time (another project, another type) until ``stop``: how long a
    claim waits while the import holds the writer."""
    store = open_store(url)
    seconds: list[float] = []
    try:
        while not stop.is_set():
            store.task_create(NewTask(99, TaskType.OCR))
            started = time.perf_counter()
            store.task_claim(Claim("bench-claimer", ["ocr"], 1, 30.0, {}))
            seconds.append(time.perf_counter() - started)
            time.sleep(0.005)
    finally:
        store.close()
    return seconds


@contextmanager
def serving(url: str, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``taskapi serve --db URL`` on a free port until the block ends."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TASKAPI_")} | env
    command = [sys.executable, "-m", "taskapi", "serve", "--db", url, "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"taskapi serve did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def measure(url: str, count: int, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with SourceServer(total=count) as sources:
        env = {
            **sources.settings_env(),
            "TASKAPI_DATABASE_URL": url,
            "TASKAPI_SOURCE_MIN_INTERVAL": "semantic_scholar=0",
            "TASKAPI_DATA_DIR": str(workdir / "data"),
        }
        with (
            serving(url, env, workdir / "server.log") as base_url,
            httpx.Client(base_url=base_url, timeout=120) as client,
        ):
            body = {"project_id": 1, "papers": records(count)}
            stop = threading.Event()
            latencies: list[float] = []
            claimer = threading.Thread(target=lambda: latencies.extend(claim_latencies(url, stop)))
            claimer.start()
            started = time.perf_counter()
            answer = client.post("/api/v1/papers", json=body)
            elapsed = time.perf_counter() - started
            stop.set()
            claimer.join()
            assert answer.status_code == 201, answer.text
            out["api_papers_per_s"] = count / elapsed
            out["claim_p50_ms"] = statistics.median(latencies) * 1000
            out["claim_max_ms"] = max(latencies) * 1000
            params = {"query": "bench", "sources": ["semantic_scholar"], "limit": count}
            task = client.post(
                "/api/v1/tasks", json={"project_id": 2, "task_type": "search", "params": params}
            )
            created = task.json()["data"]
            started = time.perf_counter()
            done = wait_task(client, created["id"])
            elapsed = time.perf_counter() - started
            assert done["status"] == "completed", done
            out["search_papers_per_s"] = done["result"]["imported"] / elapsed
            out["search_requests"] = len(sources.requests("s2"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--papers", type=int, default=10_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    for store in args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            if store == "sqlite":
                db = workdir / "bench.db"
                result = measure(f"sqlite:///{db}", args.papers, workdir)
            else:
                name = f"taskapi_import_bench_{int(time.time())}"
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                try:
                    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
                    result = measure(url, args.papers, workdir)
                finally:
                    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(store, {k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}, flush=True)


if __name__ == "__main__":
    main()
