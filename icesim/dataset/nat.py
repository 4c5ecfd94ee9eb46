"""Per-session virtual NATs behind shared embedded STUN servers.

A worker runs thousands of gathers against a few embedded STUN servers on loopback; every
session needs its own public address and NAT behaviour. The session's Net registers each socket
it binds (by family and local port) with the session's NAT; the server looks the source port up
and answers the mapped address that NAT would show. Ports are unique per host at any moment, so
the key is unambiguous; a port reused later is re-registered by its new owner before it sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..net import Net, ResolveError
from ..stun_server import StunServer


@dataclass(frozen=True, slots=True)
class SessionNat:
    mode: str  # none | eim | symmetric | cgnat
    public_v4: str | None
    public_v6: str | None

    def public(self, family: int) -> str | None:
        return self.public_v6 if family == 6 else self.public_v4


class NatRegistry(dict):
    """(family, local port) -> SessionNat."""


class SessionNet:
    """The session's Net: real sockets registered with its NAT, and the page's STUN names."""

    __slots__ = ("inner", "registry", "nat", "names")

    def __init__(self, inner: Net, registry: NatRegistry, nat: SessionNat, names: dict[str, dict[int, list[str]]]) -> None:
        self.inner, self.registry, self.nat, self.names = inner, registry, nat, names

    async def bind_udp(self, host: str, port: int = 0):
        sock = await self.inner.bind_udp(host, port)
        self.registry[(6 if ":" in host else 4, sock.local_address[1])] = self.nat
        return sock

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None):
        return await self.inner.connect_tcp(remote, ssl_context, server_hostname)

    async def resolve(self, host: str, family: int) -> list[str]:
        """The dataset's STUN names answer from the table (no DNS traffic); others go to `inner`."""
        records = self.names.get(host.lower().rstrip("."))
        if records is None:
            return await self.inner.resolve(host, family)
        if not records.get(family):
            raise ResolveError(f"{host}: no IPv{family} address")
        return records[family]


class DatasetStunServer(StunServer):
    """The embedded server, mapping each source through its session's virtual NAT."""

    def __init__(self, registry: NatRegistry) -> None:
        super().__init__()
        self._registry = registry

    def _mapped_address(self, addr):  # type: ignore[override]
        ip = addr[0].split("%", 1)[0]
        family = 6 if ":" in ip else 4
        nat = self._registry.get((family, addr[1]))
        public = nat.public(family) if nat is not None else None
        if public is None:
            return super()._mapped_address(addr)
        if nat.mode in ("none", "eim"):  # endpoint-independent and port preserving
            return public, addr[1]
        if nat.mode == "cgnat":  # endpoint-independent (RFC 6888 REQ-1) but not port preserving
            return public, 1024 + (addr[1] * 2654435761) % 64512
        return public, self._symmetric_port(ip, addr[1])  # a fresh port per server
