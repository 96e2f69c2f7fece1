"""A full disk under a running ``taskapi serve``: creates answer 507 (or 503) in the envelope saying
the store is full, nothing half-written is left (SQLite's ``PRAGMA integrity_check`` is ok, no create
that was refused left a task), reads keep answering, and once space is freed creates work again
without a restart.

The store sits on a small tmpfs of its own (``mount -t tmpfs``: root, as here and in CI), filled up
by a ballast file that the test deletes to free the space. SQLite keeps its database file there;
PostgreSQL (a private instance, initdb'd for the test) keeps its data directory there, its WAL on
the ordinary disk: a full WAL is a PANIC and a crash-restart of the server, which is not what this
test is about. Where mounting is impossible the tests skip saying why, and fail under ``CI=true``.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import unavailable, wait_until
from tests.helpers.private_postgres import PrivatePostgres, give_to_postgres, postgres_missing
from tests.helpers.server import ServerProcess, envelope, free_port, running_server, stop_server

pytestmark = pytest.mark.slow

TASKS = "/api/v1/tasks"
FULL_STATUSES = (507, 503)
"""507 Insufficient Storage is what the store being full is; 503 (retry later) is accepted too."""
OTHER_WRITES = {
    "/api/v1/papers": {"project_id": 1, "papers": [{"title": f"Paper {n}"} for n in range(200)]},
    "/api/v1/pipelines": {"project_id": 1, "steps": ["dedup", "index"]},
}
"""The papers import and a pipeline run's start, each refused the same way on the full disk."""
MAX_TRIES = 500
"""Creates tried after the ballast: the store's files may still hold free pages for a few."""


@contextmanager
def small_tmpfs(size: str, mode: str = "0777") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a fresh directory, unmounted and removed afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        unavailable("mounting a tmpfs needs root and mount(8)")
    root = Path(tempfile.mkdtemp(prefix="taskapi-full-"))
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs", str(root)]
    mounted = subprocess.run(mount, capture_output=True, text=True, timeout=30, check=False)
    if mounted.returncode != 0:
        root.rmdir()
        unavailable(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=30, check=False)
        root.rmdir()


def fill(disk: Path) -> Path:
    """Write a ballast file on ``disk`` until the file system refuses (ENOSPC); answer its path."""
    ballast = disk / "ballast"
    chunk = b"\0" * 65536
    with ballast.open("wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    return ballast


def _create(base: str, n: int) -> httpx.Response:
    body = {"project_id": 1, "task_type": "keyword_expand", "params": {"keywords": [f"word {n}"], "n": n}}
    return httpx.post(f"{base}{TASKS}", json=body, timeout=30)


def _task_count(base: str) -> int:
    return len(envelope(httpx.get(f"{base}{TASKS}", params={"limit": 1000}, timeout=30), 200)["data"])


def fill_and_recover(server: ServerProcess, disk: Path) -> None:
    """The scenario on a served store whose files are on ``disk``: see the module's docstring."""
    base = server.base_url
    created = sum(envelope(_create(base, n), 201)["code"] == 201 for n in range(5))
    ballast = fill(disk)

    refused: httpx.Response | None = None
    for n in range(MAX_TRIES):
        response = _create(base, 100 + n)
        if response.status_code != 201:
            refused = response
            break
        created += 1
    assert refused is not None, f"{MAX_TRIES} creates succeeded on a full disk"
    assert refused.status_code in FULL_STATUSES, refused.text
    body = envelope(refused, refused.status_code)
    assert "full" in body["message"].lower(), body
    assert "Traceback" not in refused.text and "detail" not in body
    again = _create(base, 10_000)  # still full: the same answer, not a 500 the second time
    assert again.status_code == refused.status_code, again.text
    for path, write in OTHER_WRITES.items():  # every door that writes says the same
        other = httpx.post(f"{base}{path}", json=write, timeout=30)
        assert other.status_code == refused.status_code, (path, other.text)
        assert "full" in envelope(other, other.status_code)["message"].lower()
    assert _task_count(base) == created  # reads answer; no refused create left a task

    ballast.unlink()
    wait_until(
        lambda: _create(base, 20_000).status_code == 201,
        timeout=30,
        interval=0.1,
        what="a create to succeed once space is freed",
    )
    assert server.process.poll() is None, "the server restarted"
    assert _task_count(base) == created + 1


# -- SQLite --------------------------------------------------------------------------------------------


def test_sqlite_full_answers_in_the_envelope_stays_intact_and_recovers(tmp_path: Path) -> None:
    with small_tmpfs("4m") as disk:
        env = {"TASKAPI_RUN_WORKER": "false", "TASKAPI_DATA_DIR": str(tmp_path / "data")}
        db = disk / "x.db"
        with running_server(db, tmp_path / "server.log", env=env) as server:
            try:
                fill_and_recover(server, disk)
            except BaseException:
                print(server.log()[-4000:])
                raise
            with closing(sqlite3.connect(db)) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


# -- PostgreSQL ----------------------------------------------------------------------------------------


@pytest.fixture
def postgres_on_tmpfs() -> Iterator[tuple[PrivatePostgres, Path]]:
    """A private PostgreSQL whose data directory is a 64 MiB tmpfs (initdb's files take some 23),
    its WAL on the ordinary disk; answer the instance and the tmpfs."""
    if (missing := postgres_missing()) is not None:
        unavailable(missing)
    root = Path(tempfile.mkdtemp(prefix="taskapi-pg-full-"))
    try:
        with small_tmpfs("64m", mode="0700") as data:
            give_to_postgres(root, data)
            instance = PrivatePostgres(data, root / "server.log")
            try:
                instance.init("-X", str(root / "wal"))
                instance.start()
                yield instance, data
            finally:
                instance.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.postgres
def test_postgres_full_answers_in_the_envelope_and_recovers(
    postgres_on_tmpfs: tuple[PrivatePostgres, Path], tmp_path: Path
) -> None:
    instance, data = postgres_on_tmpfs
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")} | {
        "TASKAPI_RUN_WORKER": "false",
        "TASKAPI_DATA_DIR": str(tmp_path / "data"),
    }
    command = [sys.executable, "-m", "taskapi", "serve", "--db", instance.url, "--port", str(port)]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", tmp_path / "unused.db", log_path)
    try:
        wait_until(lambda: _answers(server), timeout=30, interval=0.05, what="the server to answer")
        fill_and_recover(server, data)
    except BaseException:
        print(server.log()[-4000:])
        raise
    finally:
        stop_server(server)


def _answers(server: ServerProcess) -> bool:
    if server.process.poll() is not None:
        pytest.fail(f"the server exited on start:\n{server.log()}")
    try:
        return httpx.get(f"{server.base_url}{TASKS}?limit=1", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
