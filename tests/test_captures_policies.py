"""icesim reproduces the Chromium 156 captures of IP handling policies, iceTransportPolicy
relay and the candidate pool (tests/data/chromium156, third batch) on loopback: coturn
stands in for the capture's, the capture's interfaces are given, and the streams are compared
field for field with test_captures.compare_streams (only what is random in the browser too
is masked). Several-transport captures (M*) are checked in test_engine_transports.py and
test_chrome_transports.py, since their mDNS names are shared across transports."""

from __future__ import annotations

import pytest

from capture_shapes import first, load156, rel_t, run156
from icesim.config import Faults, parse_resolve
from test_captures import compare_streams, hostport
from test_captures_chromium156 import _coturn_url

NX_FAULT = Faults(resolve=(parse_resolve("nx.test=NXDOMAIN"),))

CASES = [
    # name, options, labels whose order relative to others is not a rule (independent sockets)
    ("P1_policy_pubpriv_all", {"ip_policy": "default_public_and_private_interfaces"}, ("relay",)),
    ("P1g_policy_pubpriv_gum", {"ip_policy": "default_public_and_private_interfaces", "permission": True}, ("relay",)),
    ("P2_policy_pubonly_all", {"ip_policy": "default_public_interface_only"}, ("relay",)),
    ("P2g_policy_pubonly_gum", {"ip_policy": "default_public_interface_only", "permission": True}, ("relay",)),
    ("P3_policy_noudp_all", {"ip_policy": "disable_non_proxied_udp"}, ()),
    ("P3g_policy_noudp_gum", {"ip_policy": "disable_non_proxied_udp", "permission": True}, ()),
    ("P3s_policy_noudp_stun", {"ip_policy": "disable_non_proxied_udp"}, ()),
    ("R1_relay_all_nx", {"ice_transport_policy": "relay", "faults": NX_FAULT}, ("relay", "error")),
    ("R2_relay_stun_only", {"ice_transport_policy": "relay", "faults": NX_FAULT}, ()),
    ("Q1_pool1_lead500", {"pool_size": 1, "pool_lead_ms": 500, "faults": NX_FAULT}, ()),
    ("Q3_pool0_lead500", {"faults": NX_FAULT}, ("error",)),
]


def _servers(coturn, cap):
    return [s if s.host == "nx.test" else _coturn_url(coturn, s) for s in cap.servers]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name,options,unordered", CASES, ids=[c[0] for c in CASES])
async def test_policy_capture(coturn, name, options, unordered, seed):
    cap = load156(name)
    servers = _servers(coturn, cap)
    got = await run156(servers, seed=seed, **options)
    server = next((s for s in servers if s.host != "nx.test"), None)
    cap_server = next((s for s in cap.servers if s.host != "nx.test"), None)
    compare_streams(got, cap.lines, server and hostport(server), cap_server and hostport(cap_server), unordered=unordered)


async def test_relay_only_raddr_zero_in_both(coturn):
    cap = load156("R1_relay_all_nx")
    got = await run156(_servers(coturn, cap), seed=1, ice_transport_policy="relay", faults=NX_FAULT)
    for lines in (got, cap.lines):
        relay = first(lines, "relay udp")["candidate"]
        assert (relay["relatedAddress"], relay["relatedPort"]) == ("0.0.0.0", 0)


TRANSPORT_CASES = [
    ("M1_avd_balanced", {"media": ("audio", "video", "data")}),
    ("M3_avd_maxcompat", {"media": ("audio", "video", "data"), "bundle_policy": "max-compat"}),
    ("M5_avd_nomdns", {"media": ("audio", "video", "data"), "mdns": False}),
    ("M2_avd_maxbundle", {"media": ("audio", "video", "data"), "bundle_policy": "max-bundle"}),
    ("M7_avd_maxbundle_turn_nomdns", {"media": ("audio", "video", "data"), "bundle_policy": "max-bundle", "mdns": False}),
    ("M8_data_maxbundle", {"bundle_policy": "max-bundle"}),
    ("M4_av_turn_balanced", {"media": ("audio", "video")}),
    # M6 (permission) is left out: its sockets bind the capture's 198.51.100.2, which this
    # machine lacks, so the engine's srflx/relay raddr differ (see test_b2_permission_turn_udp).
    ("Q2_pool1_avd_lead500", {"media": ("audio", "video", "data"), "pool_size": 1, "pool_lead_ms": 500}),
]


def _transport_view(lines: list[dict], mid: str) -> list[dict]:
    """One transport's candidates with the connection's state events and null candidate."""
    return [x for x in lines if x["type"] != "icecandidate" or x["candidate"] is None or x["candidate"]["sdpMid"] == mid]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name,options", TRANSPORT_CASES, ids=[c[0] for c in TRANSPORT_CASES])
async def test_transport_capture(coturn, name, options, seed):
    """Per transport, the same events field for field; the same mids; names shared across
    transports as in the capture (one per address family)."""
    cap = load156(name)
    servers = _servers(coturn, cap)
    got = await run156(servers, seed=seed, **options)
    mids = lambda lines: sorted({x["candidate"]["sdpMid"] for x in lines  # noqa: E731
                                 if x["type"] == "icecandidate" and x["candidate"]})
    assert mids(got) == mids(cap.lines)
    server, cap_server = servers[0], cap.servers[0]
    for mid in mids(cap.lines):
        compare_streams(_transport_view(got, mid), _transport_view(cap.lines, mid), hostport(server),
                        hostport(cap_server), unordered=("relay",))
    for lines in (got, cap.lines):
        names = {x["candidate"]["address"] for x in lines if x["type"] == "icecandidate" and x["candidate"]
                 and x["candidate"]["address"].endswith(".local")}
        assert len(names) in (0, 2)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_no_udp_completion_times(coturn, seed):
    """disable_non_proxied_udp: with STUN only "complete" ~100-111 ms after "gathering" (P3s,
    R_policy_no_udp); with a TCP relay ~60 ms after it (P3 +59.9, P3g +58.9)."""
    stun_only = await run156([_coturn_url(coturn, load156("P3s_policy_noudp_stun").servers[0])], seed=seed,
                             ip_policy="disable_non_proxied_udp")
    assert 99.0 <= rel_t(stun_only, first(stun_only, "complete")) <= 113.0
    cap = load156("P3_policy_noudp_all")
    got = await run156(_servers(coturn, cap), seed=seed, ip_policy="disable_non_proxied_udp")
    for lines in (got, cap.lines):
        settle = first(lines, "complete")["t"] - first(lines, "relay udp")["t"]
        assert 58.0 <= settle <= 65.0, settle
