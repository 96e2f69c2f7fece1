"""Fixtures of the CLI-against-a-server tests: a real ``taskapi serve`` process (uvicorn, no embedded
worker, so tasks stay where the test puts them) on a database of each dialect, and the CLI run
in-process (Typer's runner) both ways: ``--db`` on a database, ``--server``/``--token`` on the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from taskapi.cli import app
from tests.conftest import wait_until
from tests.helpers.server import free_port

ROOT = Path(__file__).resolve().parents[2]
OPERATE, READ = "operate-token-for-tests", "read-token-for-tests"
TOKENS = f"operate:{OPERATE},read:{READ}"
RUNNER = CliRunner(env={"COLUMNS": "160"})  # wide enough that no table wraps


@dataclass(frozen=True)
class Served:
    """A server process on ``database_url``, answering at ``base_url``."""

    base_url: str
    database_url: str
    process: subprocess.Popen[bytes]
    log: Path


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without any TASKAPI_* variable, plus ``extra``; the tests' handlers importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


@contextmanager
def serving(
    database_url: str, log: Path, env: Mapping[str, str] | None = None, *, worker: bool = False
) -> Iterator[Served]:
    """``python -m taskapi serve`` (``--no-worker`` unless ``worker``) on ``database_url`` and a free
    port, once it answers (``/healthz`` needs no token); SIGTERM when the block ends (SIGKILL after
    10 s)."""
    port = free_port()
    command = [sys.executable, "-m", "taskapi", "serve", "--db", database_url, "--port", str(port)]
    command += [] if worker else ["--no-worker"]
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=clean_env(env))
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answering, timeout=30, interval=0.05, what="the server to answer")
        yield Served(base, database_url, process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def fresh_database(dialect: str, tmp_path: Path, name: str) -> Iterator[str]:
    """The URL of a new database of ``dialect`` (a SQLite file, or a cloned PostgreSQL database)."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    from tests.integration.pg import cloned_database

    with cloned_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def invoke(*args: str, env: Mapping[str, str | None] | None = None, answer: str | None = None) -> Result:
    """The CLI in-process with no TASKAPI_* variable but ``env``; a bug propagates as an exception."""
    unset: dict[str, str | None] = {key: None for key in os.environ if key.startswith("TASKAPI_")}
    return RUNNER.invoke(app, list(args), env={**unset, **(env or {})}, input=answer, catch_exceptions=False)


def one_line_failure(result: Result, code: int) -> str:
    """The single stderr line of a failure with exit ``code`` (nothing on stdout, no traceback)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip()
    assert line.startswith("error: ")
    return line
