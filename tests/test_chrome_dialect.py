"""ChromeDialect as pure rules (no sockets): priorities, ranking, strings, mDNS, masking, errors,
identities, foundations, timers, server lists.

Expected values come from shared/reference/browser-ice.md (B1-B6) and the Chromium 156
captures in shared/captures (README "Observed facts", S1-S8); each test names its source.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import zlib
from pathlib import Path

import pytest

from icesim.addresses import redact
from icesim.config import Interface, parse_ice_url
from icesim.dialects import ChromeDialect, get_dialect
from icesim.dialects.base import NetworkPlan
from icesim.dialects.chrome import ICE_CHARS

CAPTURES = Path("/work/shared/captures")

ip = ipaddress.ip_address

# The capture machine's addresses (shared/captures/netns_layout.txt) and documentation ranges.
ETH_V4 = Interface("eth0", ip("198.51.100.2"), "ethernet", default=True)
ETH_ULA = Interface("eth0", ip("fd00:5::2"), "ethernet", default=True)
ETH_GV6 = Interface("eth0", ip("2001:db8::2"), "ethernet", default=True)

MID, MLINE = "0", 0
TURN_UDP = parse_ice_url("turn:127.0.0.1:3478?transport=udp", username="test", credential="secret")
TURN_TCP = parse_ice_url("turn:127.0.0.1:3478?transport=tcp", username="test", credential="secret")
STUN = parse_ice_url("stun:127.0.0.1:3478")

# B1 grammar, as one regex over the whole string.
CANDIDATE_RE = re.compile(
    r"^candidate:(?P<foundation>[0-9]+) (?P<component>[12]) (?P<protocol>udp|tcp) (?P<priority>[0-9]+)"
    r" (?P<address>\S+) (?P<port>[0-9]+) typ (?P<type>host|srflx|prflx|relay)"
    r"(?: raddr (?P<raddr>\S+) rport (?P<rport>[0-9]+))?"
    r"(?: tcptype (?P<tcptype>active|passive|so))?"
    r" generation 0 ufrag (?P<ufrag>[A-Za-z0-9+/]{4})"
    r"(?: network-id (?P<network_id>[1-9][0-9]*))?"
    r"(?: network-cost (?P<network_cost>[1-9][0-9]*))?$"
)
MDNS_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.local$")


@pytest.fixture
def chrome() -> ChromeDialect:
    return ChromeDialect()


def identity(chrome: ChromeDialect, seed: int = 1):
    return chrome.new_identity(random.Random(seed))


def any_plans(chrome: ChromeDialect, *interfaces: Interface) -> dict[int, NetworkPlan]:
    plans = chrome.plan_networks(list(interfaces), permission=False)
    return {p.family: p for p in plans}


def enumerated(chrome: ChromeDialect, *interfaces: Interface) -> list[NetworkPlan]:
    return chrome.plan_networks(list(interfaces), permission=True)


def parse(cand_string: str) -> dict[str, str]:
    m = CANDIDATE_RE.match(cand_string)
    assert m, f"not B1 grammar: {cand_string!r}"
    return m.groupdict()


# ---------------------------------------------------------------------------------------------
# Priorities (B2 checked/computed values; captures S1-S8 and README for relay)
# ---------------------------------------------------------------------------------------------


def _host(chrome, *ifaces, family=4, mdns=True):
    ident = identity(chrome)
    return chrome.host_candidate(ident, any_plans(chrome, *ifaces)[family], 50000, mdns, MID, MLINE)


def _srflx(chrome, plan, mapped):
    return chrome.srflx_candidate(identity(chrome), plan, 50000, mapped, STUN, True, MID, MLINE)


def _relay(chrome, server, pref):
    plan = any_plans(chrome, ETH_V4, ETH_ULA)[4]
    return chrome.relay_candidate(
        identity(chrome), plan, ("127.0.0.1", 50084), ("127.0.0.1", 36255), server, pref, MID, MLINE
    )


PRIORITY_TABLE = {
    # any-address (mDNS) networks: rank 0
    "any v4 host (S1)": (2113937151, lambda c: _host(c, ETH_V4, ETH_ULA, family=4)),
    "any host on ULA fd00:5::2 (S1)": (2113942271, lambda c: _host(c, ETH_V4, ETH_ULA, family=6)),
    "any global v6 host (B2 computed)": (2113939711, lambda c: _host(c, ETH_V4, ETH_GV6, family=6)),
    "any v4 srflx (S3a)": (1677729535, lambda c: _srflx(c, any_plans(c, ETH_V4)[4], ("203.0.113.1", 40000))),
    "any global v6 srflx (B2 computed)": (
        1677732095, lambda c: _srflx(c, any_plans(c, ETH_V4, ETH_GV6)[6], ("2001:db8::2", 40000))),
    # enumerated (permission) networks: ranks 127, 126, ...
    "enumerated host rank 127 v4 (B1 sample)": (
        2122260223, lambda c: c.host_candidate(identity(c), enumerated(c, ETH_V4)[0], 5000, False, MID, MLINE)),
    "enumerated host rank 126 v4 (B2)": (
        2122194687,
        lambda c: c.host_candidate(
            identity(c), enumerated(c, ETH_V4, Interface("wlan0", ip("10.1.0.2"), "wifi"))[1], 5000, False, MID, MLINE)),
    "enumerated host global v6 rank 127 (B2 computed)": (
        2122262783, lambda c: c.host_candidate(identity(c), enumerated(c, ETH_GV6)[0], 5000, False, MID, MLINE)),
    "tcp active host rank 127 v4 (B1 sample)": (
        1518280447, lambda c: c.tcp_active_candidate(identity(c), enumerated(c, ETH_V4)[0], False, MID, MLINE)),
    "enumerated srflx rank 127 v4 (B2)": (
        1686052607, lambda c: _srflx(c, enumerated(c, ETH_V4)[0], ("203.0.113.1", 40000))),
    # relay (captures README): UDP 50339839, first of two 50340095, TCP 16785407
    "relay udp single TURN (S8)": (50339839, lambda c: _relay(c, TURN_UDP, c.relay_preferences(1)[0])),
    "relay udp first of two TURN (README)": (50340095, lambda c: _relay(c, TURN_UDP, c.relay_preferences(2)[0])),
    "relay tcp single TURN (README)": (16785407, lambda c: _relay(c, TURN_TCP, c.relay_preferences(1)[0])),
}


@pytest.mark.parametrize("name", list(PRIORITY_TABLE))
def test_priority_table(chrome, name):
    expected, make = PRIORITY_TABLE[name]
    cand = make(chrome)
    assert cand is not None
    assert cand.priority == expected
    # The attribute and the string agree.
    assert int(parse(cand.candidate)["priority"]) == expected


def test_priority_formula_components(chrome):
    """B2: (type << 24) | (local << 8) | (256 - component); RTCP is one less."""
    plan = enumerated(chrome, ETH_V4)[0]
    rtp = chrome.priority(126, plan, ETH_V4.address)
    assert rtp == (126 << 24) | (((127 << 8) | 30) << 8) | 255
    assert chrome.priority(126, plan, ETH_V4.address, component=2) == rtp - 1
    assert chrome.priority(3, plan, ETH_V4.address, relay_pref=2) == (3 << 24) | ((((127 << 8) | 30) + 2) << 8) | 255


def test_relay_preferences_count_down(chrome):
    """B2: with N TURN configs the first gets N, counting down to 1."""
    assert chrome.relay_preferences(1) == [1]
    assert chrome.relay_preferences(3) == [3, 2, 1]
    assert chrome.relay_preferences(0) == []


# ---------------------------------------------------------------------------------------------
# Network ranking, network-id, network-cost (B2, B4, rtc_base/network.cc SortNetworks)
# ---------------------------------------------------------------------------------------------


def test_ranking_adapter_type_then_precedence(chrome):
    ifaces = [
        Interface("tun0", ip("10.8.0.2"), "vpn"),
        Interface("wlan0", ip("10.1.0.2"), "wifi"),
        Interface("wlan0", ip("2001:db8:1::2"), "wifi"),
        Interface("eth0", ip("198.51.100.2"), "ethernet", default=True),
        Interface("eth0", ip("2001:db8::2"), "ethernet", default=True),
        Interface("wwan0", ip("100.64.0.2"), "cellular"),
        Interface("x0", ip("172.16.0.2"), "unknown"),
    ]
    plans = enumerated(chrome, *ifaces)
    order = [str(p.host_address) for p in plans]
    # UNKNOWN=0 < ETHERNET=1 < WIFI=2 < CELLULAR=4 < VPN=8; within a type IPv6 global (40)
    # before IPv4 (30).
    assert order == [
        "172.16.0.2", "2001:db8::2", "198.51.100.2", "2001:db8:1::2", "10.1.0.2", "100.64.0.2", "10.8.0.2",
    ]
    assert [p.preference for p in plans] == [127, 126, 125, 124, 123, 122, 121]
    # Priorities follow the ranks: strictly decreasing in this order.
    ident = identity(chrome)
    prios = [chrome.host_candidate(ident, p, 5000, False, MID, MLINE).priority for p in plans]
    assert prios == sorted(prios, reverse=True) and len(set(prios)) == len(prios)
    assert prios[1] == (126 << 24) | (((126 << 8) | 40) << 8) | 255
    assert prios[2] == (126 << 24) | (((125 << 8) | 30) << 8) | 255


def test_ranking_ula_above_ipv4_and_name_tiebreak(chrome):
    """Precedence ULA 50 > IPv4 30; equal type and precedence: ordered by the network key."""
    plans = enumerated(
        chrome,
        Interface("eth1", ip("198.51.100.3"), "ethernet"),
        Interface("eth0", ip("198.51.100.2"), "ethernet"),
        Interface("eth0", ip("fd00:5::2"), "ethernet"),
    )
    assert [str(p.host_address) for p in plans] == ["fd00:5::2", "198.51.100.2", "198.51.100.3"]


def test_enumeration_skips_loopback_and_link_local(chrome):
    plans = enumerated(
        chrome,
        Interface("lo", ip("127.0.0.1"), "loopback"),
        Interface("lo", ip("::1"), "loopback"),
        Interface("eth0", ip("fe80::1"), "ethernet"),
        ETH_V4,
    )
    assert [str(p.host_address) for p in plans] == ["198.51.100.2"]
    assert all(p.tcp_active and not p.any_address for p in plans)


@pytest.mark.parametrize(
    ("adapter", "cost"), [("ethernet", None), ("wifi", 10), ("unknown", 50), ("cellular", 900)]
)
def test_network_cost_enumerated(chrome, adapter, cost):
    """B4: ethernet 0 (omitted), wifi 10, unknown 50, cellular 900."""
    plan = enumerated(chrome, Interface("if0", ip("10.0.0.2"), adapter))[0]
    cand = chrome.host_candidate(identity(chrome), plan, 5000, False, MID, MLINE)
    fields = parse(cand.candidate)
    assert fields["network_cost"] == (None if cost is None else str(cost))
    assert fields["network_id"] == "1"  # enumerated networks carry a network-id


def test_network_id_per_network_in_discovery_order(chrome):
    ifaces = [Interface("wlan0", ip("10.1.0.2"), "wifi"), ETH_V4, ETH_GV6]
    plans = enumerated(chrome, *ifaces)
    ids = {str(p.host_address): p.network_id for p in plans}
    assert ids == {"10.1.0.2": 1, "198.51.100.2": 2, "2001:db8::2": 3}
    ident = identity(chrome)
    for p in plans:
        for cand in (chrome.host_candidate(ident, p, 5000, False, MID, MLINE),
                     chrome.tcp_active_candidate(ident, p, False, MID, MLINE)):
            assert parse(cand.candidate)["network_id"] == str(p.network_id)


def test_any_address_networks_cost_999_no_network_id(chrome):
    """B5 and captures S1/S2: network-cost 999, no network-id, rank 0, no TCP candidates."""
    plans = any_plans(chrome, ETH_V4, ETH_ULA)
    assert {p.bind_address for p in plans.values()} == {"0.0.0.0", "::"}
    ident = identity(chrome)
    for plan in plans.values():
        assert plan.preference == 0 and plan.network_id == 0 and plan.any_address
        fields = parse(chrome.host_candidate(ident, plan, 5000, True, MID, MLINE).candidate)
        assert fields["network_cost"] == "999" and fields["network_id"] is None
        assert chrome.tcp_active_candidate(ident, plan, True, MID, MLINE) is None


def test_any_address_without_default_of_family_has_no_host(chrome):
    plans = any_plans(chrome, ETH_V4)
    assert plans[6].host_address is None
    assert chrome.host_candidate(identity(chrome), plans[6], 5000, True, MID, MLINE) is None
    assert str(plans[4].host_address) == "198.51.100.2"


def test_any_address_prefers_default_interface(chrome):
    other = Interface("eth1", ip("198.51.100.9"), "ethernet")
    assert str(any_plans(chrome, other, ETH_V4)[4].host_address) == "198.51.100.2"
    assert str(any_plans(chrome, other)[4].host_address) == "198.51.100.9"


# ---------------------------------------------------------------------------------------------
# Candidate strings and attributes (B1; captures S1, S2, S3a, S8)
# ---------------------------------------------------------------------------------------------


def test_host_mdns_string_and_attributes(chrome):
    ident = identity(chrome)
    plan = any_plans(chrome, ETH_V4, ETH_ULA)[4]
    cand = chrome.host_candidate(ident, plan, 43361, True, MID, MLINE)
    name = chrome.mdns_name(ident, ETH_V4.address)
    assert cand.candidate == (
        f"candidate:{cand.foundation} 1 udp 2113937151 {name} 43361 typ host generation 0"
        f" ufrag {ident.ufrag} network-cost 999"
    )
    d = cand.to_dict()
    assert d == {
        "candidate": cand.candidate, "sdpMid": "0", "sdpMLineIndex": 0, "foundation": cand.foundation,
        "component": "rtp", "priority": 2113937151, "address": name, "protocol": "udp", "port": 43361,
        "type": "host", "tcpType": None, "relatedAddress": None, "relatedPort": None,
        "usernameFragment": ident.ufrag, "relayProtocol": None, "url": "",
    }


def test_host_without_mdns_ipv6_bracketed_in_attribute_only(chrome):
    """Capture S2: string `fd00:5::2`, attribute `[fd00:5::2]`."""
    plan = any_plans(chrome, ETH_V4, ETH_ULA)[6]
    cand = chrome.host_candidate(identity(chrome), plan, 55212, False, MID, MLINE)
    assert " fd00:5::2 55212 typ host " in cand.candidate
    assert cand.address == "[fd00:5::2]"
    assert cand.priority == 2113942271
    assert parse(cand.candidate)["network_cost"] == "999"


def test_srflx_string_mdns(chrome):
    """Capture S3a: `... 1677729535 127.0.0.1 47893 typ srflx raddr 0.0.0.0 rport 0 generation 0
    ufrag .. network-cost 999`, url stun:HOST:PORT."""
    ident = identity(chrome)
    plan = any_plans(chrome, ETH_V4)[4]
    cand = chrome.srflx_candidate(ident, plan, 47893, ("127.0.0.1", 47893), STUN, True, MID, MLINE)
    assert cand.candidate == (
        f"candidate:{cand.foundation} 1 udp 1677729535 127.0.0.1 47893 typ srflx raddr 0.0.0.0 rport 0"
        f" generation 0 ufrag {ident.ufrag} network-cost 999"
    )
    assert (cand.relatedAddress, cand.relatedPort, cand.url, cand.relayProtocol) == (
        "0.0.0.0", 0, "stun:127.0.0.1:3478", None)


def test_relay_string(chrome):
    """Capture S8: relay raddr = srflx (TURN-mapped) address, relayProtocol null for UDP."""
    ident = identity(chrome)
    plan = any_plans(chrome, ETH_V4)[4]
    cand = chrome.relay_candidate(ident, plan, ("127.0.0.1", 50084), ("127.0.0.1", 36255), TURN_UDP, 1, MID, MLINE)
    assert cand.candidate == (
        f"candidate:{cand.foundation} 1 udp 50339839 127.0.0.1 50084 typ relay raddr 127.0.0.1 rport 36255"
        f" generation 0 ufrag {ident.ufrag} network-cost 999"
    )
    assert (cand.type, cand.relatedAddress, cand.relatedPort, cand.relayProtocol, cand.url) == (
        "relay", "127.0.0.1", 36255, None, "turn:127.0.0.1:3478?transport=udp")
    tcp = chrome.relay_candidate(ident, plan, ("127.0.0.1", 50090), ("127.0.0.1", 40000), TURN_TCP, 1, MID, MLINE)
    assert (tcp.protocol, tcp.relayProtocol, tcp.url) == ("udp", "tcp", "turn:127.0.0.1:3478?transport=tcp")


def test_tcp_active_string(chrome):
    """B1 sample: `...tcp 1518280447 10.10.124.6 9 typ host tcptype active generation 0 network-id 2
    network-cost 50` (SDP form; the JS string adds ufrag)."""
    ident = identity(chrome)
    plan = enumerated(chrome, Interface("x0", ip("10.10.124.6"), "unknown"))[0]
    cand = chrome.tcp_active_candidate(ident, plan, False, MID, MLINE)
    assert cand.candidate == (
        f"candidate:{cand.foundation} 1 tcp 1518280447 10.10.124.6 9 typ host tcptype active generation 0"
        f" ufrag {ident.ufrag} network-id 1 network-cost 50"
    )
    assert (cand.protocol, cand.port, cand.tcpType, cand.url) == ("tcp", 9, "active", "")


def test_every_kind_matches_grammar_and_attributes(chrome):
    ident = identity(chrome)
    anyp = any_plans(chrome, ETH_V4, ETH_GV6)
    enum = enumerated(chrome, ETH_V4, ETH_GV6, Interface("wlan0", ip("10.1.0.2"), "wifi"))
    cands = []
    for plan in anyp.values():
        cands.append(chrome.host_candidate(ident, plan, 40000, True, MID, MLINE))
        cands.append(chrome.host_candidate(ident, plan, 40000, False, MID, MLINE))
        mapped = ("203.0.113.1", 41000) if plan.family == 4 else ("2001:db8::2", 41000)
        cands.append(chrome.srflx_candidate(ident, plan, 40000, mapped, STUN, True, MID, MLINE))
        for server in (TURN_UDP, TURN_TCP):
            cands.append(chrome.relay_candidate(ident, plan, ("127.0.0.1", 50000), mapped, server, 1, MID, MLINE))
    for plan in enum:
        cands.append(chrome.host_candidate(ident, plan, 40000, False, MID, MLINE))
        cands.append(chrome.tcp_active_candidate(ident, plan, False, MID, MLINE))
        cands.append(chrome.srflx_candidate(ident, plan, 40000, ("203.0.113.1", 41000), STUN, False, MID, MLINE))
    for cand in cands:
        f = parse(cand.candidate)
        assert f["foundation"] == cand.foundation
        assert int(f["priority"]) == cand.priority
        assert f["protocol"] == cand.protocol and f["type"] == cand.type
        assert int(f["port"]) == cand.port
        assert f["ufrag"] == ident.ufrag == cand.usernameFragment
        assert f["tcptype"] == cand.tcpType
        addr = f["address"]
        assert cand.address == (f"[{addr}]" if ":" in addr else addr)
        if cand.type == "host":
            assert f["raddr"] is None and cand.relatedAddress is None and cand.relatedPort is None
            assert cand.url == ""
        else:
            assert int(f["rport"]) == cand.relatedPort
            assert cand.relatedAddress == (f"[{f['raddr']}]" if ":" in f["raddr"] else f["raddr"])
        assert (cand.sdpMid, cand.sdpMLineIndex, cand.component) == ("0", 0, "rtp")


# ---------------------------------------------------------------------------------------------
# mDNS names (B5)
# ---------------------------------------------------------------------------------------------


def test_mdns_names(chrome):
    ident = identity(chrome, 1)
    a = chrome.mdns_name(ident, ETH_V4.address)
    b = chrome.mdns_name(ident, ETH_ULA.address)
    assert MDNS_RE.match(a) and MDNS_RE.match(b)
    assert a != b
    assert chrome.mdns_name(ident, ip("198.51.100.2")) == a  # same IP, same name
    other = identity(chrome, 2)
    assert chrome.mdns_name(other, ETH_V4.address) != a  # another connection, another name
    # The host candidate uses that same name.
    plan = any_plans(chrome, ETH_V4)[4]
    assert chrome.host_candidate(ident, plan, 1, True, MID, MLINE).address == a


def test_mdns_only_on_any_address_networks(chrome):
    """With permission (enumerated networks) the real IP is the host address, never a .local name."""
    plan = enumerated(chrome, ETH_V4)[0]
    cand = chrome.host_candidate(identity(chrome), plan, 5000, True, MID, MLINE)
    assert cand.address == "198.51.100.2"


# ---------------------------------------------------------------------------------------------
# Related-address masking (B5; captures S3a, S7, S8)
# ---------------------------------------------------------------------------------------------


def test_srflx_raddr_masked_under_mdns(chrome):
    plans = any_plans(chrome, ETH_V4, ETH_GV6)
    ident = identity(chrome)
    v4 = chrome.srflx_candidate(ident, plans[4], 40000, ("203.0.113.1", 1000), STUN, True, MID, MLINE)
    v6 = chrome.srflx_candidate(ident, plans[6], 40001, ("2001:db8::2", 1001), STUN, True, MID, MLINE)
    assert " raddr 0.0.0.0 rport 0 " in v4.candidate
    assert (v4.relatedAddress, v4.relatedPort) == ("0.0.0.0", 0)
    assert " raddr :: rport 0 " in v6.candidate
    # Blink brackets an IPv6 related address like the address attribute (capture S2).
    assert (v6.relatedAddress, v6.relatedPort) == ("[::]", 0)


def test_srflx_raddr_real_base_with_permission(chrome):
    plan = enumerated(chrome, ETH_V4)[0]
    cand = chrome.srflx_candidate(identity(chrome), plan, 40000, ("203.0.113.1", 1000), STUN, False, MID, MLINE)
    assert " raddr 198.51.100.2 rport 40000 " in cand.candidate
    assert (cand.relatedAddress, cand.relatedPort) == ("198.51.100.2", 40000)


def test_relay_raddr_not_masked_under_mdns(chrome):
    plan = any_plans(chrome, ETH_V4)[4]
    cand = chrome.relay_candidate(
        identity(chrome), plan, ("127.0.0.1", 50084), ("203.0.113.1", 33568), TURN_UDP, 1, MID, MLINE)
    assert " raddr 203.0.113.1 rport 33568 " in cand.candidate


# ---------------------------------------------------------------------------------------------
# Redaction and errors (B6; captures S5, S7 and README)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("0.0.0.0", "0.0.0.x"),
        ("::", "[0:0:0:x:x:x:x:x]"),
        ("198.51.100.2", "198.51.100.x"),
        ("fd00:5::2", "[fd00:5:0:x:x:x:x:x]"),
        ("2001:db8:abcd:12::1", "[2001:db8:abcd:x:x:x:x:x]"),
    ],
)
def test_redact(address, expected):
    assert redact(ip(address)) == expected


STUN_ERRORS = {
    "dns": (701, "STUN host lookup received error."),
    "timeout": (701, "STUN binding request timed out."),
}
TURN_ERRORS = {
    "dns": (701, "TURN host lookup received error."),
    "timeout": (701, "TURN allocate request timed out."),
    "connect_failed": (701, "Failed to establish connection"),
    "socket_failed": (701, "Failed to create TURN client socket."),
    "unauthorized": (401, "Unauthorized."),
    "mismatch": (437, "Maximum retries reached for allocation mismatch."),
    "disallowed_port": (500, "Attempt to start allocation to a disallowed port."),
}


@pytest.mark.parametrize("kind", list(STUN_ERRORS))
def test_stun_error_texts(chrome, kind):
    plans = any_plans(chrome, ETH_V4, ETH_ULA)
    err = chrome.stun_error(39930.4, plans[4], 50276, STUN, kind)
    assert (err.errorCode, err.errorText) == STUN_ERRORS[kind]
    # Capture S5: the any-address socket redacted, the socket's own port, hostCandidate addr:port.
    assert err.to_dict() == {
        "type": "icecandidateerror", "t": 39930.4, "address": "0.0.0.x", "port": 50276,
        "url": "stun:127.0.0.1:3478", "errorCode": STUN_ERRORS[kind][0], "errorText": STUN_ERRORS[kind][1],
        "hostCandidate": "0.0.0.x:50276",
    }
    v6 = chrome.stun_error(1.0, plans[6], 50277, parse_ice_url("stun:stun.test:3478"), kind)
    assert (v6.address, v6.port, v6.hostCandidate, v6.url) == (
        "[0:0:0:x:x:x:x:x]", 50277, "[0:0:0:x:x:x:x:x]:50277", "stun:stun.test:3478")


def test_stun_error_response(chrome):
    """STUN error response: the server's code and reason phrase verbatim; no code -> 600."""
    plan = any_plans(chrome, ETH_V4)[4]
    err = chrome.stun_error(1.0, plan, 1234, STUN, "response", 420, "Unknown Attribute")
    assert (err.errorCode, err.errorText) == (420, "Unknown Attribute")
    err = chrome.stun_error(1.0, plan, 1234, STUN, "response")
    assert (err.errorCode, err.errorText) == (600, "STUN binding response with no error code attribute.")


@pytest.mark.parametrize("kind", list(TURN_ERRORS))
def test_turn_error_texts_udp(chrome, kind):
    plan = any_plans(chrome, ETH_V4)[4]
    err = chrome.turn_error(108.6, plan, 36633, TURN_UDP, kind)
    assert (err.errorCode, err.errorText) == TURN_ERRORS[kind]
    # Capture S7: a UDP TURN error carries the redacted socket address and its port.
    assert (err.address, err.port, err.hostCandidate, err.url) == (
        "0.0.0.x", 36633, "0.0.0.x:36633", "turn:127.0.0.1:3478?transport=udp")


def test_turn_error_other_keeps_server_code(chrome):
    plan = any_plans(chrome, ETH_V4)[4]
    err = chrome.turn_error(1.0, plan, 1, TURN_UDP, "other", 486, "Allocation Quota Reached")
    assert (err.errorCode, err.errorText) == (486, "TURN allocate error.")


@pytest.mark.parametrize("kind", ["connect_failed", "unauthorized", "timeout"])
@pytest.mark.parametrize("port", [0, 51234])
def test_turn_tcp_error_clears_address(chrome, kind, port):
    """Captures README: TURN/TCP errors have address null, port null, hostCandidate ":0"."""
    plan = any_plans(chrome, ETH_V4)[4]
    err = chrome.turn_error(1.0, plan, port, TURN_TCP, kind)
    assert (err.address, err.port, err.hostCandidate) == (None, None, ":0")
    assert err.url == "turn:127.0.0.1:3478?transport=tcp"
    assert (err.errorCode, err.errorText) == TURN_ERRORS[kind]


def test_error_address_redacts_enumerated_socket(chrome):
    """B6: with enumerated networks the socket's own IP is redacted to three octets."""
    plan = enumerated(chrome, ETH_V4, ETH_ULA)
    by_family = {p.family: p for p in plan}
    assert chrome.stun_error(1, by_family[4], 5, STUN, "timeout").address == "198.51.100.x"
    assert chrome.stun_error(1, by_family[6], 5, STUN, "timeout").address == "[fd00:5:0:x:x:x:x:x]"


@pytest.mark.parametrize(
    ("url", "stun_form", "turn_form"),
    [
        ("turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"),
        ("turn:turn.test", "stun:turn.test:3478", "turn:turn.test:3478?transport=udp"),
        ("turn:[2001:db8::1]:3479?transport=tcp", "stun:[2001:db8::1]:3479", "turn:[2001:db8::1]:3479?transport=tcp"),
        ("turns:turn.test", "stun:turn.test:5349", "turns:turn.test:5349?transport=tcp"),
    ],
)
def test_url_forms(chrome, url, stun_form, turn_form):
    """B6: stun:host:port (port explicit, no query, IPv6 bracketed); turn(s):host:port?transport=."""
    server = parse_ice_url(url)
    assert chrome.stun_url(server) == stun_form
    assert chrome.turn_url(server) == turn_form


def test_turn_port_allowed(chrome):
    assert chrome.turn_port_allowed(3478) and chrome.turn_port_allowed(1024)
    assert chrome.turn_port_allowed(53) and chrome.turn_port_allowed(80) and chrome.turn_port_allowed(443)
    assert not chrome.turn_port_allowed(25) and not chrome.turn_port_allowed(1023)


# ---------------------------------------------------------------------------------------------
# Identity: ufrag, pwd, tiebreaker, foundations (B1, B3)
# ---------------------------------------------------------------------------------------------


def test_ufrag_pwd_alphabet_and_length(chrome):
    assert set(ICE_CHARS) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    seen = set()
    for seed in range(200):
        ident = identity(chrome, seed)
        assert re.fullmatch(r"[A-Za-z0-9+/]{4}", ident.ufrag)
        assert re.fullmatch(r"[A-Za-z0-9+/]{24}", ident.pwd)
        assert 0 <= ident.tiebreaker < 2**64
        seen.add(ident.ufrag)
    assert len(seen) > 190  # random per connection


def test_seeded_identity_reproducible(chrome):
    a, b, c = identity(chrome, 7), identity(chrome, 7), identity(chrome, 8)
    assert (a.ufrag, a.pwd, a.tiebreaker) == (b.ufrag, b.pwd, b.tiebreaker)
    assert chrome.mdns_name(a, ETH_V4.address) == chrome.mdns_name(b, ETH_V4.address)
    assert (a.ufrag, a.pwd, a.tiebreaker) != (c.ufrag, c.pwd, c.tiebreaker)


def test_foundation_crc32(chrome):
    """B3: decimal CRC32 of type + base IP + protocol + relay protocol + tiebreaker."""
    ident = identity(chrome, 3)
    plans = any_plans(chrome, ETH_V4, ETH_ULA)
    f = chrome.foundation(ident, "srflx", "0.0.0.0", "udp")
    assert f == str(zlib.crc32(f"srflx0.0.0.0udp{ident.tiebreaker}".encode()))
    assert f.isdigit() and int(f) < 2**32
    # Same (type, base, protocol) in one connection: same foundation, whatever the port/mapping.
    s1 = chrome.srflx_candidate(ident, plans[4], 1000, ("203.0.113.1", 1), STUN, True, MID, MLINE)
    s2 = chrome.srflx_candidate(ident, plans[4], 2000, ("203.0.113.1", 2), STUN, True, MID, MLINE)
    assert s1.foundation == s2.foundation == f
    h1 = chrome.host_candidate(ident, plans[4], 1000, True, MID, MLINE)
    h2 = chrome.host_candidate(ident, plans[4], 2000, True, MID, MLINE)
    assert h1.foundation == h2.foundation
    # Different type, family or protocol: different foundation.
    h6 = chrome.host_candidate(ident, plans[6], 1000, True, MID, MLINE)
    r = chrome.relay_candidate(ident, plans[4], ("127.0.0.1", 5), ("127.0.0.1", 6), TURN_UDP, 1, MID, MLINE)
    rt = chrome.relay_candidate(ident, plans[4], ("127.0.0.1", 5), ("127.0.0.1", 6), TURN_TCP, 1, MID, MLINE)
    assert len({h1.foundation, h6.foundation, s1.foundation, r.foundation, rt.foundation}) == 5
    # Another connection (another tiebreaker): another foundation for the same candidate.
    other = identity(chrome, 4)
    assert chrome.host_candidate(other, plans[4], 1000, True, MID, MLINE).foundation != h1.foundation


# ---------------------------------------------------------------------------------------------
# Retransmissions (B6; capture S5 and README: 9 sends, 701 ~39.88 s after the first)
# ---------------------------------------------------------------------------------------------

NOMINAL_SENDS = (0, 250, 750, 1750, 3750, 7750, 15750, 23750, 31750)


def _capture_s5_gaps() -> list[float]:
    """README: gaps 257, 516, 1013, 2017, 4017, 8014, 8015, 8016 ms (sanity of our constants)."""
    return [257, 516, 1013, 2017, 4017, 8014, 8015, 8016]


@pytest.mark.parametrize("seed", range(20))
def test_retransmit_schedule(chrome, seed):
    sched = chrome.retransmit_schedule(random.Random(seed))
    offsets = sched.send_offsets_ms
    assert len(offsets) == 9
    assert offsets[0] == 0
    for k, (got, nominal) in enumerate(zip(offsets, NOMINAL_SENDS)):
        assert nominal <= got <= nominal + 20 * k, (k, got)
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    nominal_gaps = [b - a for a, b in zip(NOMINAL_SENDS, NOMINAL_SENDS[1:])]
    # Each gap: the RTO (250 ms doubling, capped at 8 s) plus a little timer slack, like S5's.
    for got, nominal, captured in zip(gaps, nominal_gaps, _capture_s5_gaps()):
        assert nominal < got <= nominal + 20
        assert abs(got - captured) <= 20
    assert 39800 <= sched.timeout_ms <= 39950
    assert sched.timeout_ms - offsets[-1] >= 8000  # the last send waits a full capped RTO


def test_retransmit_schedule_seeded(chrome):
    a = chrome.retransmit_schedule(random.Random(5))
    b = chrome.retransmit_schedule(random.Random(5))
    assert a == b


def test_capture_s5_timeout_matches_schedule(chrome):
    """Capture S5: the 701 came 39.85-39.9 s after gathering started (first send right after)."""
    events = json.loads((CAPTURES / "S5_chromium_stun_udp_dropped.json").read_text())["page"]["events"]
    t_gather = next(e["t"] for e in events if e["kind"] == "icegatheringstatechange")
    t_701 = next(e["t"] for e in events if e["kind"] == "icecandidateerror")
    captured = t_701 - t_gather
    timeouts = [chrome.retransmit_schedule(random.Random(s)).timeout_ms for s in range(50)]
    assert all(abs(t - captured) <= 0.002 * captured for t in timeouts), (captured, min(timeouts), max(timeouts))


# ---------------------------------------------------------------------------------------------
# STUN server list (captures S7/S8: a UDP TURN server is also a STUN server)
# ---------------------------------------------------------------------------------------------


def test_stun_servers_merge_udp_turn_and_dedupe(chrome):
    servers = [
        parse_ice_url("stun:127.0.0.1:3478"),
        parse_ice_url("turn:127.0.0.1:3478?transport=udp", username="u", credential="p"),
        parse_ice_url("turn:127.0.0.1:3479?transport=udp", username="u", credential="p"),
        parse_ice_url("turn:127.0.0.1:3480?transport=tcp", username="u", credential="p"),
        parse_ice_url("turns:turn.test:5349", username="u", credential="p"),
        parse_ice_url("turn:Turn.Test", username="u", credential="p"),  # no transport = udp
        parse_ice_url("stun:turn.test:3478"),  # same host:port as the previous one
    ]
    got = [(s.host.lower(), s.port) for s in chrome.stun_servers(servers)]
    assert got == [("127.0.0.1", 3478), ("127.0.0.1", 3479), ("turn.test", 3478)]
    assert chrome.stun_servers([]) == []
    assert chrome.stun_servers([parse_ice_url("turn:127.0.0.1?transport=tcp")]) == []


def test_get_dialect():
    assert isinstance(get_dialect("chrome"), ChromeDialect)
    assert get_dialect("chrome@156").version == 156
