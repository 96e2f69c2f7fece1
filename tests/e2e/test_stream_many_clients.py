"""The live stream opened a thousand times at once (issue 13), on a real ``taskapi serve``.

A process serves at most ``max_clients`` streams (1,000 by default): up to there every stream is
served, past it the answer is a 503 in the envelope saying so, and meanwhile the rest of the API
answers promptly. The clients are a thousand real TCP connections, driven by one asyncio loop.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from taskapi.api.hub import HubOptions
from tests.conftest import unavailable, wait_until
from tests.helpers.server import TASKS, ServerProcess, envelope, running_server
from tests.helpers.sse import metric, open_stream

pytestmark = pytest.mark.slow

CAP = HubOptions().max_clients
EXTRA = 50
"""Streams asked for past the cap: each must be refused, none may be served."""
TASK = {"project_id": 1, "task_type": "keyword_expand", "params": {"keywords": ["graphene"]}}


@pytest.fixture
def fds_for_a_thousand() -> Iterator[None]:
    """Room for a thousand connections on each side (the server inherits this process's limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * (CAP + EXTRA) + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        unavailable(f"the hard limit of open files ({hard}) is under the {need} this test needs (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def server(tmp_path: Path, fds_for_a_thousand: None) -> Iterator[ServerProcess]:
    env = {"TASKAPI_RUN_WORKER": "false"}
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env) as server:
        yield server


@dataclass
class Answer:
    """One stream request's answer: a held stream (200), or a refusal read to its end."""

    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    body: bytes = b""

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, content=self.body)


@dataclass
class Storm:
    """Streams opened all at once, while list requests go on; what each got, how long lists took."""

    host: str
    port: int
    answers: list[Answer] = field(default_factory=list)
    list_seconds: list[float] = field(default_factory=list)

    async def open(self, count: int) -> None:
        opening = asyncio.gather(*(self._one() for _ in range(count)))
        lister = asyncio.create_task(self._list_until(opening))
        self.answers = list(await opening)
        await lister

    async def _one(self) -> Answer:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(f"GET {TASKS}/events HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        status_line, *lines = head.strip().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        answer = Answer(int(status_line.split()[1]), headers, reader, writer)
        if answer.status == 200:
            await reader.readuntil(b": connected")
        else:
            answer.body = await reader.readexactly(int(headers["content-length"]))
        return answer

    async def _list_until(self, done: asyncio.Future[list[Answer]]) -> None:
        """Ask for the task list again and again while the streams open (and once after)."""
        async with httpx.AsyncClient(base_url=f"http://{self.host}:{self.port}", timeout=30) as client:
            while True:
                finished = done.done()
                start = time.monotonic()
                envelope(await client.get(f"{TASKS}?limit=20"), 200)
                self.list_seconds.append(time.monotonic() - start)
                if finished:
                    return

    async def all_see(self, task_id: int, timeout: float) -> None:
        """Every held stream receives the task's ``created`` event."""
        marker = f'"id":{task_id},'.encode()

        async def sees(answer: Answer) -> None:
            seen = b""
            while marker not in seen:
                seen = seen[-200:] + await answer.reader.read(65536)

        async with asyncio.timeout(timeout):
            await asyncio.gather(*(sees(a) for a in self.answers if a.status == 200))

    async def hang_up(self) -> None:
        for answer in self.answers:
            answer.writer.close()
        await asyncio.gather(*(a.writer.wait_closed() for a in self.answers), return_exceptions=True)


def test_a_thousand_streams_at_once_are_served_the_rest_refused_and_lists_still_answer(
    server: ServerProcess,
) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    storm = Storm(host, int(port))
    loop = asyncio.new_event_loop()
    try:
        started, cpu_before = time.monotonic(), cpu_seconds(server.process.pid)
        loop.run_until_complete(storm.open(CAP + EXTRA))
        opened_in, opening_cpu = time.monotonic() - started, cpu_seconds(server.process.pid) - cpu_before
        served = [a for a in storm.answers if a.status == 200]
        refused = [a for a in storm.answers if a.status != 200]
        assert (len(served), len(refused)) == (CAP, EXTRA)
        assert metric(server.base_url, "taskapi_stream_clients") == CAP
        assert metric(server.base_url, "taskapi_stream_refused_total") == EXTRA

        for answer in refused:
            body = envelope(answer.response(), 503)
            assert f"limit of {CAP} clients" in body["message"] and body["data"] is None
            assert int(answer.headers["retry-after"]) > 0

        # all held, the API answers as usual, and a change reaches every one of them
        started = time.monotonic()
        created = envelope(httpx.post(f"{server.base_url}{TASKS}", json=TASK, timeout=30), 201)
        loop.run_until_complete(storm.all_see(created["data"]["id"], timeout=30))
        delivered_in = time.monotonic() - started
        listed = time.monotonic()
        envelope(httpx.get(f"{server.base_url}{TASKS}?limit=20", timeout=30), 200)
        list_while_held = time.monotonic() - listed

        loop.run_until_complete(storm.hang_up())
        wait_until(
            lambda: metric(server.base_url, "taskapi_stream_clients") == 0, timeout=30, what="all gone"
        )
        again = open_stream(server.base_url)  # the places are free again
        try:
            assert again.status == 200
        finally:
            again.close()
    finally:
        loop.run_until_complete(storm.hang_up())
        loop.close()
    per_open = opening_cpu / (CAP + EXTRA)
    print(
        f"\n{CAP + EXTRA} streams opened in {opened_in:.1f} s ({per_open * 1000:.2f} ms of server CPU "
        f"each); list requests meanwhile: {len(storm.list_seconds)}, slowest "
        f"{max(storm.list_seconds):.2f} s; a change reached all {CAP} in {delivered_in:.2f} s; a list "
        f"with all held: {list_while_held:.3f} s"
    )
    # A burst holds others up by what it costs the server: how long depends on the machine's load,
    # the CPU it takes does not (a list meanwhile waits its turn behind at most the burst).
    assert len(storm.list_seconds) >= 2 and per_open < 0.003
    assert list_while_held < 1.0


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user and system), from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
