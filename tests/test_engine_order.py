"""Event order rules the conformance suite (tests/conformance) found icesim breaking when the
machine is slow: a late socket must not let a TCP active candidate overtake another network's
host candidate, and Firefox's transactions start only after every host candidate, UDP then
TCP (captures F3d, F8c, tests/data/firefox: every one shows hosts, TCP hosts, then srflx)."""

from __future__ import annotations

import asyncio

import pytest

from alias_net import AliasNet
from test_engine_firefox import ff_lines
from icesim.config import parse_ice_url
from icesim.net import RealNet
from icesim.stun_server import StunServer

PUBLIC = "203.0.113.2"


class SlowSecondBind:
    """Binding the second socket takes `delay_s` of real time (a loaded machine)."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s, self.binds = inner, delay_s, 0

    async def bind_udp(self, host, port=0):
        self.binds += 1
        if self.binds == 2:
            await asyncio.sleep(self.delay_s)
        return await self.inner.bind_udp(host, port)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def kinds(events: list[dict]) -> list[str]:
    out = []
    for e in events:
        c = e.get("candidate") if e["type"] == "icecandidate" else None
        if c and c["candidate"]:
            out.append(f"{c['type']} {c['protocol']}")
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_firefox_tcp_hosts_wait_for_a_late_udp_host(seed):
    events = await ff_lines([], net=SlowSecondBind(RealNet(), 0.05), seed=seed)
    assert kinds(events) == ["host udp", "host udp", "host tcp", "host tcp"]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_firefox_srflx_comes_after_every_tcp_host(seed):
    server = StunServer()
    _, port = await server.start("127.0.0.1", 0)
    try:
        net = SlowSecondBind(AliasNet({(PUBLIC, port): ("127.0.0.1", port)}), 0.03)
        events = await ff_lines([parse_ice_url(f"stun:{PUBLIC}:{port}")], net=net, seed=seed)
    finally:
        server.close()
    assert kinds(events) == ["host udp", "host udp", "host tcp", "host tcp", "srflx udp"]
    tcp_t = max(e["t"] for e in events if (e.get("candidate") or {}).get("protocol") == "tcp")
    srflx_t = next(e["t"] for e in events if (e.get("candidate") or {}).get("type") == "srflx")
    assert srflx_t >= tcp_t
