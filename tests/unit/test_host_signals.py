"""Host signals: SQLite's stand-in for NOTIFY reaches listeners in other processes on the same file only."""

from __future__ import annotations

import os
import queue
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskapi.signals import TaskSignal
from taskapi.store._host_signals import HostSignals, signal_directory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "tasks.db"
    yield path
    directory = signal_directory(path)
    if directory.exists():
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()


def publish(database: Path, signal: TaskSignal) -> None:
    """Publish as another process would: its own HostSignals, closed after."""
    host = HostSignals(database)
    try:
        host.publish(signal)
    finally:
        host.close()


def _collect(host: HostSignals) -> tuple[queue.Queue[TaskSignal], Callable[[], None]]:
    received: queue.Queue[TaskSignal] = queue.Queue()
    return received, host.listen(received.put)


def test_a_listener_in_another_process_hears_creates_and_cancels(database: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, threading
        from pathlib import Path
        from taskapi.store._host_signals import HostSignals
        heard = threading.Event()
        def on_signal(signal):
            print(signal.kind, signal.task_id, signal.task_type, flush=True)
            if signal.kind == "cancelled":
                heard.set()
        stop = HostSignals(Path({str(database)!r})).listen(on_signal)
        print("ready", flush=True)
        heard.wait(20)
        stop()
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    command = [sys.executable, "-c", script]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        try:
            assert child.stdout.readline().strip() == "ready"
            publish(database, TaskSignal("created", 7, task_type="ocr"))
            publish(database, TaskSignal("cancelled", 7))
            assert child.stdout.readline().split() == ["created", "7", "ocr"]
            assert child.stdout.readline().split() == ["cancelled", "7", "None"]
            assert child.wait(timeout=20) == 0
        finally:
            child.kill()


def test_only_listeners_of_the_same_database_hear_it(database: Path, tmp_path: Path) -> None:
    other_db = tmp_path / "other.db"
    mine, stop_mine = _collect(HostSignals(database))
    theirs, stop_theirs = _collect(HostSignals(other_db))
    try:
        publish(database, TaskSignal("created", 1, task_type="search"))
        assert mine.get(timeout=5).task_id == 1
        publish(other_db, TaskSignal("created", 2, task_type="search"))
        assert theirs.get(timeout=5).task_id == 2
        assert mine.empty()  # database's listener heard only its own file's signal
    finally:
        stop_mine()
        stop_theirs()
        for directory in (signal_directory(other_db),):
            for leftover in directory.iterdir():
                leftover.unlink()
            directory.rmdir()


def test_the_directory_is_private_and_a_stopped_listener_leaves_no_socket(database: Path) -> None:
    _, stop = _collect(HostSignals(database))
    directory = signal_directory(database)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert len(list(directory.glob("*.sock"))) == 1
    stop()
    assert list(directory.glob("*.sock")) == []


def test_a_dead_listeners_socket_is_removed_and_publishing_goes_on(database: Path) -> None:
    directory = signal_directory(database)
    directory.mkdir(mode=0o700)
    dead = directory / "1-dead.sock"
    orphan = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    orphan.bind(str(dead))
    orphan.close()  # the file stays, nobody receives: as after a kill -9
    received, stop = _collect(HostSignals(database))
    try:
        publish(database, TaskSignal("created", 3, task_type="index"))
        assert received.get(timeout=5).task_id == 3
        assert not dead.exists()
    finally:
        stop()


def test_publishing_with_nobody_listening_does_nothing(database: Path) -> None:
    publish(database, TaskSignal("created", 4, task_type="index"))
    assert not signal_directory(database).exists()


def test_a_malformed_datagram_is_ignored_and_the_listener_keeps_hearing(
    database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    received, stop = _collect(HostSignals(database))
    try:
        (path,) = signal_directory(database).glob("*.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"not json", str(path))
        publish(database, TaskSignal("created", 5, task_type="index"))
        assert received.get(timeout=5).task_id == 5
        assert "malformed announcement" in caplog.text
    finally:
        stop()
