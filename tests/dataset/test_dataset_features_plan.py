"""Features on known event streams, and session plans drawn from profiles (pure code)."""

from __future__ import annotations

import ipaddress

from icesim.dataset.features import address_class, session_features
from icesim.dataset.plan import ProfileMix, plan_session
from icesim.dataset.report import auc
from icesim.profiles import load_library

MDNS = "2f1c8a52-4d8e-4c4e-9d39-3e0a2b0c9a11.local"


def _cand(text: str, t: float, mid: str = "0") -> dict:
    parts = text.split()
    return {"type": "icecandidate", "t": t, "candidate": {
        "candidate": text, "sdpMid": mid, "sdpMLineIndex": 0, "address": parts[4], "port": int(parts[5]),
        "protocol": parts[2].lower() if parts[2].islower() else parts[2], "type": parts[7], "priority": int(parts[3]),
    }}


def _row(events: list, web: str, claimed: str = "chrome", page_error=None) -> dict:
    return {"session_id": "s", "label": "bot", "scenario": "x", "profile": "p", "events": events,
            "web_address": web, "claimed_browser": claimed, "page_error": page_error}


CHROME_PROXY = [
    {"type": "icegatheringstatechange", "t": 25.0, "state": "gathering"},
    _cand(f"candidate:1 1 udp 2113937151 {MDNS} 50000 typ host generation 0 ufrag abcd network-cost 999", 70.0),
    _cand("candidate:2 1 udp 1677729535 198.51.100.200 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag abcd network-cost 999", 95.5),
    {"type": "icegatheringstatechange", "t": 160.0, "state": "complete"},
    {"type": "icecandidate", "t": 160.4, "candidate": None},
]


def test_features_of_a_proxy_bot_stream():
    f = session_features(_row(CHROME_PROXY, web="203.0.113.200"))
    assert (f["n_candidates"], f["n_host"], f["n_srflx"], f["n_relay"], f["n_udp"], f["n_tcp"]) == (2, 1, 1, 0, 2, 0)
    assert f["has_mdns_host"] and not f["has_private_host"] and not f["has_public_host"]
    assert f["srflx_web_mismatch"] is True
    assert (f["srflx_class"], f["web_class"]) == ("datacenter", "residential_proxy")
    assert f["srflx_port_preserved"] is True
    assert (f["t_first_candidate_ms"], f["t_complete_ms"], f["t_last_event_ms"]) == (70.0, 160.0, 160.4)
    assert f["network_costs"] == "999" and f["max_network_cost"] == 999
    assert f["dialect_consistent"] is True and f["n_transports"] == 1 and f["n_701"] == 0
    same = session_features(_row(CHROME_PROXY, web="198.51.100.200"))
    assert same["srflx_web_mismatch"] is False


def test_features_dialect_consistency_with_the_claimed_browser():
    firefox = [_cand("candidate:0 1 UDP 2122252543 10.0.0.5 40000 typ host", 5.0)]
    assert session_features(_row(firefox, web="203.0.113.1", claimed="firefox"))["dialect_consistent"] is True
    assert session_features(_row(firefox, web="203.0.113.1", claimed="chrome"))["dialect_consistent"] is False
    assert session_features(_row(CHROME_PROXY, web="203.0.113.1", claimed="firefox"))["dialect_consistent"] is False
    f = session_features(_row(firefox, web="203.0.113.1", claimed="firefox"))
    assert f["has_private_host"] and f["host_address_classes"] == "private" and f["srflx_web_mismatch"] is None


def test_features_of_a_udp_blocked_stream_and_a_missing_api():
    blocked = CHROME_PROXY[:2] + [
        {"type": "icecandidateerror", "t": 39938.9, "address": "0.0.0.x", "port": 50000, "url": "stun:127.0.0.1:3478",
         "errorCode": 701, "errorText": "STUN binding request timed out."},
        {"type": "icegatheringstatechange", "t": 39942.7, "state": "complete"},
    ]
    f = session_features(_row(blocked, web="203.0.113.9"))
    assert (f["n_701"], f["n_errors"], f["n_srflx"], f["t_complete_ms"]) == (1, 1, 0, 39942.7)
    assert f["error_texts"] == "STUN binding request timed out." and f["srflx_port_preserved"] is None
    none = session_features(_row([], web="198.51.100.130", page_error="TypeError"))
    assert not none["webrtc_present"] and none["n_events"] == 0 and none["dialect_consistent"] is None
    assert none["completed"] is False and none["t_first_candidate_ms"] is None


def test_address_classes():
    assert [address_class(a) for a in (MDNS, "192.168.1.4", "100.70.1.2", "198.51.100.140", "203.0.113.10",
                                       "[2001:db8:100::5]", "11.22.33.44", None, "127.0.0.1")] == [
        "mdns", "private", "cgnat", "datacenter", "residential", "residential", "public", "none", "loopback"]


def test_auc():
    assert auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert auc([0, 1], [2, 3]) == 0.0
    assert auc([1, 1], [1, 1]) == 0.5
    assert auc([], [1]) is None


def test_plans_are_deterministic_and_follow_the_profile():
    library = load_library()
    mix = ProfileMix([(library["bot-residential-proxy-mismatch"], 1.0), (library["human-android-chrome-cgnat"], 3.0)])
    plans = [plan_session(mix, 7, i) for i in range(400)]
    again = [plan_session(mix, 7, i) for i in range(400)]
    assert plans == again
    assert plans != [plan_session(mix, 8, i) for i in range(400)]
    bots = [p for p in plans if p.profile.label == "bot"]
    assert 60 < len(bots) < 140  # weight 1 of 4
    for p in plans:
        iface = p.interfaces[0]
        spec = p.profile.interfaces[0]
        assert iface.address in spec.cidr and iface.default
        assert any(ipaddress.ip_address(p.public_v4) in n for n in p.profile.public_pool)
        if p.profile.label == "bot":
            assert p.web_address != p.public_v4
            assert any(ipaddress.ip_address(p.web_address) in n for n in p.profile.proxy_pool)
        else:
            assert p.web_address == p.public_v4 and iface.address in ipaddress.ip_network("100.64.0.0/10")
            assert "Android" in p.user_agent and f"Chrome/{p.browser_version}.0" in p.user_agent
    versions = {p.browser_version for p in plans if p.profile.label == "human"}
    assert versions == {"156", "155", "154"}  # drawn by the profile's weights
