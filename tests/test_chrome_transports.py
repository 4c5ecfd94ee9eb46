"""ChromeDialect's pure rules for policies, transports, the candidate pool and the final
localDescription, checked against the Chromium 156 captures of tests/data/chromium156
(P*, R*, M*, Q*) and shared/captures (S1, S2, S8). No sockets."""

from __future__ import annotations

import ipaddress
import json
import random
import re
from pathlib import Path

import pytest

from icesim.config import ConfigError, GatherConfig, Interface, parse_ice_url, parse_media
from icesim.dialects import ChromeDialect
from icesim.dialects.base import GatherIdentity, GatherPolicy, MediaSection
from icesim.dialects.chrome_sdp import default_destination, sdp_candidate_line
from icesim.events import IceCandidate

DATA = Path(__file__).parent / "data" / "chromium156"
SHARED = Path("/work/shared/captures")
ALL = frozenset({"host", "srflx", "prflx", "relay"})
ETH = Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True)


def capture(name: str) -> dict:
    path = DATA / f"{name}.json"
    if not path.exists():
        path = SHARED / f"{name}.json"
        if not path.exists():
            pytest.skip(f"capture {name} not available")
        return json.loads(path.read_text())["page"]
    return json.loads(path.read_text())


def captured_candidates(page: dict) -> list[IceCandidate]:
    fields = IceCandidate.__dataclass_fields__
    return [
        IceCandidate(**{k: v for k, v in e["candidate"].items() if k in fields})
        for e in page["events"] if e["kind"] == "icecandidate" and e.get("candidate")
    ]


# --- IP handling policy x permission x iceTransportPolicy --------------------------------------

@pytest.mark.parametrize("permission", [False, True])
def test_policies(chrome: ChromeDialect, permission: bool) -> None:
    default = chrome.gather_policy("default", permission, True, "all")
    assert (default.enumerate, default.mdns, default.host, default.udp) == (permission, not permission, True, True)
    # Under the other policies the permission no longer matters (captures P1g-P3g = P1-P3).
    pubpriv = chrome.gather_policy("default_public_and_private_interfaces", permission, True, "all")
    assert (pubpriv.enumerate, pubpriv.mdns, pubpriv.host, pubpriv.udp) == (False, False, True, True)
    pubonly = chrome.gather_policy("default_public_interface_only", permission, True, "all")
    assert (pubonly.enumerate, pubonly.mdns, pubonly.host, pubonly.udp) == (False, True, False, True)
    noudp = chrome.gather_policy("disable_non_proxied_udp", permission, True, "all")
    assert (noudp.enumerate, noudp.host, noudp.udp) == (False, False, False)
    for p in (default, pubpriv, pubonly, noudp):
        assert p.signalled == ALL and not p.mask_related


def test_mdns_off_under_default_policy(chrome: ChromeDialect) -> None:
    assert not chrome.gather_policy("default", False, False, "all").mdns


def test_relay_transport_policy(chrome: ChromeDialect) -> None:
    p = chrome.gather_policy("default", False, True, "relay")
    assert p.signalled == {"relay"} and p.mask_related and p.udp  # still gathered (R1: STUN 701s fire)


def test_unknown_policy_refused(chrome: ChromeDialect) -> None:
    with pytest.raises(ValueError):
        chrome.gather_policy("nope", False, True, "all")


# --- candidate filter, relay raddr masking, pooled priorities ----------------------------------

def test_surface_relay_only_masks_related_address(chrome: ChromeDialect) -> None:
    """R1: the TURN/UDP relay arrives as `raddr 0.0.0.0 rport 0`, host/srflx not at all."""
    page = capture("P0_policy_default_all")  # the same servers without the relay filter
    cands = captured_candidates(page)
    policy = chrome.gather_policy("default", False, True, "relay")
    surfaced = [chrome.surface(c, policy, pooled=False) for c in cands]
    kept = [s for s in surfaced if s is not None]
    assert [c.type for c in kept] == [c.type for c in cands if c.type == "relay"] and kept
    for before, after in zip([c for c in cands if c.type == "relay"], kept):
        assert (after.relatedAddress, after.relatedPort) == ("0.0.0.0", 0)
        assert after.candidate == re.sub(r"raddr \S+ rport \d+", "raddr 0.0.0.0 rport 0", before.candidate)
        assert after.priority == before.priority


def test_surface_hides_host_when_policy_says(chrome: ChromeDialect) -> None:
    host = captured_candidates(capture("P1_policy_pubpriv_all"))[0]
    assert host.type == "host"
    assert chrome.surface(host, chrome.gather_policy("default_public_interface_only", False, True, "all"), False) is None
    assert chrome.surface(host, chrome.gather_policy("default", False, True, "all"), False) is host


def test_surface_pooled_priorities_match_capture_q2(chrome: ChromeDialect) -> None:
    """Q2: mid 0 took the pooled session; mid 1 gathered fresh with the same servers. The
    pooled priorities are the fresh ones computed for component 0 (ORed 256)."""
    cands = captured_candidates(capture("Q2_pool1_avd_lead500"))
    policy = GatherPolicy(enumerate=False, mdns=True, host=True, udp=True)
    fresh = {(c.type, c.foundation): c for c in cands if c.sdpMid == "1"}
    pooled = [c for c in cands if c.sdpMid == "0"]
    assert {c.priority for c in pooled} == {2113937152, 1677729536, 2113939712, 50339584}
    for c in pooled:
        twin = fresh[(c.type, c.foundation)]
        made = chrome.surface(twin, policy, pooled=True)
        assert made is not None and made.priority == c.priority
        assert made.candidate.split(" ")[3] == str(c.priority)


# --- transports per bundle policy and pool ----------------------------------------------------

def test_media_sections_per_bundle_policy(chrome: ChromeDialect) -> None:
    media = ("audio", "video", "data")
    for policy in ("balanced", "max-compat"):
        assert chrome.media_sections(media, policy) == [
            MediaSection("audio", "0", "0"), MediaSection("video", "1", "1"), MediaSection("data", "2", "2"),
        ]
    assert chrome.media_sections(media, "max-bundle") == [
        MediaSection("audio", "0", "0"), MediaSection("video", "1", None), MediaSection("data", "2", None),
    ]


def test_transports_and_pool(chrome: ChromeDialect) -> None:
    sections = chrome.media_sections(("audio", "video", "data"), "balanced")
    plans = chrome.transports(sections, pool_size=1)
    assert [(t.mid, t.mline, t.pooled) for t in plans] == [("0", 0, True), ("1", 1, False), ("2", 2, False)]
    assert [t.pooled for t in chrome.transports(sections, pool_size=5)] == [True] * 3
    bundled = chrome.transports(chrome.media_sections(("audio", "video", "data"), "max-bundle"), 0)
    assert [(t.mid, t.mline) for t in bundled] == [("0", 0)]


def test_parse_media() -> None:
    assert parse_media("data") == ("data",)
    assert parse_media("data,video, audio") == ("audio", "video", "data")  # Chrome's m-line order
    for bad in ("", "data,data", "audio,screen", ","):
        with pytest.raises(ConfigError) as exc:
            parse_media(bad)
        assert exc.value.field_name == "--media"


@pytest.mark.parametrize("field,value,option", [
    ("ip_policy", "nope", "--policy"), ("ice_transport_policy", "none", "--ice-transport-policy"),
    ("bundle_policy", "max", "--bundle-policy"), ("pool_size", 256, "--pool-size"),
    ("pool_size", -1, "--pool-size"), ("pool_lead_ms", -5.0, "--pool-lead"), ("media", (), "--media"),
])
def test_config_refuses(field: str, value: object, option: str) -> None:
    config = GatherConfig(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as exc:
        config.validate()
    assert exc.value.field_name == option


# --- the local description ---------------------------------------------------------------------

def _ident_from(sdp: str) -> GatherIdentity:
    ufrag = re.search(r"a=ice-ufrag:(\S+)", sdp).group(1)  # type: ignore[union-attr]
    pwd = re.search(r"a=ice-pwd:(\S+)", sdp).group(1)  # type: ignore[union-attr]
    return GatherIdentity(ufrag=ufrag, pwd=pwd, tiebreaker=1, rng=random.Random(1))


def _mask_random(sdp: str) -> str:
    sdp = re.sub(r"o=- \d+ ", "o=- ID ", sdp)
    return re.sub(r"a=fingerprint:sha-256 [0-9A-F:]+", "a=fingerprint:sha-256 FP", sdp)


@pytest.mark.parametrize("name,media,bundle", [
    ("S1_chromium_host_mdns", ("data",), "balanced"),
    ("S2_chromium_host_nomdns", ("data",), "balanced"),
    ("S8_chromium_turn_udp", ("data",), "balanced"),
    ("M1_avd_balanced", ("audio", "video", "data"), "balanced"),
    ("M2_avd_maxbundle", ("audio", "video", "data"), "max-bundle"),
    ("M7_avd_maxbundle_turn_nomdns", ("audio", "video", "data"), "max-bundle"),
    ("M8_data_maxbundle", ("data",), "max-bundle"),
    ("S3a_chromium_stun_ip", ("data",), "balanced"),
    ("S3d_chromium_stun_nat", ("data",), "balanced"),
    ("S7_chromium_turn_udp_badcred", ("data",), "balanced"),
    ("M5_avd_nomdns", ("audio", "video", "data"), "balanced"),
    ("M3_avd_maxcompat", ("audio", "video", "data"), "max-compat"),
    ("M6_avd_gum_turn", ("audio", "video", "data"), "balanced"),
    ("P2g_policy_pubonly_gum", ("data",), "balanced"),
    ("R1g_relay_gum", ("data",), "balanced"),
    ("Q1_pool1_lead500", ("data",), "balanced"),
    ("P1_policy_pubpriv_all", ("data",), "balanced"),
    ("R1_relay_all_nx", ("data",), "balanced"),
    ("M4_av_turn_balanced", ("audio", "video"), "balanced"),
    ("P3_policy_noudp_all", ("data",), "balanced"),
    ("R2_relay_stun_only", ("data",), "balanced"),
    ("Q2_pool1_avd_lead500", ("audio", "video", "data"), "balanced"),
])
def test_local_description_reproduces_capture(chrome: ChromeDialect, name: str, media, bundle: str) -> None:
    """The whole SDP, byte for byte, from the candidates the page saw; only the session id and
    the certificate fingerprint (random in the browser too) are masked."""
    page = capture(name)
    want = page["localDescription"]
    want = want["sdp"] if isinstance(want, dict) else want
    by_mid: dict[str, list[IceCandidate]] = {}
    for c in captured_candidates(page):
        by_mid.setdefault(c.sdpMid or "", []).append(c)
    got = chrome.local_description(_ident_from(want), chrome.media_sections(media, bundle), by_mid)
    assert _mask_random(got) == _mask_random(want)


def test_local_description_seeded_values_are_stable(chrome: ChromeDialect) -> None:
    ident = chrome.new_identity(random.Random(5))
    sections = chrome.media_sections(("data",), "balanced")
    a = chrome.local_description(ident, sections, {})
    assert a == chrome.local_description(ident, sections, {})
    assert re.search(r"^o=- \d{1,19} 2 IN IP4 127\.0\.0\.1\r$", a, re.M)
    assert re.search(r"^a=fingerprint:sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\r$", a, re.M)
    assert "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n" in a


def _cand(type_: str, address: str, port: int, protocol: str = "udp") -> IceCandidate:
    return IceCandidate(candidate=f"candidate:1 1 {protocol} 1 {address} {port} typ {type_} generation 0 ufrag abcd",
                        sdpMid="0", sdpMLineIndex=0, address=address, port=port, type=type_, protocol=protocol)


def test_default_destination_rules() -> None:
    mdns = _cand("host", "0b5d8f2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b.local", 1000)
    assert default_destination([mdns]) == ("IP4", "0.0.0.0", 9)
    srflx4 = _cand("srflx", "127.0.0.1", 1001)
    assert default_destination([mdns, mdns, srflx4]) == ("IP4", "127.0.0.1", 1001)  # M1, S3d
    assert default_destination([mdns, srflx4, mdns]) == ("IP4", "0.0.0.0", 9)  # S3a, M8
    assert default_destination([srflx4, mdns]) == ("IP4", "0.0.0.0", 9)  # S7, M2
    v6 = _cand("srflx", "[2001:db8::5]", 2000)
    v4 = _cand("host", "198.51.100.2", 3000)
    assert default_destination([v6]) == ("IP6", "2001:db8::5", 2000)
    assert default_destination([v6, v4]) == ("IP4", "198.51.100.2", 3000)  # IPv4 replaces IPv6
    relay = _cand("relay", "203.0.113.9", 4000)
    srflx = _cand("srflx", "203.0.113.8", 5000)
    assert default_destination([v4, relay, srflx]) == ("IP4", "203.0.113.9", 4000)
    assert default_destination([srflx, _cand("srflx", "203.0.113.7", 6000)])[2] == 5000  # first of equals
    assert default_destination([_cand("host", "198.51.100.2", 9, "tcp")]) == ("IP4", "0.0.0.0", 9)


def test_sdp_candidate_line_drops_ufrag() -> None:
    c = _cand("host", "198.51.100.2", 3000)
    assert sdp_candidate_line(c) == "a=candidate:1 1 udp 1 198.51.100.2 3000 typ host generation 0"


@pytest.mark.parametrize("name", ["G_two_turn", "P0_policy_default_all", "P1_policy_pubpriv_all", "P3_policy_noudp_all",
                                  "R1_relay_all_nx", "R1g_relay_gum"])
def test_tcp_relay_foundation_is_constant(chrome: ChromeDialect, name: str) -> None:
    """Captured in six runs: the TURN/TCP relay's foundation never changes (tiebreaker 0)."""
    (tcp,) = [c for c in captured_candidates(capture(name)) if c.relayProtocol == "tcp"]
    assert tcp.foundation == "1797656238"
    for seed in (1, 2):
        for plan in chrome.plan_networks([ETH], permission=seed == 2):
            server = parse_ice_url("turn:127.0.0.1:3478?transport=tcp", username="u", credential="p")
            made = chrome.relay_candidate(chrome.new_identity(random.Random(seed)), plan, ("127.0.0.1", 50000),
                                          ("127.0.0.1", 40000), server, 1, "0", 0)
            assert made.foundation == "1797656238"
