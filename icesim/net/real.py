"""Real sockets on the machine's own network stack."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket

from .base import ClosedHandler, DatagramHandler, ResolveError, StreamHandler

# Name lookups run on a small pool of our own: aioice's use of the default executor starved
# under slow DNS (shared/reference/aioice.md). A lookup never blocks anything but this pool.
_DNS_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="icesim-dns")


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.handler: DatagramHandler | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if self.handler is not None:
            self.handler(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable etc. Chrome ignores it for STUN (captures README), so do we.
        pass


class RealUdpSocket:
    def __init__(self, transport: asyncio.DatagramTransport, protocol: _UdpProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        sockname = transport.get_extra_info("sockname")
        self._local = (sockname[0], sockname[1])

    @property
    def local_address(self) -> tuple[str, int]:
        return self._local

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self._transport.is_closing():
            self._transport.sendto(data, addr)

    def set_receiver(self, handler: DatagramHandler) -> None:
        self._protocol.handler = handler

    def close(self) -> None:
        self._protocol.handler = None
        self._transport.close()


class _StreamProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.handler: StreamHandler | None = None
        self.on_closed: ClosedHandler | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.handler is not None:
            self.handler(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.on_closed is not None:
            self.on_closed(exc)


class RealTcpStream:
    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        sockname = transport.get_extra_info("sockname")
        self._local = (sockname[0], sockname[1])

    @property
    def local_address(self) -> tuple[str, int]:
        return self._local

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def set_receiver(self, handler: StreamHandler, on_closed: ClosedHandler) -> None:
        self._protocol.handler = handler
        self._protocol.on_closed = on_closed

    def close(self) -> None:
        self._protocol.handler = None
        self._protocol.on_closed = None
        self._transport.close()


class RealNet:
    """The machine's network: asyncio sockets and getaddrinfo on a private pool."""

    async def bind_udp(self, host: str, port: int = 0) -> RealUdpSocket:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setblocking(False)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        transport, protocol = await loop.create_datagram_endpoint(_UdpProtocol, sock=sock)
        return RealUdpSocket(transport, protocol)  # type: ignore[arg-type]

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None) -> RealTcpStream:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(
            _StreamProtocol, remote[0], remote[1], ssl=ssl_context,
            server_hostname=server_hostname if ssl_context else None,
        )
        return RealTcpStream(transport, protocol)  # type: ignore[arg-type]

    async def resolve(self, host: str, family: int) -> list[str]:
        loop = asyncio.get_running_loop()
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        try:
            infos = await loop.run_in_executor(
                _DNS_POOL, socket.getaddrinfo, host, None, af, socket.SOCK_DGRAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolveError(f"{host}: {exc}") from None
        out: list[str] = []
        for info in infos:
            addr = str(info[4][0])
            if addr not in out:
                out.append(addr)
        if not out:
            raise ResolveError(f"{host}: no IPv{family} address")
        return out
