"""Shared helpers of the engine tests (test_engine_*.py): run one gather on real loopback
sockets and check the invariants of every stream (gather_lines), pick events out of it
(cands, errors, t_of, host_ports), build TURN server entries (turn), and a Net that records
every datagram the engine sends (RecordingNet).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re

import icesim
from icesim.config import IceServerUrl, Interface, parse_ice_url
from icesim.schema import validate_line

IFACES = [
    Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True),
    Interface("eth0", ipaddress.ip_address("fd00:5::2"), "ethernet", default=True),
]
ANY4, ANY6 = "0.0.0.x", "[0:0:0:x:x:x:x:x]"
STUN_TIMEOUT_TEXT = "STUN binding request timed out."
GIVE_UP_MS = 39880  # captures README: the 701 comes ~39.88 s after the first send
MDNS_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.local$")
GATHER_TIMEOUT_S = 20.0


async def gather_lines(servers: list[IceServerUrl], *, net=None, complete: bool = True, **options) -> list[dict]:
    """Run one gather; returns its lines after the meta line, each validated against the schema.
    Asserts the invariants of every stream: t never goes back; gathering first; and (unless the
    page gives up) complete then the null candidate at the end."""
    options.setdefault("seed", 1)
    options.setdefault("interfaces", IFACES)
    config = icesim.GatherConfig(servers=servers, **options)

    async def collect() -> list[dict]:
        return [validate_line(icesim.to_json_line(ev)) async for ev in icesim.gather(config, net)]

    lines = await asyncio.wait_for(collect(), GATHER_TIMEOUT_S)
    assert lines[0]["type"] == "meta" and lines[0]["seed"] == options["seed"]
    events = lines[1:]
    ts = [e["t"] for e in events]
    assert ts == sorted(ts), ts
    assert events[0] == {"type": "icegatheringstatechange", "t": events[0]["t"], "state": "gathering"}
    if complete:
        assert events[-2]["type"] == "icegatheringstatechange" and events[-2]["state"] == "complete"
        assert events[-1]["type"] == "icecandidate" and events[-1]["candidate"] is None
        assert sum(1 for e in events if e["type"] == "icecandidate" and e["candidate"] is None) == 1
    return events


def cands(events: list[dict], type_: str | None = None, protocol: str | None = None) -> list[dict]:
    out = [e["candidate"] for e in events if e["type"] == "icecandidate" and e["candidate"] is not None]
    return [c for c in out if (type_ is None or c["type"] == type_) and (protocol is None or c["protocol"] == protocol)]


def errors(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "icecandidateerror"]


def t_of(events: list[dict], state: str) -> float:
    return next(e["t"] for e in events if e["type"] == "icegatheringstatechange" and e["state"] == state)


def host_ports(events: list[dict]) -> dict[int, int]:
    """family -> UDP host port, from the any-address host priorities (IPv4: 2113937151)."""
    out = {}
    for c in cands(events, "host", "udp"):
        out[4 if c["priority"] == 2113937151 else 6] = c["port"]
    assert set(out) == {4, 6}, out
    return out


def turn(url: str, username: str | None = "test", credential: str | None = "secret") -> IceServerUrl:
    return parse_ice_url(url, username=username, credential=credential)


# ---------------------------------------------------------------------------------------------
# A Net that records every datagram the engine sends (before the faults drop it)
# ---------------------------------------------------------------------------------------------


class _RecordingSocket:
    def __init__(self, inner, log: list) -> None:
        self._inner = inner
        self._log = log

    @property
    def local_address(self):
        return self._inner.local_address

    def sendto(self, data: bytes, addr) -> None:
        self._log.append((asyncio.get_running_loop().time(), self._inner.local_address, addr))
        self._inner.sendto(data, addr)

    def set_receiver(self, handler) -> None:
        self._inner.set_receiver(handler)

    def close(self) -> None:
        self._inner.close()


class RecordingNet:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.sends: list[tuple[float, tuple, tuple]] = []

    async def bind_udp(self, host: str, port: int = 0):
        return _RecordingSocket(await self.inner.bind_udp(host, port), self.sends)

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None):
        return await self.inner.connect_tcp(remote, ssl_context, server_hostname)

    async def resolve(self, host: str, family: int):
        return await self.inner.resolve(host, family)
