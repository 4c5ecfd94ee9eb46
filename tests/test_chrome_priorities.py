"""ChromeDialect as pure rules (no sockets): candidate priorities (the B2 priority table and
formula, relay preferences), network ranking, network-id and network-cost.

Expected values come from shared/reference/browser-ice.md (B2, B4, B5) and the Chromium 156
captures in shared/captures (README "Observed facts", S1-S8); each test names its source.
"""

from __future__ import annotations

import pytest

from chrome_helpers import (
    ETH_GV6,
    ETH_ULA,
    ETH_V4,
    MID,
    MLINE,
    STUN,
    TURN_TCP,
    TURN_UDP,
    any_plans,
    enumerated,
    identity,
    ip,
    parse,
)
from icesim.config import Interface


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
    # Sequences run in discovery order (capture B1: IPv4 network-id 1 first, though it ranks
    # below IPv6); the rank decides the preference.
    assert [p.host_address for p in plans] == [i.address for i in ifaces]
    assert [p.network_id for p in plans] == list(range(1, len(ifaces) + 1))
    plans = sorted(plans, key=lambda p: -p.preference)
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
    ranked = sorted(plans, key=lambda p: -p.preference)
    assert [str(p.host_address) for p in ranked] == ["fd00:5::2", "198.51.100.2", "198.51.100.3"]
    assert [p.preference for p in ranked] == [127, 126, 125]


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
