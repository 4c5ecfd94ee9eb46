"""The one seam between the gatherer and the network (after pion/transport's `Net`).

The engine only talks to a `Net`: real sockets (RealNet), in-process faults wrapping another
Net (FaultyNet), and later the namespace lab, are interchangeable behind it.
"""

from __future__ import annotations

import ssl
from typing import Callable, Protocol

DatagramHandler = Callable[[bytes, tuple[str, int]], None]
StreamHandler = Callable[[bytes], None]
ClosedHandler = Callable[[Exception | None], None]


class ResolveError(Exception):
    """The name did not resolve (NXDOMAIN, no address of the family, resolver failure)."""


class UdpSocket(Protocol):
    """A bound UDP socket. Receivers are set once; datagrams after close() are ignored."""

    @property
    def local_address(self) -> tuple[str, int]: ...

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...

    def set_receiver(self, handler: DatagramHandler) -> None: ...

    def close(self) -> None: ...


class TcpStream(Protocol):
    """A connected TCP (or TLS) byte stream."""

    @property
    def local_address(self) -> tuple[str, int]: ...

    def write(self, data: bytes) -> None: ...

    def set_receiver(self, handler: StreamHandler, on_closed: ClosedHandler) -> None: ...

    def close(self) -> None: ...


class Net(Protocol):
    async def bind_udp(self, host: str, port: int = 0) -> UdpSocket:
        """Bind; raises OSError like the OS does (EADDRNOTAVAIL for a foreign address)."""

    async def connect_tcp(
        self, remote: tuple[str, int], ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> TcpStream:
        """Connect; raises OSError (refused, unreachable, timed out)."""

    async def resolve(self, host: str, family: int) -> list[str]:
        """Addresses of `family` (4 or 6) for a name; raises ResolveError."""
