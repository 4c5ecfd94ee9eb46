"""The gathering engine against STUN servers on real loopback sockets (coturn and the embedded
STUN server) under in-process faults: blocked and dropped UDP (the 40 s timeout and its
retransmissions), resolver rules, two STUN servers behind the virtual NAT, the page timeout,
and seed reproducibility.

Expected behaviour: shared/reference/browser-ice.md (B5, B6) and the "Observed facts" of
shared/captures/README.md (Chromium 156). The 40 s timers run under --time-scale; `t` stays
browser time. Every line is validated against the schema and every stream must be in t order
(engine_helpers.gather_lines).
"""

from __future__ import annotations

import asyncio
import re

import pytest

from engine_helpers import (
    ANY4,
    ANY6,
    GIVE_UP_MS,
    MDNS_RE,
    STUN_TIMEOUT_TEXT,
    RecordingNet,
    cands,
    errors,
    gather_lines,
    host_ports,
    t_of,
)
from icesim.config import Faults, IceServerUrl, parse_ice_url, parse_resolve
from icesim.net import FaultyNet, RealNet
from icesim.stun_server import StunServer
from icesim.stun_transaction import MIN_REAL_RTO_S


# ---------------------------------------------------------------------------------------------
# Dropped UDP: the 40 s STUN timeout
# ---------------------------------------------------------------------------------------------


def _assert_stun_timeout(events: list[dict], server: IceServerUrl) -> None:
    (err,) = errors(events)
    p = host_ports(events)
    assert err == {
        "type": "icecandidateerror", "t": err["t"], "address": ANY4, "port": p[4],
        "url": f"stun:127.0.0.1:{server.port}", "errorCode": 701, "errorText": STUN_TIMEOUT_TEXT,
        "hostCandidate": f"{ANY4}:{p[4]}",
    }
    assert not cands(events, "srflx")
    # The first send goes out as the allocation sequence starts, at "gathering".
    elapsed = err["t"] - t_of(events, "gathering")
    assert abs(elapsed - GIVE_UP_MS) <= 0.02 * GIVE_UP_MS, elapsed
    assert 0 < t_of(events, "complete") - err["t"] <= 20  # README: complete within ~4 ms


async def test_block_udp_all_times_out(coturn):
    server = parse_ice_url(coturn.stun_url)
    events = await gather_lines([server], faults=Faults(block_udp_all=True), time_scale=200)
    _assert_stun_timeout(events, server)


async def test_block_udp_to_server_times_out(coturn):
    server = parse_ice_url(coturn.stun_url)
    faults = Faults(block_udp=frozenset({("127.0.0.1", coturn.port)}))
    events = await gather_lines([server], faults=faults, time_scale=200)
    _assert_stun_timeout(events, server)


async def test_block_udp_other_port_does_not_block(coturn):
    server = parse_ice_url(coturn.stun_url)
    faults = Faults(block_udp=frozenset({("127.0.0.1", coturn.port + 1)}))
    events = await gather_lines([server], faults=faults, time_scale=200)
    assert not errors(events)
    assert len(cands(events, "srflx")) == 1


async def test_retransmissions_nine_sends_doubling(closed_port):
    """B6 / capture S5: 9 sends, RTO 250 ms doubling, capped at 8 s; the IPv6 socket sends
    nothing to an IPv4 literal server."""
    server = parse_ice_url(f"stun:127.0.0.1:{closed_port}")
    scale = 25
    net = RecordingNet(FaultyNet(RealNet(), Faults(block_udp_all=True)))
    events = await gather_lines([server], net=net, time_scale=scale)
    assert [e["errorText"] for e in errors(events)] == [STUN_TIMEOUT_TEXT]
    assert {dest for _, _, dest in net.sends} == {("127.0.0.1", closed_port)}
    assert {local[0] for _, local, _ in net.sends} == {"0.0.0.0"}
    assert len(net.sends) == 9
    # Real gaps follow the browser schedule divided by the scale (nominal 250 500 1000 2000
    # 4000 8000 8000 8000 ms), floored at MIN_REAL_RTO_S so a scaled timer never fires
    # before a real round trip could answer.
    real_gaps = [(b[0] - a[0]) * 1000 for a, b in zip(net.sends, net.sends[1:])]
    nominal = [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]
    floor_ms = MIN_REAL_RTO_S * 1000
    for got, nom in zip(real_gaps, nominal):
        want = max((nom + 14) / scale, floor_ms)
        assert want * 0.97 <= got <= want * 1.15 + 15, (real_gaps, nominal)


async def test_drop_half_still_gets_srflx():
    """With half the datagrams lost, retransmissions still get the srflx (seeded drops)."""
    async with StunServer() as stun_server:
        server = parse_ice_url(f"stun:127.0.0.1:{stun_server.address[1]}")
        delays = []
        for seed in range(8):
            events = await gather_lines([server], seed=seed, faults=Faults(drop=0.5), time_scale=50)
            assert not errors(events), seed
            (srflx,) = cands(events, "srflx")
            assert srflx["port"] == host_ports(events)[4]
            delays.append(srflx_delay(events))
        # Some seeds lost the first request: their srflx came after a retransmission (>= 250 ms).
        assert any(d >= 250 for d in delays), delays
        assert any(d < 250 for d in delays), delays
        # Same seed, same losses.
        again = await gather_lines([server], seed=0, faults=Faults(drop=0.5), time_scale=50)
        assert (srflx_delay(again) >= 250) == (delays[0] >= 250)


def srflx_delay(events: list[dict]) -> float:
    t = next(e["t"] for e in events if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["type"] == "srflx")
    return t - t_of(events, "gathering")


# ---------------------------------------------------------------------------------------------
# Name resolution (captures README: one 701 per socket family)
# ---------------------------------------------------------------------------------------------


async def test_nxdomain_one_701_per_family():
    server = parse_ice_url("stun:nx.test:3478")
    events = await gather_lines([server], faults=Faults(resolve=(parse_resolve("nx.test=NXDOMAIN"),)))
    p = host_ports(events)
    errs = sorted(errors(events), key=lambda e: e["address"])
    text = "STUN host lookup received error."
    assert [(e["address"], e["port"], e["hostCandidate"], e["url"], e["errorCode"], e["errorText"]) for e in errs] == [
        (ANY4, p[4], f"{ANY4}:{p[4]}", "stun:nx.test:3478", 701, text),
        (ANY6, p[6], f"{ANY6}:{p[6]}", "stun:nx.test:3478", 701, text),
    ]
    assert not cands(events, "srflx")


async def test_a_record_only_701_on_ipv6_socket(coturn):
    server = parse_ice_url(f"stun:stun.test:{coturn.port}")
    rules = (parse_resolve("stun.test=127.0.0.1"),)
    events = await gather_lines([server], faults=Faults(resolve=rules))
    p = host_ports(events)
    (err,) = errors(events)
    assert (err["address"], err["port"], err["errorCode"], err["errorText"], err["url"]) == (
        ANY6, p[6], 701, "STUN host lookup received error.", f"stun:stun.test:{coturn.port}")
    (srflx,) = cands(events, "srflx")
    # The url keeps the configured name (B6); srflx = 127.0.0.1 with the IPv4 host port (S3a).
    assert (srflx["address"], srflx["port"], srflx["url"]) == ("127.0.0.1", p[4], f"stun:stun.test:{coturn.port}")
    assert (srflx["relatedAddress"], srflx["relatedPort"]) == ("0.0.0.0", 0)


# ---------------------------------------------------------------------------------------------
# Two STUN servers behind the virtual NAT
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("nat", "expected"), [("symmetric", 2), ("eim", 1)])
async def test_two_stun_servers_nat(nat, expected):
    """A symmetric NAT maps the socket to a new port per server: two srflx. An endpoint-
    independent one maps both to the same address: libwebrtc emits it once."""
    a, b = StunServer(map_address="203.0.113.1", nat=nat), StunServer(map_address="203.0.113.1", nat=nat)
    await a.start("127.0.0.1", 0)
    await b.start("127.0.0.1", 0)
    try:
        servers = [parse_ice_url(f"stun:127.0.0.1:{s.address[1]}") for s in (a, b)]
        events = await gather_lines(servers)
    finally:
        a.close()
        b.close()
    assert not errors(events)
    srflx = cands(events, "srflx")
    assert len(srflx) == expected
    assert {c["address"] for c in srflx} == {"203.0.113.1"}
    assert len({c["port"] for c in srflx}) == expected
    assert all(c["priority"] == 1677729535 and c["relatedAddress"] == "0.0.0.0" for c in srflx)
    assert {c["url"] for c in srflx} <= {f"stun:127.0.0.1:{s.address[1]}" for s in (a, b)}
    if nat == "symmetric":
        assert len({c["url"] for c in srflx}) == 2
    else:
        assert srflx[0]["port"] == host_ports(events)[4]  # port preserving


# ---------------------------------------------------------------------------------------------
# Page timeout and reproducibility
# ---------------------------------------------------------------------------------------------


async def test_page_timeout_ends_stream_without_complete(coturn):
    server = parse_ice_url(coturn.stun_url)
    loop = asyncio.get_running_loop()
    start = loop.time()
    events = await gather_lines([server], complete=False, timeout_ms=100, faults=Faults(block_udp_all=True))
    assert loop.time() - start < 5.0  # time_scale 1: the page gives up long before the 40 s 701
    assert all(e["t"] <= 100 for e in events)
    assert not any(e["type"] == "icegatheringstatechange" and e["state"] == "complete" for e in events)
    assert not any(e["type"] == "icecandidate" and e["candidate"] is None for e in events)
    assert not errors(events)
    assert len(cands(events, "host")) == 2  # the host candidates came before the deadline


async def test_seed_reproducible(coturn):
    server = parse_ice_url(coturn.stun_url)

    def identity(events):
        cs = cands(events)
        return (
            {c["usernameFragment"] for c in cs},
            sorted((c["type"], c["priority"], c["address"] if c["type"] == "host" else "", c["foundation"]) for c in cs),
        )

    a = await gather_lines([server], seed=42)
    b = await gather_lines([server], seed=42)
    c = await gather_lines([server], seed=43)
    assert identity(a) == identity(b)
    assert identity(a) != identity(c)
    (ufrag,) = identity(a)[0]
    assert re.fullmatch(r"[A-Za-z0-9+/]{4}", ufrag)
    names = [x["address"] for x in cands(a, "host")]
    assert len(names) == 2 and all(MDNS_RE.match(n) for n in names)
    # Foundations differ between connections (random tiebreaker, B3).
    assert {x["foundation"] for x in cands(a)}.isdisjoint({x["foundation"] for x in cands(c)})
    # The timing jitter is seeded too: same browser times for the timer-driven events.
    assert t_of(a, "gathering") == t_of(b, "gathering")
