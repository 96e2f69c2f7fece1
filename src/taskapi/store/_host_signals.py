"""Announcements between processes on one host, for SQLite (which has no NOTIFY of its own).

Every process that listens binds a Unix datagram socket in a private directory named after the database
file; a process that creates or cancels a task sends one datagram to each socket there. A worker in
another process so hears of new work and cancels in microseconds instead of at its next poll. It is a
shortcut only: a lost datagram (a full buffer, a listener starting) is caught by the worker's poll.

The directory is created with mode 0700, so only the database's user can announce anything; its name
hashes the database's real path, so every process that opens the same file finds the same listeners,
and socket paths stay short (the kernel allows about 108 bytes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from taskapi.signals import TaskSignal

log = logging.getLogger(__name__)

_RECEIVE_TIMEOUT = 0.25  # how often a listener thread checks whether it should stop
_MAX_DATAGRAM = 4096


def signal_directory(database: Path) -> Path:
    """Where the sockets of the processes using ``database`` live (``$XDG_RUNTIME_DIR`` or the temp dir)."""
    digest = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"taskapi-{os.getuid()}-{digest}"


def encode(signal: TaskSignal) -> bytes:
    fields = {"kind": signal.kind, "task_id": signal.task_id, "task_type": signal.task_type}
    fields["worker_id"] = signal.worker_id
    return json.dumps(fields, separators=(",", ":")).encode()


def decode(payload: bytes) -> TaskSignal | None:
    """The signal in ``payload``, or None if it is not one of ours (logged, never raised)."""
    try:
        data = json.loads(payload)
        return TaskSignal(
            kind=data["kind"],
            task_id=int(data["task_id"]),
            task_type=data.get("task_type"),
            worker_id=data.get("worker_id"),
        )
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring a malformed host signal: %r", payload[:200])
        return None


class HostSignals:
    """Publish to, and listen for, the other processes on this host that use one SQLite file."""

    def __init__(self, database: Path) -> None:
        self.directory = signal_directory(database)
        self._sender: socket.socket | None = None
        self._lock = threading.Lock()

    def publish(self, signal: TaskSignal) -> None:
        """Send ``signal`` to every listener; never blocks and never fails the caller."""
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return  # nobody has ever listened
        payload = encode(signal)
        with self._lock:
            sender = self._socket()
            for entry in entries:
                if entry.name.endswith(".sock"):
                    self._send(sender, payload, entry.path)

    def _socket(self) -> socket.socket:
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        return self._sender

    @staticmethod
    def _send(sender: socket.socket, payload: bytes, path: str) -> None:
        try:
            sender.sendto(payload, path)
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(OSError):  # its process is gone: tidy up after it
                os.unlink(path)
        except OSError:
            pass  # a full buffer: that listener polls anyway

    def listen(self, on_signal: Callable[[TaskSignal], None]) -> Callable[[], None]:
        """Call ``on_signal`` (in a thread of ours) for every signal published; answer the stopper."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(str(path))
        receiver.settimeout(_RECEIVE_TIMEOUT)
        stopping = threading.Event()

        def run() -> None:
            while not stopping.is_set():
                try:
                    payload = receiver.recv(_MAX_DATAGRAM)
                except TimeoutError:
                    continue
                except OSError:
                    return
                signal = decode(payload)
                if signal is not None:
                    on_signal(signal)

        thread = threading.Thread(target=run, name="taskapi-host-signals", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join(timeout=5)
            receiver.close()
            with contextlib.suppress(OSError):
                path.unlink()

        return stop

    def close(self) -> None:
        with self._lock:
            if self._sender is not None:
                self._sender.close()
                self._sender = None
