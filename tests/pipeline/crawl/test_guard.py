"""Server-side request forgery: crawl never connects to a non-public address, at any redirect hop.

The servers that must NOT be reached listen on 127.0.0.1 and count every connection they accept;
the server a test may reach listens on 127.0.0.2, the one address ``allow_networks`` exempts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import httpcore
import pytest

from taskapi.papers.files import LocalFileStore
from taskapi.pipeline.crawl.guard import BlockedAddress, Guard, GuardedBackend, is_public
from tests.pipeline.crawl.conftest import one
from tests.pipeline.crawl.pdf_server import PdfServer

GUARDED: dict[str, Any] = {"allow_private": False, "allow_networks": ("127.0.0.2/32",)}


@pytest.fixture
def allowed() -> Iterator[PdfServer]:
    """A server the guard lets through (on 127.0.0.2), redirecting wherever a test asks."""
    with PdfServer("127.0.0.2") as started:
        yield started


@pytest.fixture
def forbidden() -> Iterator[PdfServer]:
    """A server on 127.0.0.1 with a PDF, that must never see a connection."""
    with PdfServer("127.0.0.1") as started:
        started.add_pdf("secret")
        yield started


def test_the_allowed_server_is_reachable_with_the_guard_on(allowed: PdfServer, store: LocalFileStore) -> None:
    allowed.add_pdf("paper")
    assert one(allowed.url("/pdf/paper"), store, **GUARDED).stored is not None


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"])
def test_a_redirect_to_the_cloud_metadata_service_is_blocked(
    target: str, allowed: PdfServer, store: LocalFileStore
) -> None:
    outcome = one(allowed.redirect_url(target), store, **GUARDED)
    assert (outcome.reason, outcome.url) == ("blocked_address", allowed.redirect_url(target))


def test_a_redirect_to_loopback_is_blocked_before_any_connection(
    allowed: PdfServer, forbidden: PdfServer, store: LocalFileStore
) -> None:
    for target in (forbidden.url("/pdf/secret"), f"http://localhost:{forbidden.port}/pdf/secret"):
        assert one(allowed.redirect_url(target), store, **GUARDED).reason == "blocked_address"
    assert forbidden.connections == 0 and forbidden.hits() == []
    assert len(allowed.hits("/redirect")) == 2


LOOPBACK_SPELLINGS = ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "2130706433", "0"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_a_candidate_on_a_loopback_spelling_is_blocked(
    host: str, forbidden: PdfServer, store: LocalFileStore
) -> None:
    assert one(f"http://{host}:{forbidden.port}/pdf/secret", store, **GUARDED).reason == "blocked_address"
    assert forbidden.connections == 0


@pytest.mark.parametrize(
    "target",
    ["file:///etc/passwd", "ftp://127.0.0.2/paper.pdf", "gopher://127.0.0.2:70/", "javascript:alert(1)"],
)
def test_a_redirect_or_candidate_to_another_scheme_is_blocked(
    target: str, allowed: PdfServer, store: LocalFileStore
) -> None:
    assert one(allowed.redirect_url(target), store, **GUARDED).reason == "blocked_address"
    assert one(target, store, **GUARDED).reason == "blocked_address"


def test_allow_private_lifts_the_check(forbidden: PdfServer, store: LocalFileStore) -> None:
    assert one(forbidden.url("/pdf/secret"), store, allow_private=True).stored is not None


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("0.0.0.0", False),  # noqa: S104 - an address checked, not bound
        ("224.0.0.1", False),  # multicast, which is_global alone lets through
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("::ffff:93.184.216.34", True),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_allowed_networks_exempt_only_themselves() -> None:
    guard = Guard.build(False, ["10.20.0.0/16", "fd00::/8"])
    assert guard.allows("10.20.3.4") and guard.allows("fd00::5") and guard.allows("93.184.216.34")
    assert not guard.allows("10.21.0.1") and not guard.allows("127.0.0.1")
    assert not guard.allows("not an address")
    assert Guard(allow_private=True).allows("127.0.0.1")


# -- the check is the connect: no second resolution to rebind -------------------------------------


class _FakeDns(asyncio.SelectorEventLoop):
    """A loop whose resolver answers from a table, one answer per call (the last one repeating):
    a rebinding DNS server answers a public address first and a private one afterwards."""

    answers: ClassVar[list[list[str]]] = []
    calls: ClassVar[int] = 0

    async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        answer = self.answers[min(type(self).calls, len(self.answers) - 1)]
        type(self).calls += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answer]


class _Recording(httpcore.AsyncNetworkBackend):
    """An inner backend that records where it is asked to connect, and connects nowhere."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        raise httpcore.ConnectError("recorded, not connected")


def _connect(answers: list[list[str]]) -> tuple[list[str], BaseException]:
    _FakeDns.answers, _FakeDns.calls = answers, 0
    inner = _Recording()

    async def attempt() -> BaseException:
        with pytest.raises((BlockedAddress, httpcore.ConnectError)) as caught:
            await GuardedBackend(Guard(), inner).connect_tcp("papers.example", 80)
        return caught.value

    with asyncio.Runner(loop_factory=_FakeDns) as runner:
        error = runner.run(attempt())
    return inner.hosts, error


def test_the_connection_goes_to_the_checked_address_never_to_the_name() -> None:
    hosts, error = _connect([["93.184.216.34"], ["127.0.0.1"]])
    assert hosts == ["93.184.216.34"] and _FakeDns.calls == 1
    assert isinstance(error, httpcore.ConnectError)


def test_a_name_with_any_private_address_is_refused() -> None:
    hosts, error = _connect([["93.184.216.34", "10.0.0.1"]])
    assert hosts == [] and isinstance(error, BlockedAddress)
