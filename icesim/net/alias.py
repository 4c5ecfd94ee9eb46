"""A Net where public addresses are really loopback servers: reaches coturn or the embedded
server on 127.0.0.1 through an address a browser treats as remote (Firefox refuses loopback
servers; a redirect to a loopback ALTERNATE-SERVER is refused), without leaving the machine.
Used by the engine tests and by `icesim repro` for the browsers that refuse loopback."""

from __future__ import annotations

from .real import RealNet


class RewritingSocket:
    """Sends to a public alias on loopback and makes answers look like they came from it."""

    def __init__(self, inner, aliases: dict[tuple[str, int], tuple[str, int]]) -> None:
        self._inner, self._to_real = inner, aliases
        self._to_alias = {v: k for k, v in aliases.items()}

    @property
    def local_address(self):
        return self._inner.local_address

    def sendto(self, data, addr):
        self._inner.sendto(data, self._to_real.get(addr, addr))

    def set_receiver(self, handler):
        self._inner.set_receiver(lambda data, addr: handler(data, self._to_alias.get(addr, addr)))

    def close(self):
        self._inner.close()


class AliasNet(RealNet):
    """`aliases` maps (public ip, port) -> (127.0.0.1, port), for UDP and TCP."""

    def __init__(self, aliases: dict[tuple[str, int], tuple[str, int]]) -> None:
        self.aliases = aliases

    async def bind_udp(self, host, port=0):
        return RewritingSocket(await super().bind_udp(host, port), self.aliases)

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None):
        return await super().connect_tcp(self.aliases.get(tuple(remote), remote), ssl_context, server_hostname)
