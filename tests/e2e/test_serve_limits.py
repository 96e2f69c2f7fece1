"""uvicorn's protective limits in a real ``taskapi serve``, driven with raw sockets: a client that trickles
its headers (slow loris) or sends nothing is cut off after the header timeout, a head of extreme length
is refused with 431, a request beyond the concurrency limit gets 503, every one of them in the API's
envelope, and meanwhile the service keeps answering everyone else."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.helpers.server import ServerProcess, running_server

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 1.0
MAX_HEADER_BYTES = 8192
LIMITS = {
    "TASKAPI_RUN_WORKER": "false",
    "TASKAPI_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    "TASKAPI_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("limits")
    with running_server(root / "x.db", root / "server.log", env=LIMITS) as started:
        yield started


def connect(server: ServerProcess) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    chunks = []
    with suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One whole answer on a kept-alive connection (its head, then content-length bytes)."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def answer(raw: bytes) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of a raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def assert_envelope(body: Any, status: int) -> None:
    assert set(body) == {"code", "message", "data"} and body["code"] == status and body["message"], body


def healthy(server: ServerProcess) -> float:
    """Seconds ``/healthz`` took to answer 200 over a connection of its own."""
    started = time.monotonic()
    response = httpx.get(f"{server.base_url}/healthz", timeout=5)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_slow_loris_clients_are_cut_off_while_others_are_served(server: ServerProcess) -> None:
    lorises = [connect(server) for _ in range(20)]
    for sock in lorises[::2]:  # half of them trickle their second request, after a served first
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer(read_response(sock))[0] == 200
    for sock in lorises:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    open_, closed_after, answers, served = set(lorises), {}, {}, []
    try:
        # One byte per connection each tick, for ever: the trickling is the behaviour under test. The
        # tick waits on the sockets, so a connection's close is seen as it happens.
        while open_ and time.monotonic() - started < HEADER_TIMEOUT + 10:
            readable, _, _ = select.select(list(open_), [], [], 0.1)
            for sock in readable:
                answers[sock] = read_all(sock)
                closed_after[sock] = time.monotonic() - started
                open_.discard(sock)
            for sock in list(open_):
                try:
                    sock.sendall(b"a")
                except OSError:  # closed under us: the next select reads it
                    continue
            served.append(healthy(server))
    finally:
        for sock in lorises:
            sock.close()
    assert not open_, f"{len(open_)} of 20 slow clients still connected after {HEADER_TIMEOUT + 10} s"
    assert all(HEADER_TIMEOUT * 0.9 <= t <= HEADER_TIMEOUT + 5 for t in closed_after.values()), closed_after
    for raw in answers.values():
        if raw:  # answered before closing (a reset may have eaten it)
            status, headers, body = answer(raw)
            assert status == 408 and headers["connection"] == "close", raw
            assert_envelope(body, 408)
    assert served and max(served) < 2.0, served  # others answered all along, promptly


def test_a_connection_that_sends_nothing_is_closed(server: ServerProcess) -> None:
    with closing(connect(server)) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
        took = time.monotonic() - started
    assert HEADER_TIMEOUT * 0.9 <= took <= HEADER_TIMEOUT + 5, took


def request_with_header(server: ServerProcess, value_bytes: int) -> bytes:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
    with closing(connect(server)) as sock:
        with suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(head + b"b" * value_bytes + b"\r\n\r\n")
        return read_all(sock)


def test_headers_of_extreme_length_get_431_and_others_are_still_served(server: ServerProcess) -> None:
    normal = request_with_header(server, MAX_HEADER_BYTES // 2)
    assert answer(normal)[0] == 200, normal

    for size in (MAX_HEADER_BYTES * 2, 10 * 1024 * 1024):
        raw = request_with_header(server, size)
        if raw:  # a reset (the server closed while we still sent) is a refusal too
            status, headers, body = answer(raw)
            assert status == 431 and headers["connection"] == "close", raw[:300]
            assert_envelope(body, 431)
        assert healthy(server) < 2.0


def test_requests_beyond_the_concurrency_limit_get_503_in_the_envelope(tmp_path: Path) -> None:
    env = {**LIMITS, "TASKAPI_LIMIT_CONCURRENCY": "3", "TASKAPI_HEADER_TIMEOUT": "30"}
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env) as server:
        holders = [connect(server) for _ in range(3)]
        try:
            for sock in holders:  # a served request each, the connections kept alive
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert answer(read_response(sock))[0] == 200, "the holder was not served"
            refused = request_with_header(server, 10)
        finally:
            for sock in holders:
                sock.close()
        status, headers, body = answer(refused)
        assert status == 503 and headers["retry-after"] == "1", refused
        assert_envelope(body, 503)
        wait_until(
            lambda: answer(request_with_header(server, 10))[0] == 200,
            timeout=10,
            what="a request to be served once the holders are gone",
        )
