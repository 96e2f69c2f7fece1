"""A private PostgreSQL server for the tests that stop, kill or fill up their database: initdb into a
directory of its own and a free port on loopback, so whatever a test does to it touches nothing shared.

The e2e tests take one through the ``private_postgres`` fixture (registered by ``tests/e2e/conftest.py``);
the disk-full test and the chaos run build theirs from ``PrivatePostgres`` (WAL elsewhere, fsync off).
PostgreSQL refuses to run as root, so as root every server command runs as the postgres user.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.helpers.polling import poll
from tests.helpers.server import free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
"""Where the server binaries (initdb, pg_ctl) are, or None when no server is installed."""
START_WAIT = 60
"""Seconds pg_ctl waits for a started server to accept connections (its own default)."""


class PostgresFailed(RuntimeError):
    """initdb or pg_ctl failed, or a killed server was not gone in time."""


def postgres_missing() -> str | None:
    """Why a private PostgreSQL cannot run here, or None when it can."""
    if PG_BIN is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed under /usr/lib/postgresql"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser to start PostgreSQL as the postgres user"
    return None


def as_postgres(*command: str) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


def give_to_postgres(*paths: Path) -> None:
    """Let the server write in ``paths``: as root, hand them to the postgres user it runs as."""
    if os.geteuid() == 0:
        for path in paths:
            shutil.chown(path, "postgres", "postgres")


@dataclass
class PrivatePostgres:
    """One server: its data directory, its log file and its port; ``settings`` are given to the server
    as ``-c name=value`` on every start. ``init`` it once, then ``start``, ``stop`` and ``kill`` it."""

    data: Path
    log: Path
    port: int = field(default_factory=free_port)
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self, *options: str) -> None:
        """initdb (trust authentication, superuser postgres) with extra ``options`` (``-X waldir``,
        ``-N``); the parent of ``data`` must be the server's to write in (``give_to_postgres``)."""
        command = [_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", *options]
        _run("initdb", command, timeout=120)

    def ctl(self, *args: str, timeout: float = 60) -> None:
        """pg_ctl on this instance, waiting until the action is done: ``ctl("-m", "fast", "stop")``."""
        server = [f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"]
        server += [f"-c {name}={value}" for name, value in self.settings.items()]
        command = [_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", " ".join(server)]
        _run(" ".join(["pg_ctl", *args]), [*command, "-w", *args], timeout)

    def start(self) -> None:
        """Start (after a kill this is crash recovery) and return once it accepts connections."""
        self.ctl("-t", str(START_WAIT), "start", timeout=START_WAIT + 30)

    def stop(self) -> None:
        """Stop it now if it runs (immediate: the next start recovers as after a crash). Never raises
        on a failure, so that it can end a fixture."""
        if PG_BIN is None or self.postmaster_pid() is None:
            return
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        subprocess.run(as_postgres(*command), capture_output=True, timeout=60, check=False)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self, timeout: float = 30.0) -> None:
        """SIGKILL the postmaster and every backend at once, as the OOM killer or a power cut would."""
        pid = self.postmaster_pid()
        if pid is None or not _alive(pid):
            return
        victims = [pid, *_children(pid)]
        for victim in victims:
            with suppress(ProcessLookupError):  # a backend that ended meanwhile
                os.kill(victim, signal.SIGKILL)
        # Gone, not only dead: until init reaps the zombie, a new postmaster sees the pid in
        # postmaster.pid still in use and refuses to start.
        gone = poll(
            lambda: not any(Path(f"/proc/{v}").exists() for v in victims), timeout=timeout, interval=0.05
        )
        if not gone:
            raise PostgresFailed(f"PostgreSQL {victims} not reaped {timeout} s after SIGKILL")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private instance, stopped and deleted afterwards. Skips where it cannot run (no
    server binaries), but fails under ``CI=true``, where the tests that use it must run."""
    if (missing := postgres_missing()) is not None:
        unavailable(missing)
    # Outside pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="taskapi-pg-"))
    give_to_postgres(root)
    instance = PrivatePostgres(root / "data", root / "server.log")
    try:
        instance.init()
        instance.start()
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


def _binary(name: str) -> str:
    if PG_BIN is None:
        raise PostgresFailed(str(postgres_missing()))
    return str(PG_BIN / name)


def _run(what: str, command: list[str], timeout: float) -> None:
    """Run a server command as the postgres user; raise with its output when it fails."""
    done = subprocess.run(as_postgres(*command), capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise PostgresFailed(f"{what} failed (exit {done.returncode}): {output}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0): it is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
