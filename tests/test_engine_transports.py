"""The engine with several transports, IP handling policies, iceTransportPolicy relay and the
candidate pool, on real loopback sockets against the embedded STUN server and coturn.

Expected behaviour: the Chromium 156 captures of tests/data/chromium156 (M*, P*, R*, Q*; its
README). Every line is validated against the schema and every stream is in t order.
"""

from __future__ import annotations

import asyncio
import re

import pytest

import icesim
from engine_helpers import IFACES, MDNS_RE, cands, errors, t_of, turn
from icesim.config import ResolveRule, Faults, parse_ice_url
from icesim.schema import validate_line
from icesim.stun_server import StunServer

NX = parse_ice_url("stun:nx.test:3478")
NX_FAULT = Faults(resolve=(ResolveRule("nx.test", ()),))


async def run(servers, **options) -> list[dict]:
    """All lines after meta; checks what every stream must hold: t order, one "gathering" and
    one "complete", the null candidate last among the events (then the SDP line with --sdp)."""
    options.setdefault("seed", 3)
    options.setdefault("interfaces", IFACES)
    config = icesim.GatherConfig(servers=list(servers), **options)

    async def collect() -> list[dict]:
        return [validate_line(icesim.to_json_line(ev)) async for ev in icesim.gather(config)]

    lines = (await asyncio.wait_for(collect(), 30))[1:]
    ts = [e["t"] for e in lines]
    assert ts == sorted(ts), ts
    states = [e["state"] for e in lines if e["type"] == "icegatheringstatechange"]
    assert states == ["gathering", "complete"]
    events = lines[:-1] if options.get("sdp") else lines
    assert events[-1] == {"type": "icecandidate", "t": events[-1]["t"], "candidate": None}
    assert events[-2]["type"] == "icegatheringstatechange"
    if options.get("sdp"):
        assert lines[-1]["type"] == "localdescription" and lines[-1]["t"] == events[-1]["t"]
    return lines


def by_mid(events: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in cands(events):
        assert c["sdpMLineIndex"] == int(c["sdpMid"])
        out.setdefault(c["sdpMid"], []).append(c)
    return out


def sdp_sections(sdp: str) -> list[list[str]]:
    lines = sdp.split("\r\n")
    assert lines[-1] == ""
    sections, current = [], None
    for line in lines[:-1]:
        if line.startswith("m="):
            current = [line]
            sections.append(current)
        elif current is not None:
            current.append(line)
    return sections


# --- transports ----------------------------------------------------------------------------------

async def test_audio_video_data_balanced_one_candidate_set_per_transport():
    async with StunServer() as stun_server:
        stun = parse_ice_url(f"stun:127.0.0.1:{stun_server.address[1]}")
        lines = await run([stun], media=("audio", "video", "data"), sdp=True)
    events, sdp = lines[:-1], lines[-1]["sdp"]
    mids = by_mid(events)
    assert sorted(mids) == ["0", "1", "2"]
    ports = set()
    for mid, cs in mids.items():
        assert sorted(c["type"] for c in cs) == ["host", "host", "srflx"], mid
        (srflx,) = [c for c in cs if c["type"] == "srflx"]
        host4 = next(c for c in cs if c["priority"] == 2113937151)
        assert srflx["port"] == host4["port"]  # one socket per network per transport
        ports |= {c["port"] for c in cs if c["type"] == "host"}
    assert len(ports) == 6  # per-transport sockets: 3 transports x 2 families
    # Shared per connection (M1): ufrag, foundations, mDNS names.
    for kind in ("srflx",):
        assert len({c["foundation"] for c in cands(events, kind)}) == 1
    assert len({c["usernameFragment"] for c in cands(events)}) == 1
    names = {c["address"] for c in cands(events, "host")}
    assert len(names) == 2 and all(MDNS_RE.match(n) for n in names)
    # Transports start in m-line order: each one's first host after the previous one's (M1, M5).
    firsts = [next(e["t"] for e in events if e["type"] == "icecandidate" and e["candidate"]
                   and e["candidate"]["type"] == "host" and e["candidate"]["sdpMid"] == m) for m in "012"]
    assert firsts == sorted(firsts)
    # The SDP: three m-lines, each with its transport's candidates in arrival order, no ufrag.
    sections = sdp_sections(sdp)
    assert [s[0].split(" ")[0] for s in sections] == ["m=audio", "m=video", "m=application"]
    assert "a=group:BUNDLE 0 1 2\r\n" in sdp and "a=end-of-candidates" not in sdp
    ufrag = cands(events)[0]["usernameFragment"]
    for mid, section in zip("012", sections):
        want = [re.sub(r" ufrag \S+", "", c["candidate"]) for c in mids[mid]]
        assert [line[2:] for line in section if line.startswith("a=candidate:")] == want
        assert f"a=mid:{mid}" in section and f"a=ice-ufrag:{ufrag}" in section


async def test_max_bundle_gathers_for_the_first_m_line_only():
    async with StunServer() as stun_server:
        stun = parse_ice_url(f"stun:127.0.0.1:{stun_server.address[1]}")
        lines = await run([stun], media=("audio", "video", "data"), bundle_policy="max-bundle", sdp=True, mdns=False)
    events, sdp = lines[:-1], lines[-1]["sdp"]
    assert list(by_mid(events)) == ["0"]
    sections = sdp_sections(sdp)
    host4 = next(c for c in cands(events, "host") if c["priority"] == 2113937151)
    (srflx,) = cands(events, "srflx")
    # mDNS off: raw hosts; the srflx (after the IPv4 host) is the default destination.
    assert sections[0][:2] in (
        [f"m=audio {srflx['port']} UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "c=IN IP4 127.0.0.1"],
        [f"m=audio {host4['port']} UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "c=IN IP4 198.51.100.2"],
    )
    for section in sections[1:]:
        assert section[0].split(" ")[1] == "9" and section[1] == "c=IN IP4 0.0.0.0"
        assert not [line for line in section if line.startswith("a=candidate:")]


# --- IP handling policies x permission ----------------------------------------------------------

@pytest.mark.parametrize("permission", [False, True])
async def test_policy_public_and_private_interfaces(coturn, permission):
    """P1/P1g: any-address, raw default IPs, srflx raddr = host ip:port, whatever the permission."""
    events = await run([parse_ice_url(coturn.stun_url)], ip_policy="default_public_and_private_interfaces",
                       permission=permission)
    hosts = cands(events, "host")
    assert sorted(c["address"] for c in hosts) == ["198.51.100.2", "[fd00:5::2]"]
    assert {c["priority"] for c in hosts} == {2113937151, 2113942271} and not cands(events, protocol="tcp")
    assert all(" network-cost 999" in c["candidate"] and "network-id" not in c["candidate"] for c in hosts)
    (srflx,) = cands(events, "srflx")
    host4 = next(c for c in hosts if c["address"] == "198.51.100.2")
    assert (srflx["relatedAddress"], srflx["relatedPort"]) == ("198.51.100.2", host4["port"])


@pytest.mark.parametrize("permission", [False, True])
async def test_policy_public_interface_only(coturn, permission):
    """P2/P2g: no host candidate at all; srflx raddr masked; relays as usual."""
    servers = [parse_ice_url(coturn.stun_url), turn(coturn.turn_udp_url), turn(coturn.turn_tcp_url)]
    events = await run(servers, ip_policy="default_public_interface_only", permission=permission)
    assert not cands(events, "host") and not errors(events)
    (srflx,) = cands(events, "srflx")
    assert (srflx["relatedAddress"], srflx["relatedPort"]) == ("0.0.0.0", 0)
    relays = {c["relayProtocol"]: c for c in cands(events, "relay")}
    assert set(relays) == {None, "tcp"}
    assert (relays[None]["relatedAddress"], relays[None]["relatedPort"]) == ("127.0.0.1", srflx["port"])


@pytest.mark.parametrize("permission", [False, True])
async def test_policy_disable_non_proxied_udp(coturn, permission):
    """P3/P3g: only the TURN/TCP relay; no STUN, no TURN/UDP, no host."""
    servers = [parse_ice_url(coturn.stun_url), turn(coturn.turn_udp_url), turn(coturn.turn_tcp_url)]
    events = await run(servers, ip_policy="disable_non_proxied_udp", permission=permission)
    (relay,) = cands(events)
    assert (relay["type"], relay["relayProtocol"], relay["priority"]) == ("relay", "tcp", 16785407)
    assert not errors(events)


async def test_policy_disable_non_proxied_udp_stun_only_nothing(coturn):
    """P3s: STUN only: no candidate and no error, just gathering and complete."""
    events = await run([parse_ice_url(coturn.stun_url), NX], ip_policy="disable_non_proxied_udp", faults=NX_FAULT)
    assert [e["type"] for e in events] == ["icegatheringstatechange", "icegatheringstatechange", "icecandidate"]


# --- iceTransportPolicy relay -------------------------------------------------------------------

@pytest.mark.parametrize("permission", [False, True])
async def test_relay_only(coturn, permission):
    """R1/R1g: only relay candidates, raddr 0.0.0.0 rport 0; the STUN host-lookup 701s still fire."""
    servers = [parse_ice_url(coturn.stun_url), turn(coturn.turn_udp_url), turn(coturn.turn_tcp_url), NX]
    events = await run(servers, ice_transport_policy="relay", permission=permission, faults=NX_FAULT)
    relays = cands(events)
    assert sorted(c["relayProtocol"] or "udp" for c in relays) == ["tcp", "udp"]
    for c in relays:
        assert c["type"] == "relay" and (c["relatedAddress"], c["relatedPort"]) == ("0.0.0.0", 0)
        assert " raddr 0.0.0.0 rport 0 " in c["candidate"]
    assert {c["priority"] for c in relays} == ({58597631, 25042943} if permission else {50340095, 16785407})
    # One per network (v4 and v6 sockets, any-address or enumerated).
    assert [(e["url"], e["errorCode"]) for e in errors(events)] == [("stun:nx.test:3478", 701)] * 2


# --- candidate pool ------------------------------------------------------------------------------

async def test_pool_surfaces_early_candidates_before_gathering_and_loses_early_errors():
    """Q1: the pooled session's candidates reach the page at setLocalDescription, before
    "gathering", with component-0 priorities; its host-lookup 701s (before the page listened)
    are lost; a second transport gathers fresh after "gathering" (Q2)."""
    async with StunServer() as stun_server:
        stun = parse_ice_url(f"stun:127.0.0.1:{stun_server.address[1]}")
        lines = await run([stun, NX], pool_size=1, pool_lead_ms=300, faults=NX_FAULT,
                          media=("video", "data"), time_scale=3, sdp=True)
    events = lines[:-1]
    t_gathering = t_of(events, "gathering")
    pooled = [c for c in cands(events) if c["sdpMid"] == "0"]
    fresh = [c for c in cands(events) if c["sdpMid"] == "1"]
    # The pooled transport's 701s happened before setLocalDescription: only the fresh one's fire.
    assert sorted(e["port"] for e in errors(events)) == sorted(c["port"] for c in fresh if c["type"] == "host")
    assert all(e["t"] > t_gathering for e in errors(events))
    assert sorted(c["priority"] for c in pooled) == [1677729536, 2113937152, 2113942272]
    assert sorted(c["priority"] for c in fresh) == [1677729535, 2113937151, 2113942271]
    head = [e for e in events if e["t"] <= t_gathering][:4]
    assert [e["type"] for e in head] == ["icecandidate"] * 3 + ["icegatheringstatechange"]
    assert all(e["candidate"]["sdpMid"] == "0" for e in head[:3])
    assert head[2]["t"] - head[0]["t"] <= 1.0  # at once
    assert all(e["t"] > t_gathering for e in events if e["type"] == "icecandidate" and e["candidate"]
               and e["candidate"]["sdpMid"] == "1")
    assert "a=candidate:" in lines[-1]["sdp"] and " 2113937152 " in lines[-1]["sdp"]


async def test_pool_single_transport_hears_no_early_error():
    """Q1: one transport, pooled: everything before "gathering", no 701 at all, complete at once."""
    async with StunServer() as stun_server:
        stun = parse_ice_url(f"stun:127.0.0.1:{stun_server.address[1]}")
        events = await run([stun, NX], pool_size=1, pool_lead_ms=400, faults=NX_FAULT, time_scale=4)
    assert not errors(events)
    types = [e["type"] if e["type"] != "icegatheringstatechange" else e["state"] for e in events]
    assert types == ["icecandidate"] * 3 + ["gathering", "complete", "icecandidate"]
    assert t_of(events, "complete") - events[0]["t"] < 3.0
    assert sorted(c["priority"] for c in cands(events)) == [1677729536, 2113937152, 2113942272]


async def test_pool_still_gathering_at_set_local_description(coturn):
    """A page that builds the connection right before createOffer (lead 0): what the pooled
    session finds later (the relay, ~50 ms in) comes after "gathering", still with the
    pooled session's component-0 priority (Q2's pooled relay: 50339584)."""
    servers = [turn(coturn.turn_udp_url, coturn.username, coturn.password)]
    events = await run(servers, pool_size=1, pool_lead_ms=0)
    t_gathering = t_of(events, "gathering")
    (relay,) = cands(events, "relay")
    t_relay = next(e["t"] for e in events if e["type"] == "icecandidate" and e["candidate"] == relay)
    assert relay["priority"] == 50339584 and t_relay > t_gathering
    assert all(c["priority"] & 0xFF == 0 for c in cands(events))  # every candidate of the pooled session


@pytest.mark.parametrize("pool_size", [0, 1])
async def test_page_timeout_after_complete_keeps_the_end_of_gathering(pool_size):
    """A page that listens for 3 s (CreepJS-like) hears "complete" and the null candidate of a
    gather that ends well before its timeout, whether or not a pooled transport is in it.
    (Once every timeline was parked, the page's deadline used to end the stream before the
    engine had computed "complete".)"""
    async with StunServer() as stun_server:
        stun = parse_ice_url(f"stun:127.0.0.1:{stun_server.address[1]}")
        for seed in range(5):
            events = await run([stun], pool_size=pool_size, media=("audio", "video", "data"),
                               timeout_ms=3000, time_scale=1000, seed=seed)
            assert t_of(events, "complete") < 3000
