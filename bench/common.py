"""What the bench's parts in our venv share: result rows, PostgreSQL databases, processes.

A ``Row`` is one figure of the final table; ``bench.sinks`` (the part the peers' drivers share too)
holds the percentiles and the sink files handlers report to.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench.sinks import Sink, percentile, pid_alive, sink_write, wait_for

__all__ = [
    "CONCURRENCY",
    "DEFAULT_PG",
    "ROOT",
    "Row",
    "Sink",
    "descendants",
    "free_port",
    "fresh_database",
    "percentile",
    "pid_alive",
    "postgres_reachable",
    "process_cpu",
    "rss_mib",
    "sink_write",
    "start",
    "stop",
    "taskapi_command",
    "taskapi_env",
    "wait_for",
    "with_database",
]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
CONCURRENCY = 10


@dataclass(slots=True)
class Row:
    """One figure: ``value`` is ``None`` when it could not be measured (``note`` says why)."""

    metric: str  # create, create-bulk, drain, pickup, cancel, list, memory, raw
    system: str  # taskapi, pgqueuer, ..., or "raw" for the database limits
    backend: str  # postgres, sqlite, redis
    variant: str  # what exactly: handler kind, door, workers, page ...
    value: float | None
    unit: str
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- PostgreSQL ----------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def fresh_database(admin: str, label: str) -> Iterator[str]:
    """A new empty database for one measurement, dropped afterwards (also when it fails)."""
    name = f"taskapi_bench_{os.getpid()}_{label}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(create)
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(drop)


def postgres_reachable(admin: str) -> str | None:
    """``None`` when PostgreSQL answers, else why not."""
    try:
        psycopg.connect(admin, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


# -- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def taskapi_env(**extra: str) -> dict[str, str]:
    """Our environment without TASKAPI_* settings of the caller, with the bench importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAPI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def taskapi_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "taskapi", *args]


def start(command: Sequence[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """A child process in its own session (so that stopping it stops its children too)."""
    out = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        list(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM to the process group, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


def rss_mib(pid: int) -> float:
    """Resident size of one process, MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a process of this host has used, or ``None`` when it is not here
    (a remote database server): a figure that other processes' load on a shared machine does not
    inflate the way it does wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
