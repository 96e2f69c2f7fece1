"""The chaos run's processes: a private PostgreSQL instance (or a SQLite file), one ``taskapi serve``
(API only, so a restart of it touches no run) and several ``taskapi worker`` processes, each of which
can be SIGKILLed and started again. Everything listens on loopback only."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
REPO = Path(__file__).resolve().parents[2]


class ChaosSetupError(RuntimeError):
    """A process could not be started (or restarted) within its deadline."""


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Return once ``condition()`` holds; raise ``ChaosSetupError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise ChaosSetupError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_missing() -> str | None:
    """Why a private PostgreSQL cannot run here, or None when it can."""
    if PG_BIN is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed under /usr/lib/postgresql"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser to start PostgreSQL as the postgres user"
    return None


def _as_postgres(*command: str) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


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


@dataclass
class PrivatePostgres:
    """An instance of our own (initdb in ``root``, a free port), so killing it touches nothing shared."""

    root: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        assert PG_BIN is not None
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N"]
        subprocess.run(_as_postgres(*initdb), check=True, capture_output=True, timeout=120)
        self.start()

    def start(self) -> None:
        """Start (after a SIGKILL this is crash recovery) and wait until it accepts connections."""
        assert PG_BIN is not None
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "pg.log")]
        command += ["-o", options, "-w", "-t", "60", "start"]
        done = subprocess.run(_as_postgres(*command), capture_output=True, timeout=90, check=False)
        if done.returncode != 0:
            raise ChaosSetupError(f"pg_ctl start failed: {done.stdout!r} {done.stderr!r}")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once, as the OOM killer or a power cut would."""
        pid = self.postmaster_pid()
        if pid is None or not _alive(pid):
            return
        victims = [pid, *_children(pid)]
        for victim in victims:
            os.kill(victim, signal.SIGKILL)
        # Gone, not only dead: until init reaps the zombie, a new postmaster sees the pid in
        # postmaster.pid still in use and refuses to start.
        wait_for(lambda: not any(Path(f"/proc/{v}").exists() for v in victims), 30, "PostgreSQL to be reaped")

    def stop(self) -> None:
        if PG_BIN is None or self.postmaster_pid() is None:
            return
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_postgres(*command), capture_output=True, timeout=60, check=False)


@dataclass
class Services:
    """``serve`` on a fixed port (clients reconnect to the same address) and ``workers`` workers."""

    db_url: str
    logs: Path
    workers: int
    concurrency: int
    lease_seconds: float
    port: int = field(default_factory=free_port)
    serve: subprocess.Popen[bytes] | None = None
    worker_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _started: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")}
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
                "TASKAPI_DATABASE_URL": self.db_url,
                "TASKAPI_HANDLERS": "tests.chaos.handlers",
                "TASKAPI_BUILTIN_HANDLERS": "false",
                "TASKAPI_LEASE_SECONDS": str(self.lease_seconds),
                "TASKAPI_RESCUE_INTERVAL": "0.5",
                "TASKAPI_RETENTION_DAYS": "0",
                "TASKAPI_CONCURRENCY": str(self.concurrency),
                "TASKAPI_CANCEL_GRACE": "1",
                "TASKAPI_SHUTDOWN_TIMEOUT": "2",
                "TASKAPI_LOG_LEVEL": "warning",
                "TASKAPI_EVENTS_KEEPALIVE": "1",
            }
        )
        return env

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self._started += 1
        name = f"{self._started:04d}-{args[0]}.log"
        with (self.logs / name).open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "taskapi", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.logs,
            )

    # -- serve ----------------------------------------------------------------------------------------

    def start_serve(self, timeout: float = 60.0) -> None:
        self.serve = self._spawn("serve", "--no-worker", "--port", str(self.port))
        process = self.serve

        def healthy() -> bool:
            if process.poll() is not None:
                raise ChaosSetupError(f"serve exited with {process.returncode} on start (see {self.logs})")
            try:
                return httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout, "serve to answer /readyz")

    def stop_serve(self, sig: signal.Signals) -> None:
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(sig)
            try:
                self.serve.wait(20)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()

    # -- workers --------------------------------------------------------------------------------------

    def start_workers(self) -> None:
        while len(self.worker_procs) < self.workers:
            self.worker_procs.append(self._spawn("worker"))

    def kill_worker(self, index: int) -> int:
        """SIGKILL one worker (its handler children die with it) and start another; answer its pid."""
        victim = self.worker_procs[index]
        victim.kill()
        victim.wait()
        self.worker_procs[index] = self._spawn("worker")
        return victim.pid

    def dead_workers(self) -> list[int]:
        """Workers that exited by themselves (none should)."""
        return [p.pid for p in self.worker_procs if p.poll() is not None]

    def stop_all(self) -> None:
        for process in self.worker_procs:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        self.stop_serve(signal.SIGTERM)
        for process in self.worker_procs:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
