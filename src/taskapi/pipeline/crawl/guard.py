"""The address guard: crawl connects only to public addresses, checked at the moment of connecting.

The PDF URLs come from the sources' data, so any of them (or any redirect they answer) may point at
the cloud metadata service (169.254.169.254), a database on the private network or the worker itself.
``Guard`` resolves a host itself and refuses it when ANY address it resolves to is not public
(loopback, private, link-local, unspecified, multicast, reserved, shared, documentation, and the same
hidden inside IPv6: IPv4-mapped, 6to4, Teredo, NAT64).

The check sits in the network backend of httpx's own connection pool (``GuardedBackend``): each new
connection is opened to an address that was just checked, never to a name resolved again later, so
DNS rebinding (a public answer for the check, a private one for the connect) has no window. TLS still
verifies the certificate against the URL's host name (SNI and ``Host`` come from the URL, only the
socket's peer is the checked address). Every redirect hop opens its connection through the same
backend; a kept-alive connection is reused only for the host:port it was opened (and checked) for.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedAddress(Exception):
    """A URL crawl refuses to fetch: not http(s), or a host that resolves to a non-public address."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to reach (mapped, 6to4, Teredo client, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is a globally routable unicast address (``is_global`` alone lets multicast
    through, and misses private IPv4 hidden in IPv6 forms on Python 3.11)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            return is_public(inner)
    special = ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback or ip.is_unspecified
    return ip.is_global and not special and not ip.is_private


@dataclass(frozen=True, slots=True)
class Guard:
    """Which addresses crawl may connect to: public ones, those in ``allow_networks``, or all with
    ``allow_private``."""

    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(cls, allow_private: bool, networks: Iterable[str] = ()) -> Guard:
        """A guard from settings' texts (``"10.20.0.0/16"``); a bad network is a ``ValueError``."""
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def allows(self, address: str) -> bool:
        if self.allow_private:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:  # not an address at all (a scoped or odd form): refuse
            return False
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return True
        return is_public(ip)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, all checked; ``BlockedAddress`` if any is refused, httpcore's
        ``ConnectError`` if the name does not resolve."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [address for address in addresses if not self.allows(address)]
        if refused or not addresses:
            raise BlockedAddress(f"{host} resolves to {refused or 'nothing'}, not a public address")
        return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard has just checked."""

    def __init__(self, guard: Guard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        error: httpcore.ConnectError | None = None
        for address in await self._guard.resolve(host, port):
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the host's next address
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host!r}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("crawl never connects to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (its request, response and error mapping) over a connection pool whose
    connections ``GuardedBackend`` opens. No proxy and no environment: a proxy would be the peer
    the guard checks, and ``.netrc`` credentials must not go to the sources' URLs."""

    def __init__(self, guard: Guard, limits: httpx.Limits) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        # httpx takes no network backend, so the pool it built is replaced by the same pool with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )
