"""Per-session virtual NATs behind shared embedded STUN servers.

A worker runs thousands of gathers against a few embedded STUN servers on loopback; every
session needs its own public address and NAT behaviour. The session's Net registers each socket
it binds (by family and local port) with the session's NAT; the server looks the source port up
and answers the mapped address that NAT would show. Ports are unique per host at any moment, so
the key is unambiguous; a port reused later is re-registered by its new owner before it sends.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path

from ..net import Net, ResolveError
from ..stun_server import StunServer


@dataclass(frozen=True, slots=True)
class SessionNat:
    mode: str  # none | eim | symmetric | cgnat
    public_v4: str | None
    public_v6: str | None
    rtt_s: float = 0.0  # the path's round trip: the server answers this much later

    def public(self, family: int) -> str | None:
        return self.public_v6 if family == 6 else self.public_v4


class NatRegistry(dict):
    """(family, local port) -> SessionNat."""


class ServerAliases:
    """The page's STUN servers as it names them (public documentation addresses, port 3478) and
    where they really listen (loopback). A page on loopback servers would be unrealistic, and
    Firefox refuses loopback servers outright (701 before gathering)."""

    def __init__(self) -> None:
        self.to_real: dict[tuple[str, int], tuple[str, int]] = {}
        self.to_alias: dict[tuple[str, int], tuple[str, int]] = {}

    def add(self, alias: tuple[str, int], real: tuple[str, int]) -> None:
        self.to_real[alias] = real
        self.to_alias[real] = alias


class AliasUdpSocket:
    """A socket that sends to an alias at its real address and reports replies from the alias."""

    __slots__ = ("inner", "aliases")

    def __init__(self, inner, aliases: ServerAliases) -> None:
        self.inner, self.aliases = inner, aliases

    @property
    def local_address(self) -> tuple[str, int]:
        return self.inner.local_address

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inner.sendto(data, self.aliases.to_real.get(addr, addr))

    def set_receiver(self, handler) -> None:
        to_alias = self.aliases.to_alias
        self.inner.set_receiver(lambda data, addr: handler(data, to_alias.get(addr, addr)))

    def close(self) -> None:
        self.inner.close()


class SessionNet:
    """The session's Net: real sockets registered with its NAT, the page's STUN servers under
    their public aliases, and the page's STUN names."""

    __slots__ = ("inner", "registry", "nat", "names", "aliases", "aaaa")

    def __init__(self, inner: Net, registry: NatRegistry, nat: SessionNat, names: dict[str, dict[int, list[str]]],
                 aliases: ServerAliases, aaaa: bool = True) -> None:
        self.inner, self.registry, self.nat, self.names, self.aliases = inner, registry, nat, names, aliases
        self.aaaa = aaaa  # this session's resolver sees the names' IPv6 addresses

    async def bind_udp(self, host: str, port: int = 0):
        sock = await self.inner.bind_udp(host, port)
        self.registry[(6 if ":" in host else 4, sock.local_address[1])] = self.nat
        return AliasUdpSocket(sock, self.aliases)

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None):
        return await self.inner.connect_tcp(remote, ssl_context, server_hostname)

    async def resolve(self, host: str, family: int) -> list[str]:
        """The dataset's STUN names answer from the table (no DNS traffic); others go to `inner`."""
        records = self.names.get(host.lower().rstrip("."))
        if records is None:
            return await self.inner.resolve(host, family)
        if not records.get(family) or (family == 6 and not self.aaaa):
            raise ResolveError(f"{host}: no IPv{family} address")
        return records[family]


# Datagrams read per wake-up. asyncio's datagram transport reads one per loop iteration; with
# thousands of gathers in flight every iteration runs thousands of callbacks, the socket's queue
# overflows and requests vanish (measured: 60-95% of sessions turned into 701s at 1000 in flight).
DRAIN_BATCH = 512
# Receive buffer asked for (the kernel caps it at net.core.rmem_max).
RCVBUF_BYTES = 8 << 20


class _SocketTransport:
    """The two transport calls StunServer makes, on a plain non-blocking socket."""

    __slots__ = ("sock", "loop", "sent_dropped", "next_delay_s")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.sock, self.loop, self.sent_dropped, self.next_delay_s = sock, loop, 0, 0.0

    def sendto(self, data: bytes, addr) -> None:
        delay, self.next_delay_s = self.next_delay_s, 0.0
        if delay > 0:
            self.loop.call_later(delay, self._send, data, addr)
        else:
            self._send(data, addr)

    def _send(self, data: bytes, addr) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError:  # a full send buffer or a client gone: the client retransmits
            self.sent_dropped += 1

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class DatasetStunServer(StunServer):
    """The embedded server, mapping each source through its session's virtual NAT, reading its
    socket in batches from a large buffer so it keeps up with thousands of gathers."""

    def __init__(self, registry: NatRegistry) -> None:
        super().__init__()
        self._registry = registry

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RCVBUF_BYTES)
            sock.setblocking(False)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self._transport = _SocketTransport(sock, loop)  # type: ignore[assignment]
        self._address = sock.getsockname()[:2]
        loop.add_reader(sock.fileno(), self._drain, sock)
        return self._address

    def _drain(self, sock: socket.socket) -> None:
        for _ in range(DRAIN_BATCH):
            try:
                data, addr = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP errors from clients that went away
                continue
            self._datagram_received(data, addr)

    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped for this socket (/proc/net/udp 'drops'): must stay 0, or
        sessions got 701s the profile never asked for."""
        if self._address is None:
            return 0
        table = Path("/proc/net/udp6" if ":" in self._address[0] else "/proc/net/udp")
        suffix = f":{self._address[1]:04X}"
        try:
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].endswith(suffix):
                    return int(fields[-1])
        except OSError:
            pass
        return 0

    def _mapped_address(self, addr):  # type: ignore[override]
        ip = addr[0].split("%", 1)[0]
        family = 6 if ":" in ip else 4
        nat = self._registry.get((family, addr[1]))
        public = nat.public(family) if nat is not None else None
        if nat is not None:
            # The session's round trip, applied once per request on the answer (one timer, instead
            # of a FaultyNet delaying every datagram the session sends).
            self._transport.next_delay_s = nat.rtt_s  # type: ignore[union-attr]
        if public is None:
            return super()._mapped_address(addr)
        if nat.mode in ("none", "eim"):  # endpoint-independent and port preserving
            return public, addr[1]
        if nat.mode == "cgnat":  # endpoint-independent (RFC 6888 REQ-1) but not port preserving
            return public, 1024 + (addr[1] * 2654435761) % 64512
        return public, self._symmetric_port(ip, addr[1])  # a fresh port per server
