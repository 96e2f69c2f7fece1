"""What the live stream costs the server: CPU of the ``serve`` process with N clients held, idle and
under a stream of changes, and how long a change takes to reach the clients. Prints its figures.

A benchmark (``-m bench``): it holds hundreds of connections and takes about a minute. Clients run on
one event loop in this process and only count messages, so that they take little of the machine.
``STREAM_COST_RATE`` sets the creates per second (20 by default).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from taskapi.service import TaskService
from tests.conftest import wait_until
from tests.e2e.test_events_stream_postgres import pg_server
from tests.helpers.server import ServerProcess, running_server
from tests.integration.pg import cloned_database

pytestmark = [pytest.mark.bench, pytest.mark.slow]

EVENTS = "/api/v1/tasks/events"
RATE = float(os.environ.get("STREAM_COST_RATE", "20"))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Clients:
    """N stream clients on one event loop in a thread; each counts the task messages it got."""

    url: str
    count: int
    received: list[int] = field(default_factory=list)
    connected: int = 0
    loop: asyncio.AbstractEventLoop | None = None
    stop: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        self.received = [0] * self.count
        limits = httpx.Limits(max_connections=self.count + 10)
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), limits=limits) as client:
            readers = [asyncio.create_task(self._read(client, i)) for i in range(self.count)]
            await self.stop.wait()
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, client: httpx.AsyncClient, index: int) -> None:
        async with client.stream("GET", self.url) as response:
            self.connected += 1
            async for chunk in response.aiter_text():
                self.received[index] += chunk.count("event: task")

    def close(self) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)


@contextmanager
def held_clients(server: ServerProcess, count: int) -> Iterator[Clients]:
    clients = Clients(f"{server.base_url}{EVENTS}", count)
    thread = threading.Thread(target=clients.run, daemon=True)
    thread.start()
    wait_until(
        lambda: clients.connected >= count, timeout=60, interval=0.05, what=f"{count} clients connected"
    )
    try:
        yield clients
    finally:
        clients.close()
        thread.join(30)


def idle_cpu(server: ServerProcess, seconds: float) -> float:
    """Share of one core the server used over ``seconds`` of wall time."""
    before, began = cpu_seconds(server.process.pid), time.monotonic()
    time.sleep(seconds)  # measuring over a wall-clock interval is the point here
    return (cpu_seconds(server.process.pid) - before) / (time.monotonic() - began)


def changes_cpu(
    server: ServerProcess, url: str, clients: Clients, rate: float, seconds: float
) -> tuple[float, float, int]:
    """Create ``rate`` tasks a second for ``seconds`` from another connection to ``url``; answer the
    server's CPU share, the time until every client had every created message, and how many."""
    with TaskService.open(url, migrate=False) as other:
        before, began = cpu_seconds(server.process.pid), time.monotonic()
        start_counts = sum(clients.received)
        created = 0
        while time.monotonic() - began < seconds:
            other.create(1, "search", {"n": created})
            created += 1
            time.sleep(max(0.0, began + created / rate - time.monotonic()))  # pacing the load
        sent = time.monotonic()
        want = start_counts + created * clients.count
        wait_until(lambda: sum(clients.received) >= want, timeout=30, interval=0.01, what=f"{want} messages")
        caught_up = time.monotonic() - sent
        share = (cpu_seconds(server.process.pid) - before) / (time.monotonic() - began)
        assert sum(clients.received) >= want, f"{sum(clients.received)} of {want} messages arrived"
        return share, caught_up, created


def measure(server: ServerProcess, url: str, count: int) -> str:
    baseline = idle_cpu(server, 5)
    with held_clients(server, count) as clients:
        idle = idle_cpu(server, 10)
        share, caught_up, created = changes_cpu(server, url, clients, rate=RATE, seconds=10)
    return (
        f"{count} clients: no clients {baseline:.1%} of a core; held idle {idle:.1%};"
        f" under {created / 10:.0f} creates/s ({created * count / 10:,.0f} messages/s):"
        f" CPU {share:.1%}, all delivered {caught_up * 1000:.0f} ms after the last create"
    )


@pytest.mark.parametrize("count", [100, 500])
def test_cost_of_held_streams_on_sqlite(tmp_path: Path, count: int) -> None:
    env = {"TASKAPI_RUN_WORKER": "false", "TASKAPI_LOG_LEVEL": "warning"}
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env) as server:
        print(f"\nSQLite, {measure(server, f'sqlite:///{server.db_path}', count)}")


@pytest.mark.postgres
@pytest.mark.parametrize("count", [100, 500])
def test_cost_of_held_streams_on_postgres(tmp_path: Path, count: int) -> None:
    with cloned_database() as url, pg_server(tmp_path, url, TASKAPI_LOG_LEVEL="warning") as server:
        print(f"\nPostgreSQL, {measure(server, url, count)}")
