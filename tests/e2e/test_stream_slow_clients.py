"""The live stream under clients that stop reading (issue 12), over real sockets and a real server.

The server is its own process (uvicorn over ``create_app`` wrapped in ``ConnectionCut``, which gives
the stream its way to cut a connection), with small bounds so that a test fills them in seconds: its
memory is then the server's alone, read from ``/proc``. Changes come from another connection to the
same SQLite file (the server's hub sees them at its next poll). Stalled clients are raw sockets with
a tiny receive buffer that read nothing after the stream's first comment (``sse.StalledClient``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from tests.conftest import wait_until
from tests.helpers.server import TASKS, ServerProcess, free_port, stop_server
from tests.helpers.sse import SseStream, StalledClient, metric, open_stream

pytestmark = pytest.mark.slow

SEND_TIMEOUT = 2.0
STALLED = 50
QUICK = {"send_timeout": SEND_TIMEOUT, "keepalive": 0.5, "max_replay": 200_000}
"""Small bounds, so that a test fills them in seconds; a cut client resumes from the flood's start."""
SERVER = """
import json, logging, sys
import uvicorn
from taskapi.api import create_app
from taskapi.api.hub import HubOptions
from taskapi.api.routes_stream import ConnectionCut
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
store = SQLiteStore(sys.argv[1])
store.migrate()
app = create_app(TaskService(store), hub_options=HubOptions(**json.loads(sys.argv[3])))
uvicorn.run(ConnectionCut(app), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


@contextmanager
def serving(tmp_path: Path, **bounds: float) -> Iterator[ServerProcess]:
    """The server process, with ``HubOptions(**QUICK, **bounds)``, until the block ends."""
    db_path, log_path = tmp_path / "x.db", tmp_path / "server.log"
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(db_path), str(port), json.dumps(QUICK | bounds)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = ServerProcess(process, f"http://127.0.0.1:{port}", db_path, log_path)

    def answering() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{running.log()}")
        try:
            return httpx.get(f"{running.base_url}{TASKS}?limit=1", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answering, timeout=30, interval=0.05, what="the server to answer")
        yield running
    finally:
        stop_server(running)


@contextmanager
def writing(server: ServerProcess) -> Iterator[TaskService]:
    """Changes made by another process's connection to the server's store."""
    store = SQLiteStore(server.db_path)
    try:
        yield TaskService(store)
    finally:
        store.close()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakMemory:
    """The most resident memory a process reaches while the block runs, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))

    @property
    def grown(self) -> int:
        return self.peak - self.baseline


def dropped(base_url: str) -> float:
    return sum(
        metric(base_url, "taskapi_stream_dropped_clients_total", {"reason": r}) for r in ("behind", "stalled")
    )


def flood_until(
    writer: TaskService, done: Callable[[], bool], *, rounds: int = 20, size: int = 4_000
) -> list[int]:
    """Create tasks ``size`` at a time until ``done()`` holds (at most ``rounds`` times); answer the
    new tasks' ids. Each round is one transaction: the hub reads it in pages."""
    created: list[int] = []
    for _ in range(rounds):
        created += [t.id for t in writer.create_many([(1, "search", None)] * size)]
        if done():
            return created
    pytest.fail(f"still not done after {len(created)} changes")


def test_stalled_clients_are_cut_off_memory_stays_bounded_and_they_resume_missing_nothing(
    tmp_path: Path,
) -> None:
    """Fifty clients stop reading while thousands of changes are made; one client reads them all
    meanwhile. Each stalled one is dropped as its queue passes the bound and its connection is cut
    (counted and logged once each); the server's memory grows by what the bounds allow, not by the
    flood times the clients; one of them resumes with Last-Event-ID and misses nothing."""
    with serving(tmp_path, client_buffer=256 << 10) as server, writing(server) as writer:
        base = server.base_url
        writer.create(1, "search")  # one change before the clients come: the server's paths warm up
        # Every client below comes after the hub has read it (a whole pass began after the create), so
        # none is sent it and all of them see the same log from the flood on.
        passes = metric(base, "taskapi_stream_passes_total")
        wait_until(lambda: metric(base, "taskapi_stream_passes_total") >= passes + 2, what="a pass")
        reader = open_stream(base)
        stalled = [StalledClient(base) for _ in range(STALLED)]
        try:
            reader.wait(lambda s: "connected" in s.comments, what="the reader to connect")
            wait_until(lambda: metric(base, "taskapi_stream_clients") == STALLED + 1, what="all held")
            with PeakMemory(server.process.pid) as memory:
                created = flood_until(writer, lambda: dropped(base) == STALLED)
                all_dropped = time.monotonic()
                wait_until(lambda: all(c.cut() for c in stalled), timeout=10, what="the connections cut")
                cut_after = time.monotonic() - all_dropped
                reader.wait(_saw(created[-1]), timeout=60, what="every change")
            assert metric(base, "taskapi_stream_clients") == 1  # the reader, still served
            assert dropped(base) == STALLED  # each counted once

            # what a stalled client got is a prefix of the log; with Last-Event-ID it gets the rest
            got = stalled[0].read_to_end()
            assert got.startswith(b"HTTP/1.1 200") and not got.endswith(b"\r\n0\r\n\r\n")  # cut, not ended
            before = stalled[0].event_ids()
            resumed = open_stream(base, headers={"Last-Event-ID": str(before[-1] if before else 0)})
            try:
                resumed.wait(_saw(created[-1]), timeout=60, what="the rest")
            finally:
                resumed.close()
        finally:
            reader.close()
            for client in stalled:
                client.close()
        log = server.log()
    event_ids = [int(e.id) for e in reader.events if e.id is not None]
    assert [e["id"] for e in reader.task_events()] == created
    assert before + [int(e.id) for e in resumed.events if e.id is not None] == event_ids
    assert cut_after < 1.0, cut_after  # cut as they were dropped
    # Pinning the flood, fifty clients would hold fifty times its bytes; bounded, each pins a write
    # or two, and they share the messages of one client_buffer.
    flood = sum(len(e.data) for e in reader.events)
    print(
        f"\n{len(created)} changes ({flood / 2**20:.1f} MiB of data) at {STALLED} stalled clients: cut "
        f"{cut_after:.2f} s after the last drop; server RSS {memory.baseline / 2**20:.0f} MiB, "
        f"+{memory.grown / 2**20:.1f} MiB at most"
    )
    assert STALLED * flood > 32 << 20  # what pinning it would take, at the least
    assert memory.grown < 32 << 20, f"the server grew {memory.grown / 2**20:.1f} MiB"
    assert log.count("live stream: 127.0.0.1:") == STALLED, log  # one line per dropped client
    assert "Exception in ASGI application" not in log and "without completing response" not in log


def test_a_client_that_stops_reading_is_cut_when_a_write_has_waited_the_send_timeout(
    tmp_path: Path,
) -> None:
    """Its queue may hold anything (the byte and batch bounds are out of reach). Reading nothing is
    no fault while its buffers have room; once a write has waited ``send_timeout`` for it, it is cut
    off: counted, logged once, and the kernel's buffers are dropped with the connection."""
    no_queue_bound = {"client_buffer": 1 << 40, "backlog": 1_000_000}
    with serving(tmp_path, **no_queue_bound) as server, writing(server) as writer:
        base = server.base_url
        stalled = StalledClient(base)
        probe = open_stream(base)
        try:
            probe.wait(_saw(writer.create(1, "search").id), what="a change")
            probe.wait(lambda s: s.comments.count("keep-alive") >= 6, what="three seconds of keep-alives")
            assert not stalled.cut()  # idle longer than send_timeout, its writes never waited

            # more than every buffer on the way holds (the kernel's take up to 4 MiB): its writes wait
            flood_start = time.monotonic()
            last = [writer.create_many([(1, "search", None)] * 10_000)[-1].id for _ in range(2)][-1]
            probe.wait(_saw(last), timeout=60, what="the flood")
            flood_end = time.monotonic()
            wait_until(stalled.cut, timeout=SEND_TIMEOUT + 10, interval=0.02, what="the connection cut")
            cut_at = time.monotonic()
            assert metric(base, "taskapi_stream_clients") == 1  # the probe
            assert metric(base, "taskapi_stream_dropped_clients_total", {"reason": "stalled"}) == 1
            assert metric(base, "taskapi_stream_dropped_clients_total", {"reason": "behind"}) == 0
            got = stalled.read_to_end(timeout=5)  # what reached it; the server's buffers were dropped
            assert len(got) < 64 << 10 and not got.endswith(b"\r\n0\r\n\r\n"), len(got)
        finally:
            probe.close()
            stalled.close()
        log = server.log()
    print(
        f"\nflood written in {flood_end - flood_start:.1f} s, cut {cut_at - flood_start:.1f} s after it began"
    )
    assert cut_at - flood_start >= SEND_TIMEOUT  # not before a write had waited that long
    assert cut_at - flood_end < SEND_TIMEOUT + 2  # the wait began before the flood's end
    assert log.count("read nothing for 2.0 s: dropped, its connection cut") == 1, log
    assert "Exception in ASGI application" not in log and "without completing response" not in log


def _saw(task_id: int) -> Callable[[SseStream], bool]:
    """Whether the stream's latest event is task ``task_id``'s (cheap: the test waits on thousands)."""
    return lambda stream: bool(stream.events) and stream.events[-1].json()["id"] == task_id
