"""The engine speaking Firefox against real servers: coturn and the embedded STUN server on
127.0.0.1 reached through a public alias (Firefox refuses loopback servers, captures
stun_loopback / turn_loopback), timers under --time-scale. Expected strings, priorities,
foundations and order are the captures' (shared/captures F*, tests/data/firefox)."""

from __future__ import annotations

import json

from alias_net import AliasNet
from engine_helpers import MDNS_RE, RecordingNet, cands, errors, t_of, turn
import icesim
from icesim.config import Faults, parse_ice_url
from icesim.net import RealNet
from icesim.schema import validate_line
from icesim.stun_server import StunServer

PUBLIC = "203.0.113.2"


async def ff_lines(servers, *, net=None, **options) -> list[dict]:
    """One Firefox gather; checks the end every Firefox stream has: "" marker, complete, null."""
    options.setdefault("seed", 4)
    options.setdefault("interfaces", [
        icesim.Interface("eth0", __import__("ipaddress").ip_address("198.51.100.2"), "ethernet", True),
        icesim.Interface("eth0", __import__("ipaddress").ip_address("2001:db8:5::2"), "ethernet", True),
    ])
    config = icesim.GatherConfig(browser="firefox", servers=servers, **options)
    lines = [validate_line(icesim.to_json_line(e)) async for e in icesim.gather(config, net)]
    assert lines[0]["browser"] == "firefox@153"
    events = lines[1:]
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    marker, complete, null = events[-3:]
    assert marker["candidate"]["candidate"] == "" and marker["candidate"]["usernameFragment"]
    assert complete == {"type": "icegatheringstatechange", "t": complete["t"], "state": "complete"}
    assert null["candidate"] is None
    for e in events:
        if e["type"] == "icecandidate" and e["candidate"] is not None:
            assert "relayProtocol" not in e["candidate"] and "url" not in e["candidate"]
        if e["type"] == "icecandidateerror":
            assert "hostCandidate" not in e and e["errorText"] == "" and e["address"] is None and e["port"] is None
    return events


def position(events: list[dict], cand: dict) -> int:
    return [e.get("candidate") for e in events].index(cand)


def t_cand(events: list[dict], cand: dict) -> float:
    return events[position(events, cand)]["t"]


def strings(events: list[dict]) -> list[str]:
    out = []
    for c in cands(events):
        text = c["candidate"]
        if MDNS_RE.match(c["address"] or ""):
            text = text.replace(c["address"], "NAME4" if c["priority"] in (2122187007, 2105458943) else "NAME6")
        out.append(text.replace(f" {c['port']} typ", " PORT typ") if c["port"] != 9 else text)
    return out


async def test_stun_through_a_public_server_matches_F3d():
    server = StunServer()
    _, port = await server.start("127.0.0.1", 0)
    try:
        net = AliasNet({(PUBLIC, port): ("127.0.0.1", port)})
        events = await ff_lines([parse_ice_url(f"stun:{PUBLIC}:{port}")], net=net)
    finally:
        server.close()
    got = strings(events)
    # Hosts first, "" last; the srflx lands among the TCP candidates by its RTT (F3d: with them).
    assert got[:2] == ["candidate:0 1 UDP 2122187007 NAME4 PORT typ host", "candidate:2 1 UDP 2122252543 NAME6 PORT typ host"]
    assert got[-1] == "" and sorted(got[2:-1]) == [
        "candidate:1 1 UDP 1685987327 127.0.0.1 PORT typ srflx raddr 0.0.0.0 rport 0",
        "candidate:3 1 TCP 2105458943 NAME4 9 typ host tcptype active",
        "candidate:4 1 TCP 2105524479 NAME6 9 typ host tcptype active",
    ]
    host4, srflx = cands(events)[0], cands(events, "srflx")[0]
    assert srflx["port"] == host4["port"]  # no NAT on loopback: the host socket's own port
    assert not errors(events)


async def test_turn_udp_gives_srflx_and_relay_from_one_allocation_as_in_F8c(coturn):
    net = RecordingNet(AliasNet({(PUBLIC, coturn.port): ("127.0.0.1", coturn.port)}))
    events = await ff_lines([turn(f"turn:{PUBLIC}:{coturn.port}?transport=udp")], net=net)
    (srflx,), (relay,) = cands(events, "srflx"), cands(events, "relay")
    assert srflx["candidate"] == f"candidate:1 1 UDP 1685987327 127.0.0.1 {srflx['port']} typ srflx raddr 0.0.0.0 rport 0"
    assert relay["candidate"] == (
        f"candidate:2 1 UDP 92151807 127.0.0.1 {relay['port']} typ relay raddr 127.0.0.1 rport {relay['port']}")
    assert [c["foundation"] for c in cands(events, "host")] == ["0", "3", "4", "5"]
    assert position(events, srflx) < position(events, relay)
    # No STUN binding to the TURN server (Chrome sends one): only the IPv4 socket's Allocate,
    # signed Allocate and the closing Refresh go out.
    assert all(dst == (PUBLIC, coturn.port) for _, _, dst in net.sends) and len(net.sends) == 3


async def test_turn_tcp_relay_as_in_turn_tcp(coturn):
    net = AliasNet({(PUBLIC, coturn.port): ("127.0.0.1", coturn.port)})
    events = await ff_lines([turn(f"turn:{PUBLIC}:{coturn.port}?transport=tcp")], net=net, time_scale=10)
    (relay,) = cands(events, "relay")
    assert relay["candidate"] == (
        f"candidate:3 1 UDP 8265727 127.0.0.1 {relay['port']} typ relay raddr 127.0.0.1 rport {relay['port']}")
    assert not cands(events, "srflx")
    assert t_cand(events, relay) - t_of(events, "gathering") >= 17  # the TCP phase starts ~19 ms in


async def test_wrong_password_is_401_without_text_as_in_turn_badcred(coturn):
    net = AliasNet({(PUBLIC, coturn.port): ("127.0.0.1", coturn.port)})
    events = await ff_lines([turn(f"turn:{PUBLIC}:{coturn.port}?transport=udp", "test", "wrong")], net=net)
    (err,) = errors(events)
    assert (err["url"], err["errorCode"]) == (f"turn:{PUBLIC}:{coturn.port}", 401)
    assert not cands(events, "srflx") and not cands(events, "relay")


async def test_loopback_server_refused_before_gathering_nothing_sent(coturn):
    net = RecordingNet(RealNet())
    events = await ff_lines([parse_ice_url(coturn.stun_url)], net=net)
    first, second = events[:2]
    assert first["type"] == "icecandidateerror" and first["errorCode"] == 701 and first["url"] == coturn.stun_url
    assert second["state"] == "gathering" and second["t"] == first["t"]
    assert net.sends == [] and not cands(events, "srflx")
    # The refused srflx still took foundation 1 (capture stun_loopback).
    assert [c["foundation"] for c in cands(events, "host")] == ["0", "2", "3", "4"]


async def test_dropped_stun_701_after_11_1_s_of_browser_time_with_7_sends(closed_port):
    net = RecordingNet(AliasNet({(PUBLIC, closed_port): ("127.0.0.1", closed_port)}))
    events = await ff_lines([parse_ice_url(f"stun:{PUBLIC}:{closed_port}")], net=net, time_scale=100)
    (err,) = errors(events)
    assert err["url"] == f"stun:{PUBLIC}:{closed_port}" and err["errorCode"] == 701
    assert 11080 <= err["t"] - t_of(events, "gathering") <= 11130  # F5b: 11101 ms
    assert len(net.sends) == 7
    assert events[-3]["t"] - err["t"] < 5  # then "", complete, null at once


async def test_unresolvable_name_fires_one_701_per_family_as_in_stun_nx():
    from icesim.config import ResolveRule

    events = await ff_lines([parse_ice_url("stun:nx.test:3478")], faults=Faults(resolve=(ResolveRule("nx.test", ()),)))
    assert [(e["url"], e["errorCode"]) for e in errors(events)] == [("stun:nx.test:3478", 701)] * 2
    assert [c["foundation"] for c in cands(events, "host")] == ["0", "2", "4", "5"]


async def test_two_stun_and_turn_pace_starts_and_prune_equal_srflx(coturn):
    server = StunServer()
    _, port = await server.start("127.0.0.1", 0)
    try:
        net = AliasNet({(PUBLIC, coturn.port): ("127.0.0.1", coturn.port), ("198.51.100.1", port): ("127.0.0.1", port)})
        events = await ff_lines([parse_ice_url(f"stun:{PUBLIC}:{coturn.port}"), parse_ice_url(f"stun:198.51.100.1:{port}"),
                                 turn(f"turn:{PUBLIC}:{coturn.port}?transport=udp")], net=net)
    finally:
        server.close()
    (srflx,), (relay,) = cands(events, "srflx"), cands(events, "relay")
    assert (srflx["foundation"], srflx["priority"]) == ("1", 1685987327)
    assert (relay["foundation"], relay["priority"]) == ("3", 92151295)
    assert t_cand(events, relay) - t_of(events, "gathering") >= 40  # third started transaction: 2 x Ta
    assert json.dumps(events)  # serialisable


async def test_one_end_of_candidates_marker_per_m_line_then_complete():
    """max-compat: three transports, each m-line's "" marker after its own candidates (reference
    C: a marker per m-line), then "complete" and null once; foundations shared by the
    connection's transports (one nICEr ctx)."""
    events = await ff_lines([], media=("audio", "video", "data"), bundle_policy="max-compat")
    markers = [e for e in events if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["candidate"] == ""]
    # One per m-line (in the order the transports finish: by mid here, unless the machine is slow).
    assert sorted((m["candidate"]["sdpMid"], m["candidate"]["sdpMLineIndex"]) for m in markers) == [("0", 0), ("1", 1), ("2", 2)]
    for m in markers:
        mid = m["candidate"]["sdpMid"]
        own = [i for i, e in enumerate(events) if e["type"] == "icecandidate" and e["candidate"]
               and e["candidate"]["sdpMid"] == mid and e["candidate"]["candidate"]]
        assert max(own) < events.index(m)
    assert {c["foundation"] for c in cands(events, "host", "udp")} == {"0", "1"}


async def test_relay_only_without_turn_has_no_gathering_state_as_in_pref_relay_only():
    """Captures pref_relay_only / policy_relay_stun: no "gathering", only the "" marker,
    complete and null; no candidate, no error, nothing sent to the STUN server."""
    net = RecordingNet(AliasNet({(PUBLIC, 3478): ("127.0.0.1", 9)}))  # were anything sent: to loopback
    events = await ff_lines([parse_ice_url(f"stun:{PUBLIC}:3478")], net=net, ice_transport_policy="relay")
    assert [e.get("state") or ("marker" if e.get("candidate") else "null") for e in events] == ["marker", "complete", "null"], events
    assert net.sends == []


async def test_relay_only_with_turn_still_announces_gathering(coturn):
    net = AliasNet({(PUBLIC, coturn.port): ("127.0.0.1", coturn.port)})
    events = await ff_lines([turn(f"turn:{PUBLIC}:{coturn.port}?transport=udp")], net=net, ice_transport_policy="relay",
                            time_scale=10)
    assert events[0]["state"] == "gathering" and len(cands(events, "relay")) == 1


async def test_tcp_relay_comes_later_when_a_udp_turn_is_listed_as_in_proxy_udp_blocked(coturn):
    """Capture proxy_udp_blocked: with TURN/UDP listed first (its UDP dropped), the TCP relay
    comes ~84 ms after "gathering", not ~43 ms as alone (turn_tcp)."""
    net = AliasNet({(PUBLIC, coturn.port): ("127.0.0.1", coturn.port)})
    servers = [turn(f"turn:{PUBLIC}:{coturn.port}?transport=udp"), turn(f"turn:{PUBLIC}:{coturn.port}?transport=tcp")]
    events = await ff_lines(servers, net=net, time_scale=200, faults=Faults(block_udp_all=True))
    (relay,) = cands(events, "relay")
    assert relay["priority"] == 8265727
    assert abs(t_cand(events, relay) - t_of(events, "gathering") - 84.0) <= 30.0
    (err,) = errors(events)
    assert err["url"] == f"turn:{PUBLIC}:{coturn.port}" and err["errorCode"] == 701
