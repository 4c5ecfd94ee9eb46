"""Shared rules-level helpers of the ChromeDialect tests (test_chrome_*.py): the capture
machine's interfaces, the ICE servers, the B1 candidate grammar and the mDNS name form, and
small builders of identities and network plans. The `chrome` fixture is in conftest.py.

Expected values come from shared/reference/browser-ice.md (B1-B6) and the Chromium 156
captures in shared/captures (README "Observed facts", S1-S8).
"""

from __future__ import annotations

import ipaddress
import random
import re

from icesim.config import Interface, parse_ice_url
from icesim.dialects import ChromeDialect
from icesim.dialects.base import NetworkPlan

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
