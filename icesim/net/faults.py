"""In-process fault injection: a Net that wraps another Net (pion/transport vnet style).

Blocks UDP (all, or to HOST:PORT), drops datagrams with a probability, adds latency to every
outgoing datagram and TCP connect, and answers name lookups from rules first, like
Chromium's --host-resolver-rules (`MAP name addr`, `MAP name ~NOTFOUND`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import random

import structlog

from ..config import Faults
from .base import DatagramHandler, Net, ResolveError, TcpStream, UdpSocket

log = structlog.get_logger(__name__)


def _norm(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%")[0]))
    except ValueError:
        return host.lower().rstrip(".")


class FaultyUdpSocket:
    def __init__(self, inner: UdpSocket, net: "FaultyNet") -> None:
        self._inner = inner
        self._net = net
        self._loop = asyncio.get_running_loop()

    @property
    def local_address(self) -> tuple[str, int]:
        return self._inner.local_address

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._net.blocks(addr) or self._net.loses():
            return
        delay = self._net.faults.latency_ms
        if delay > 0:
            self._loop.call_later(delay / 1000.0, self._inner.sendto, data, addr)
        else:
            self._inner.sendto(data, addr)

    def set_receiver(self, handler: DatagramHandler) -> None:
        self._inner.set_receiver(handler)

    def close(self) -> None:
        self._inner.close()


class FaultyNet:
    """Net with faults. `rng` makes drops reproducible under --seed."""

    def __init__(self, inner: Net, faults: Faults, rng: random.Random | None = None) -> None:
        self.inner = inner
        self.faults = faults
        self.rng = rng or random.Random()
        self._blocked = {(_norm(h), p) for h, p in faults.block_udp}
        self._rules = [(r.name, r) for r in faults.resolve]

    def blocks(self, addr: tuple[str, int]) -> bool:
        return self.faults.block_udp_all or (_norm(addr[0]), addr[1]) in self._blocked

    def loses(self) -> bool:
        return self.faults.drop > 0 and self.rng.random() < self.faults.drop

    async def bind_udp(self, host: str, port: int = 0) -> FaultyUdpSocket:
        return FaultyUdpSocket(await self.inner.bind_udp(host, port), self)

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None) -> TcpStream:
        if self.faults.latency_ms > 0:
            await asyncio.sleep(self.faults.latency_ms / 1000.0)
        return await self.inner.connect_tcp(remote, ssl_context, server_hostname)

    async def resolve(self, host: str, family: int) -> list[str]:
        name = _norm(host)
        for pattern, rule in self._rules:
            if pattern == name or fnmatch.fnmatchcase(name, pattern):
                if rule.nxdomain:
                    raise ResolveError(f"{host}: NXDOMAIN (rule)")
                addrs = [str(a) for a in rule.addresses if a.version == family]
                if not addrs:
                    raise ResolveError(f"{host}: no IPv{family} address (rule)")
                self._learn_blocked_name(name, addrs)
                return addrs
        addrs = await self.inner.resolve(host, family)
        self._learn_blocked_name(name, addrs)
        return addrs

    def _learn_blocked_name(self, name: str, addrs: list[str]) -> None:
        """--block-udp NAME:PORT applies to whatever NAME resolved to."""
        for host, port in list(self._blocked):
            if host == name:
                self._blocked.update((_norm(a), port) for a in addrs)
