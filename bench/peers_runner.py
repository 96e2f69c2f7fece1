"""The peers: each in a throw-away venv of its own (``bench/.venvs/<name>``, git-ignored), installed
from the registry by pip, and driven by ``bench/peers/<name>.py`` run with that venv's Python.

A venv is made once and reused while its requirement line is unchanged (``--refresh-peers`` makes
them anew, picking up new releases). Every job of a driver gets a fresh database: a new PostgreSQL
database, a flushed Redis database (number 13 of the server, never the default 0), a new directory.
"""

from __future__ import annotations

import glob
import json
import re
import shutil
import socket
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, Row, free_port, fresh_database

VENVS = ROOT / "bench" / ".venvs"
REDIS_DB = 13
JOBS = ("create", "drain:async", "drain:def", "pickup:async", "pickup:def", "cancel:async", "cancel:def")


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    requirement: str
    backend: str  # postgres, redis or sqlite
    python: str = "3.11"


PEERS = (
    Peer("pgqueuer", "pgqueuer[asyncpg]", "postgres"),
    Peer("oban", "oban", "postgres", python="3.12"),
    Peer("procrastinate", "procrastinate[psycopg]", "postgres"),
    Peer("celery", "celery[redis]", "redis"),
    Peer("rq", "rq", "redis"),
    Peer("huey", "huey", "sqlite"),
)


def find_python(version: str) -> str | None:
    """A working interpreter of ``version``: ours if it is that one, else one pyenv installed, else
    on PATH (a pyenv shim on PATH may exist without working, so each candidate is tried)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = sorted(glob.glob(str(Path.home() / f".pyenv/versions/{version}*/bin/python{version}")))
    candidates.reverse()
    on_path = shutil.which(f"python{version}")
    for candidate in [*candidates, *([on_path] if on_path else [])]:
        probe = subprocess.run([candidate, "-c", "import venv"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


def ensure_venv(peer: Peer, refresh: bool, log: Path) -> Path | str:
    """The venv's Python, installing it when needed; or why it cannot be had."""
    home = VENVS / peer.name
    python = home / "bin" / "python"
    marker = home / "requirement.txt"
    if not refresh and python.exists() and marker.exists() and marker.read_text() == peer.requirement:
        return python
    base = find_python(peer.python)
    if base is None:
        return f"needs Python {peer.python}, none found (PATH or pyenv)"
    shutil.rmtree(home, ignore_errors=True)
    print(
        f"  installing {peer.requirement} into {home} (Python {peer.python}) ...", file=sys.stderr, flush=True
    )
    if base == sys.executable:
        venv.EnvBuilder(with_pip=True).create(home)
    else:
        subprocess.run([base, "-m", "venv", str(home)], check=True)
    with log.open("ab") as out:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", peer.requirement], stdout=out, stderr=out
        )
    if done.returncode != 0:
        return f"pip install {peer.requirement} failed: see {log}"
    marker.write_text(peer.requirement)
    return python


# -- Redis -------------------------------------------------------------------------------------------


def redis_command(port: int, *words: str) -> str:
    """One command in RESP over a plain socket (our venv has no Redis client, and needs none)."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(request.encode())
        return sock.recv(65536).decode(errors="replace")


@contextmanager
def redis_server(log: Path) -> Iterator[tuple[int | None, str]]:
    """The running Redis on 6379, else one started on a free port, else ``None`` and why."""
    try:
        if redis_command(6379, "PING").startswith("+PONG"):
            yield 6379, "127.0.0.1:6379"
            return
    except OSError:
        pass
    binary = shutil.which("redis-server")
    if binary is None:
        yield None, "no Redis on 127.0.0.1:6379 and no redis-server to start"
        return
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                if redis_command(port, "PING").startswith("+PONG"):
                    break
            except OSError:
                subprocess.run(["sleep", "0.05"], check=False)
        yield port, f"redis-server started by the bench on port {port}"
    finally:
        process.terminate()
        process.wait(10)


def redis_version(port: int) -> str:
    match = re.search(r"redis_version:(\S+)", redis_command(port, "INFO", "server"))
    return match.group(1) if match else "?"


# -- running the drivers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerRun:
    pg_admin: str | None
    redis_port: int | None
    redis_note: str
    workdir: Path
    sizes: dict[str, int]  # n_drain, n_create, n_bulk, samples
    concurrency: int
    refresh: bool


def _na(peer: Peer, job: str, reason: str) -> Row:
    metric, _, kind = job.partition(":")
    return Row(metric, peer.name, peer.backend, kind, None, "", note=reason)


def _driver(python: Path, peer: Peer, spec: dict[str, Any], log: Path) -> tuple[str, list[Row]]:
    done = subprocess.run(
        [str(python), "-m", f"bench.peers.{peer.name}", json.dumps(spec)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(Path.home())},
        capture_output=True,
        timeout=1800,
    )
    with log.open("ab") as out:
        out.write(f"--- {spec['job']} (exit {done.returncode})\n".encode() + done.stderr)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        why = lines[-1] if lines else "no output"
        return "?", [_na(peer, spec["job"], f"driver failed (exit {done.returncode}): {why}")]
    answer = json.loads(done.stdout.decode().strip().splitlines()[-1])
    rows = [Row(system=peer.name, **row) for row in answer["rows"]]
    return str(answer["version"]), rows


def run_peer(peer: Peer, run: PeerRun) -> tuple[str, list[Row]]:
    """Every job of one peer; answers its version and rows."""
    log = run.workdir / f"peer-{peer.name}.log"
    try:
        python = ensure_venv(peer, run.refresh, log)
    except (OSError, subprocess.CalledProcessError) as exc:
        python = f"could not make its venv: {exc}"
    if isinstance(python, str):
        return "not installed", [_na(peer, job, python) for job in JOBS]
    if peer.backend == "postgres" and run.pg_admin is None:
        return "?", [_na(peer, job, "PostgreSQL unreachable") for job in JOBS]
    if peer.backend == "redis" and run.redis_port is None:
        return "?", [_na(peer, job, run.redis_note) for job in JOBS]
    version, rows = "?", []
    for job in JOBS:
        print(f"  {peer.name}: {job}", file=sys.stderr, flush=True)
        workdir = run.workdir / f"{peer.name}-{job.replace(':', '-')}"
        workdir.mkdir(parents=True, exist_ok=True)
        sizes = dict(run.sizes)
        note = ""
        cap = 300 if sizes["n_drain"] < 10_000 else 2000  # RQ forks a process per task: ~50 tasks/s here
        if peer.name == "rq" and job.startswith("drain") and sizes["n_drain"] > cap:
            sizes["n_drain"], note = cap, f"{cap:,} tasks (RQ forks a process per task)"
        spec = {
            "job": job,
            "workdir": str(workdir),
            "pg": None,
            "concurrency": run.concurrency,
            "redis": f"redis://127.0.0.1:{run.redis_port}/{REDIS_DB}" if run.redis_port else None,
            **sizes,
        }
        if peer.backend == "postgres":
            assert run.pg_admin is not None
            with fresh_database(run.pg_admin, f"{peer.name}_{job.replace(':', '_')}") as url:
                version, got = _driver(python, peer, {**spec, "pg": url}, log)
        else:
            if run.redis_port:
                _flush(run.redis_port)
            version, got = _driver(python, peer, spec, log)
        for row in got:
            row.note = "; ".join(filter(None, [row.note, note]))
        rows += got
    return version, rows


def _flush(port: int) -> None:
    """Empty database 13 only (a connection selects it, then flushes it)."""
    request = f"*2\r\n$6\r\nSELECT\r\n${len(str(REDIS_DB))}\r\n{REDIS_DB}\r\n*1\r\n$7\r\nFLUSHDB\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(request.encode())
        answer = b""
        while answer.count(b"\r\n") < 2:
            answer += sock.recv(1024)
    if answer != b"+OK\r\n+OK\r\n":
        raise RuntimeError(f"Redis FLUSHDB of database {REDIS_DB} answered {answer!r}")
