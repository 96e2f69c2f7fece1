"""The chaos run's processes: a private PostgreSQL instance (or a SQLite file), one ``taskapi serve``
(API only, so a restart of it touches no run) and several ``taskapi worker`` processes, each of which
can be SIGKILLed and started again. Everything listens on loopback only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers.polling import poll
from tests.helpers.private_postgres import PostgresFailed, PrivatePostgres, give_to_postgres
from tests.helpers.server import free_port

REPO = Path(__file__).resolve().parents[2]


class ChaosSetupError(RuntimeError):
    """A process could not be started (or restarted) within its deadline."""


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Return once ``condition()`` holds; raise ``ChaosSetupError`` after ``timeout`` seconds."""
    if not poll(condition, timeout=timeout, interval=interval):
        raise ChaosSetupError(f"timed out after {timeout} s waiting for {what}")


class ChaosPostgres(PrivatePostgres):
    """The run's private instance (``tests.helpers.private_postgres``) with fsync off; a failure to
    start it, or to be rid of it after a kill, is a ``ChaosSetupError`` like any other process's."""

    @classmethod
    def under(cls, root: Path) -> ChaosPostgres:
        """An instance whose files are in ``root`` (made, and handed to the postgres user)."""
        root.mkdir(parents=True, exist_ok=True)
        give_to_postgres(root)
        return cls(root / "pgdata", root / "pg.log", settings={"fsync": "off"})

    def start(self) -> None:
        try:
            super().start()
        except PostgresFailed as exc:
            raise ChaosSetupError(str(exc)) from exc

    def kill(self, timeout: float = 30.0) -> None:
        try:
            super().kill(timeout)
        except PostgresFailed as exc:
            raise ChaosSetupError(str(exc)) from exc


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
