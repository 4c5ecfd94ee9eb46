"""The engine speaking Safari (rules from source reading only) and older Chrome versions
against real servers on loopback, timers under --time-scale."""

from __future__ import annotations

import ipaddress

from engine_helpers import MDNS_RE, RecordingNet, cands, errors, t_of, turn
import icesim
from icesim.config import parse_ice_url
from icesim.net import RealNet
from icesim.schema import validate_line

IFACES = [
    icesim.Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", True),
    icesim.Interface("eth0", ipaddress.ip_address("2001:db8:5::2"), "ethernet", True),
    icesim.Interface("wlan0", ipaddress.ip_address("203.0.113.9"), "wifi"),
]


async def lines(browser: str, servers, *, net=None, **options) -> list[dict]:
    options.setdefault("seed", 6)
    options.setdefault("interfaces", IFACES)
    config = icesim.GatherConfig(browser=browser, servers=servers, **options)
    out = [validate_line(icesim.to_json_line(e)) async for e in icesim.gather(config, net)]
    events = out[1:]
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    return events


async def test_safari_stream_against_coturn(coturn):
    events = await lines("safari", [parse_ice_url(coturn.stun_url), turn(coturn.turn_udp_url)])
    # The null candidate BEFORE "complete".
    assert events[-2] == {"type": "icecandidate", "t": events[-2]["t"], "candidate": None}
    assert events[-1]["state"] == "complete"
    hosts = cands(events, "host")
    # Default-route networks only (not wlan0), mDNS names, real network-id, ranks 127/126.
    assert [(h["priority"], h["candidate"].split()[-2:]) for h in hosts] == [
        (2122194687, ["network-id", "1"]), (2122262783, ["network-id", "2"])]
    assert all(MDNS_RE.match(h["address"]) for h in hosts) and hosts[0]["address"] != hosts[1]["address"]
    (srflx,) = cands(events, "srflx")
    assert " raddr 0.0.0.0 rport 0 " in srflx["candidate"] and srflx["candidate"].endswith("network-id 1")
    (relay,) = cands(events, "relay")
    assert relay["priority"] == 58597375  # type 3, rank 126, relay pref 1: Chrome's enumerated relay (B2)
    assert not cands(events, "host", "tcp")
    for c in cands(events):
        assert "url" not in c and "relayProtocol" not in c


async def test_safari_refuses_local_and_blocked_port_urls_at_once(coturn):
    net = RecordingNet(RealNet())
    events = await lines("safari", [parse_ice_url("stun:printer.local:3478"), parse_ice_url("stun:127.0.0.1:5060"),
                                    parse_ice_url(coturn.stun_url)], net=net)
    refused = errors(events)
    assert [(e["url"], e["errorCode"], e["errorText"], e["address"], e["port"]) for e in refused] == [
        ("stun:printer.local:3478", 701, "URL is not allowed", None, None),
        ("stun:127.0.0.1:5060", 701, "URL is not allowed", None, None),
    ]
    assert all(e["t"] < t_of(events, "gathering") for e in refused)
    assert {dst for _, _, dst in net.sends} == {("127.0.0.1", coturn.port)}  # nothing to the refused ones
    assert len(cands(events, "srflx")) == 1


async def test_chrome_99_times_out_with_the_old_text_and_static_foundations(closed_port):
    events = await lines("chrome@99", [parse_ice_url(f"stun:127.0.0.1:{closed_port}")], time_scale=200,
                         interfaces=IFACES[:1])
    (err,) = errors(events)
    assert err["errorText"] == "STUN allocate request timed out." and err["errorCode"] == 701
    (host,) = cands(events, "host")
    assert host["foundation"] == "3788543951"  # CRC32("local0.0.0.0udp"): no tiebreaker before M109


async def test_chrome_versions_relay_priorities_and_401_text(coturn):
    for browser, prio in (("chrome@108", 33562367), ("chrome@144", 33562623), ("chrome", 50339839)):
        events = await lines(browser, [turn(coturn.turn_udp_url)], interfaces=IFACES[:1])
        (relay,) = cands(events, "relay")
        assert relay["priority"] == prio, browser
    for browser, text in (("chrome@137", "Unauthorized"), ("chrome@156", "Unauthorized.")):
        events = await lines(browser, [turn(coturn.turn_udp_url, "test", "wrong")], interfaces=IFACES[:1])
        assert [(e["errorCode"], e["errorText"]) for e in errors(events)] == [(401, text)], browser
