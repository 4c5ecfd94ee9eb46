"""ChromeDialect as pure rules (no sockets): candidate strings and attributes (B1 grammar),
mDNS names, related-address masking, and the connection identity (ufrag, pwd, tiebreaker,
foundations).

Expected values come from shared/reference/browser-ice.md (B1, B3, B5) and the Chromium 156
captures in shared/captures (README "Observed facts", S1-S8); each test names its source.
"""

from __future__ import annotations

import re
import zlib

from chrome_helpers import (
    ETH_GV6,
    ETH_ULA,
    ETH_V4,
    MDNS_RE,
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
from icesim.config import Interface, parse_ice_url
from icesim.dialects.chrome import ICE_CHARS


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
    # ...except a relay over TCP: the same value on every connection (capture G_two_turn and the
    # conformance suite: 598655908 for a TURN server on 203.0.113.2).
    assert rt.foundation == "1797656238"
    assert chrome.relay_candidate(other, plans[4], ("127.0.0.1", 7), ("127.0.0.1", 8), TURN_TCP, 1, MID,
                                  MLINE).foundation == "1797656238"
    lab = parse_ice_url("turn:203.0.113.2:3478?transport=tcp", username="test", credential="secret")
    assert chrome.relay_candidate(other, plans[4], ("203.0.113.2", 7), ("203.0.113.1", 8), lab, 1, MID,
                                  MLINE).foundation == "598655908"
