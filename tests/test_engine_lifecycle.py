"""A gather owns its sockets and tasks: whenever the consumer stops (page timeout, aclose(),
break), nothing it started may keep running or keep a socket open."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

import icesim
from icesim.config import Faults
from icesim.net import RealNet

IFACES = [icesim.Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", True)]


class TrackingNet:
    """RealNet that remembers every socket it handed out and whether it was closed."""

    def __init__(self) -> None:
        self.inner = RealNet()
        self.sockets: list = []
        self.streams: list = []

    async def bind_udp(self, host, port=0):
        sock = await self.inner.bind_udp(host, port)
        self.sockets.append(sock)
        return sock

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None):
        stream = await self.inner.connect_tcp(remote, ssl_context, server_hostname)
        self.streams.append(stream)
        return stream

    async def resolve(self, host, family):
        return await self.inner.resolve(host, family)


def _open(net: TrackingNet) -> int:
    return sum(not s._transport.is_closing() for s in net.sockets) + sum(not s._transport.is_closing() for s in net.streams)


async def _settle() -> set[asyncio.Task]:
    await asyncio.sleep(0.2)  # past the relay phase: an orphaned step would have acted by now
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_aclose_mid_gather_stops_every_task_and_socket(coturn) -> None:
    config = icesim.GatherConfig(
        servers=[icesim.parse_ice_url(f"stun:127.0.0.1:{coturn.port}"),
                 icesim.parse_ice_url(coturn.turn_tcp_url, username=coturn.username, credential=coturn.password)],
        interfaces=IFACES, faults=Faults(block_udp_all=True),  # STUN keeps retransmitting
    )
    net = TrackingNet()
    agen = icesim.gather(config, net=net)
    async for event in agen:
        if event.type == "icecandidate":  # the first host: before the relay phase (+50 ms)
            break
    await agen.aclose()
    assert not await _settle()
    assert net.sockets and _open(net) == 0


async def test_page_timeout_stops_every_task_and_socket() -> None:
    config = icesim.GatherConfig(servers=[icesim.parse_ice_url("stun:127.0.0.1:9")], interfaces=IFACES,
                                 faults=Faults(block_udp_all=True), timeout_ms=300)
    net = TrackingNet()
    events = [e async for e in icesim.gather(config, net=net)]
    assert events[-1].t <= 300 and not any(getattr(e, "state", "") == "complete" for e in events)
    assert not await _settle()
    assert net.sockets and _open(net) == 0


async def test_completed_gather_leaves_nothing_running(coturn) -> None:
    config = icesim.GatherConfig(
        servers=[icesim.parse_ice_url(coturn.turn_udp_url, username=coturn.username, credential=coturn.password)],
        interfaces=IFACES,
    )
    net = TrackingNet()
    events = [e async for e in icesim.gather(config, net=net)]
    assert events[-1].type == "icecandidate" and events[-1].candidate is None
    assert not await _settle()
    assert _open(net) == 0


class NoDescriptorsNet(TrackingNet):
    """Every bind fails like a process out of file descriptors."""

    async def bind_udp(self, host, port=0):
        raise OSError(24, "Too many open files")


async def test_socket_failure_is_raised_not_swallowed() -> None:
    config = icesim.GatherConfig(servers=[], interfaces=IFACES)
    with pytest.raises(OSError, match="Too many open files"):
        async with asyncio.timeout(5):
            [e async for e in icesim.gather(config, net=NoDescriptorsNet())]
    assert not await _settle()
