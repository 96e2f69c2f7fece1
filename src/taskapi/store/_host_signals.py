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
import logging
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from taskapi.signals import TaskSignal
from taskapi.store import codec

log = logging.getLogger(__name__)

_RECEIVE_TIMEOUT = 0.25  # how often a listener thread checks whether it should stop
_MAX_DATAGRAM = 4096


def signal_directory(database: Path) -> Path:
    """Where the sockets of the processes using ``database`` live (``$XDG_RUNTIME_DIR`` or the temp dir)."""
    digest = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"taskapi-{os.getuid()}-{digest}"


class HostSignals:
    """Publish to, and listen for, the other store objects on this host that use one SQLite file.

    Every datagram carries ``origin``, this object's token: its own listeners drop what it published
    (its store delivers those to its subscribers directly)."""

    def __init__(self, database: Path) -> None:
        self.directory = signal_directory(database)
        self.origin = uuid.uuid4().hex
        self._own: set[str] = set()  # this object's listening sockets: never sent to
        self._sender: socket.socket | None = None
        self._lock = threading.Lock()

    def publish(self, signal: TaskSignal) -> None:
        """Send ``signal`` to every listener; never blocks and never fails the caller."""
        self.publish_all([signal])

    def publish_all(self, signals: Sequence[TaskSignal]) -> None:
        """Send each of ``signals`` to every listener but this object's own (one directory scan)."""
        if not signals:
            return
        try:
            entries = [e.path for e in os.scandir(self.directory) if e.name.endswith(".sock")]
        except FileNotFoundError:
            return  # nobody has ever listened
        targets = [path for path in entries if path not in self._own]
        if not targets:
            return
        payloads = [codec.encode(signal, self.origin) for signal in signals]
        with self._lock:
            sender = self._socket()
            for path in targets:
                for payload in payloads:
                    self._send(sender, payload, path)

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
        self._own.add(str(path))
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
                heard = codec.decode(payload)
                if heard is not None and heard.origin != self.origin:
                    on_signal(heard.signal)

        thread = threading.Thread(target=run, name="taskapi-host-signals", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join(timeout=5)
            receiver.close()
            self._own.discard(str(path))
            with contextlib.suppress(OSError):
                path.unlink()

        return stop

    def close(self) -> None:
        with self._lock:
            if self._sender is not None:
                self._sender.close()
                self._sender = None
