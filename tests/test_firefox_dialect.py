"""FirefoxDialect as pure code: priorities, foundations, strings, errors, timers, the end of
gathering; every expected value is one a Firefox 153 capture shows (shared/captures F*,
tests/data/firefox)."""

from __future__ import annotations

import ipaddress
import json
import random
import re

import pytest

from icesim.config import ConfigError, Interface, parse_ice_url
from icesim.dialects import FirefoxDialect, get_dialect
from icesim.events import CandidateErrorEvent, CandidateEvent, GatheringStateChange, to_json_line

V4 = Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True)
V6 = Interface("eth0", ipaddress.ip_address("2001:db8:5::2"), "ethernet", default=True)
MDNS = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.local$")


def setup(servers=(), interfaces=(V4, V6), permission=False, seed=1):
    ff = FirefoxDialect()
    ident = ff.new_identity(random.Random(seed))
    plans = ff.plan_networks(list(interfaces), permission)
    ff.prepare(ident, plans, [parse_ice_url(s, username="test", credential="secret") for s in servers])
    return ff, ident, plans


def test_identity_is_8_and_32_hex() -> None:
    ident = FirefoxDialect().new_identity(random.Random(5))
    assert re.fullmatch(r"[0-9a-f]{8}", ident.ufrag) and re.fullmatch(r"[0-9a-f]{32}", ident.pwd)


def test_host_priorities_foundations_and_shared_mdns_names_as_in_F1() -> None:
    ff, ident, (p4, p6) = setup()
    h4 = ff.host_candidate(ident, p4, 41111, True, "0", 0)
    h6 = ff.host_candidate(ident, p6, 60553, True, "0", 0)
    t4 = ff.tcp_active_candidate(ident, p4, True, "0", 0)
    t6 = ff.tcp_active_candidate(ident, p6, True, "0", 0)
    name4, name6 = h4.address, h6.address
    assert MDNS.match(name4) and MDNS.match(name6) and name4 != name6
    assert h4.candidate == f"candidate:0 1 UDP 2122187007 {name4} 41111 typ host"
    assert h6.candidate == f"candidate:1 1 UDP 2122252543 {name6} 60553 typ host"
    assert t4.candidate == f"candidate:2 1 TCP 2105458943 {name4} 9 typ host tcptype active"
    assert t6.candidate == f"candidate:3 1 TCP 2105524479 {name6} 9 typ host tcptype active"
    assert (h4.protocol, t4.protocol, t4.tcpType, h4.usernameFragment) == ("udp", "tcp", "active", ident.ufrag)


def test_a_single_ipv4_interface_ranks_127() -> None:
    ff, ident, (p4,) = setup(["stun:203.0.113.2:3478", "turn:203.0.113.2:3478"], interfaces=(V4,))
    assert ff.host_candidate(ident, p4, 1, True, "0", 0).priority == 2122252543
    srflx = ff.srflx_candidate(ident, p4, 1, ("203.0.113.1", 5), parse_ice_url("stun:203.0.113.2:3478"), True, "0", 0)
    assert srflx.priority == 1686052863
    relay = ff.relay_candidate(ident, p4, ("203.0.113.2", 50000), ("203.0.113.1", 5),
                               parse_ice_url("turn:203.0.113.2:3478", username="test", credential="secret"), 0, "0", 0)
    assert relay.priority == 92217343 - 256  # stun priority 30: the TURN server has id 1


def test_foundations_follow_creation_order_with_stun_and_turn_as_in_F8c_and_F3d() -> None:
    ff, ident, (p4, p6) = setup(["turn:203.0.113.2:3478?transport=udp"])
    turn = parse_ice_url("turn:203.0.113.2:3478?transport=udp", username="test", credential="secret")
    srflx = ff.srflx_candidate(ident, p4, 51269, ("203.0.113.1", 12646), turn, True, "0", 0)
    relay = ff.relay_candidate(ident, p4, ("203.0.113.2", 50085), ("203.0.113.1", 12646), turn, 0, "0", 0)
    assert srflx.candidate == "candidate:1 1 UDP 1685987327 203.0.113.1 12646 typ srflx raddr 0.0.0.0 rport 0"
    assert relay.candidate == "candidate:2 1 UDP 92151807 203.0.113.2 50085 typ relay raddr 203.0.113.2 rport 50085"
    assert ff.host_candidate(ident, p6, 1, True, "0", 0).foundation == "3"
    assert ff.tcp_active_candidate(ident, p6, True, "0", 0).foundation == "5"
    ff, ident, (p4, p6) = setup(["stun:203.0.113.2:3478"])  # F3d: hosts 0, 2; srflx 1; TCP 3, 4
    assert [ff.host_candidate(ident, p, 1, True, "0", 0).foundation for p in (p4, p6)] == ["0", "2"]
    assert ff.tcp_active_candidate(ident, p4, True, "0", 0).foundation == "3"


def test_two_stun_and_a_turn_server_share_foundations_by_address_and_number_ids() -> None:
    """two_stun_turn: relay candidate:3 priority 92151295 (stun priority 31 - id 2)."""
    ff, ident, (p4, p6) = setup(["stun:203.0.113.2:3478", "stun:198.51.100.1:3478", "turn:203.0.113.2:3478?transport=udp"])
    turn = parse_ice_url("turn:203.0.113.2:3478?transport=udp", username="test", credential="secret")
    relay = ff.relay_candidate(ident, p4, ("203.0.113.2", 50046), ("198.51.100.2", 1), turn, 0, "0", 0)
    assert (relay.foundation, relay.priority) == ("3", 92151295)
    assert ff.srflx_candidate(ident, p4, 1, ("198.51.100.2", 1), turn, True, "0", 0).foundation == "1"
    assert ff.host_candidate(ident, p6, 1, True, "0", 0).foundation == "4"
    assert ff.start_offset_ms(ident, p4, turn) == 42.0  # third started transaction: first start + 2 x Ta


def test_turn_tcp_relay_says_udp_with_relayed_tcp_priority_as_in_turn_tcp() -> None:
    ff, ident, (p4, p6) = setup(["turn:203.0.113.2:3478?transport=tcp"])
    turn = parse_ice_url("turn:203.0.113.2:3478?transport=tcp", username="test", credential="secret")
    relay = ff.relay_candidate(ident, p4, ("203.0.113.2", 50100), ("198.51.100.2", 1), turn, 0, "0", 0)
    assert relay.candidate == "candidate:3 1 UDP 8265727 203.0.113.2 50100 typ relay raddr 203.0.113.2 rport 50100"
    assert ff.tcp_active_candidate(ident, p6, True, "0", 0).foundation == "4"


def test_ipv6_srflx_raddr_is_0_0_0_0_and_raw_ips_without_mdns() -> None:
    ff, ident, (p4, p6) = setup(["stun:[2001:db8:5::1]:3478"])
    stun6 = parse_ice_url("stun:[2001:db8:5::1]:3478")
    srflx = ff.srflx_candidate(ident, p6, 60827, ("2001:db8:5::2", 60827), stun6, True, "0", 0)
    assert srflx.candidate == "candidate:2 1 UDP 1686052863 2001:db8:5::2 60827 typ srflx raddr 0.0.0.0 rport 0"
    assert srflx.address == "2001:db8:5::2"  # not bracketed
    assert ff.host_candidate(ident, p6, 7, False, "0", 0).candidate == "candidate:1 1 UDP 2122252543 2001:db8:5::2 7 typ host"


def test_candidate_json_has_no_relay_protocol_or_url_at_all() -> None:
    ff, ident, (p4, _) = setup()
    line = json.loads(to_json_line(CandidateEvent(t=1.0, candidate=ff.host_candidate(ident, p4, 1, True, "0", 0))))
    assert "relayProtocol" not in line["candidate"] and "url" not in line["candidate"]
    assert line["candidate"]["relatedAddress"] is None and line["candidate"]["tcpType"] is None


def test_errors_have_empty_text_null_address_and_firefox_urls() -> None:
    ff, ident, (p4, _) = setup()
    turn_udp = parse_ice_url("turn:203.0.113.2:3478?transport=udp", username="u", credential="c")
    turn_tcp = parse_ice_url("turn:203.0.113.2:3999?transport=tcp", username="u", credential="c")
    e = ff.turn_error(5.0, p4, 1, turn_udp, "unauthorized", reason="Unauthorized")
    assert (e.url, e.errorCode, e.errorText, e.address, e.port) == ("turn:203.0.113.2:3478", 401, "", None, None)
    assert ff.turn_error(5.0, p4, 1, turn_tcp, "connect_failed").url == "turn:203.0.113.2:3999?transport=tcp"
    stun = ff.stun_error(9.0, p4, 1, parse_ice_url("stun:nx.test:3478"), "dns")
    assert (stun.url, stun.errorCode, stun.errorText) == ("stun:nx.test:3478", 701, "")
    assert "hostCandidate" not in json.loads(to_json_line(stun))


def test_loopback_servers_are_refused_before_gathering() -> None:
    ff = FirefoxDialect()
    rng = random.Random(1)
    e = ff.refused_server_error(parse_ice_url("turn:127.0.0.1:3478", username="u", credential="c"), 57.0, rng)
    assert isinstance(e, CandidateErrorEvent) and (e.t, e.url, e.errorCode, e.errorText) == (57.0, "turn:127.0.0.1:3478", 701, "")
    assert ff.refused_server_error(parse_ice_url("stun:[::1]:3478"), 57.0, rng) is not None
    assert ff.refused_server_error(parse_ice_url("stun:203.0.113.2:3478"), 57.0, rng) is None


def test_retransmits_100ms_doubling_7_sends_and_701_after_11_1_s() -> None:
    sched = FirefoxDialect().retransmit_schedule(random.Random(3))
    gaps = [b - a for a, b in zip(sched.send_offsets_ms, sched.send_offsets_ms[1:])]
    assert len(sched.send_offsets_ms) == 7
    assert [round(g, -2) for g in gaps] == [100, 200, 400, 800, 1600, 3200]
    assert 11090 <= sched.timeout_ms <= 11110


def test_end_of_gathering_is_marker_complete_null() -> None:
    ff, ident, _ = setup()
    (marker,) = ff.transport_done_events(ident, 80.0, "0", 0)
    complete, null = ff.completion_events(ident, 80.0, lambda b: b[1], "0", 0)
    assert isinstance(complete, GatheringStateChange) and complete.state == "complete" and null.candidate is None
    line = json.loads(to_json_line(marker))["candidate"]
    assert line == {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0, "foundation": None, "component": None,
                    "priority": None, "address": None, "protocol": None, "port": None, "type": None,
                    "tcpType": None, "relatedAddress": None, "relatedPort": None, "usernameFragment": ident.ufrag}
    assert marker.t <= complete.t <= null.t


def test_default_address_only_without_permission() -> None:
    wifi = Interface("wlan0", ipaddress.ip_address("203.0.113.9"), "wifi")
    ff = FirefoxDialect()
    assert [p.bind_address for p in ff.plan_networks([V4, wifi, V6], False)] == ["198.51.100.2", "2001:db8:5::2"]
    plans = ff.plan_networks([V4, wifi, V6], True)
    assert {p.bind_address: p.preference for p in plans} == {"2001:db8:5::2": 127, "198.51.100.2": 126, "203.0.113.9": 125}


@pytest.mark.parametrize("spec", ["firefox@1", "firefox@", "firefox@x"])
def test_bad_firefox_versions(spec: str) -> None:
    with pytest.raises(ConfigError, match="--browser"):
        get_dialect(spec)


def test_tcp_relay_ids_do_not_count_the_stun_servers() -> None:
    """Conformance suite, mixed scenario (Firefox 153 ESR): with STUN + TURN/UDP + TURN/TCP the
    UDP relay has stun priority 30 (92151551) and the TCP relay still 31 (8265727)."""
    ff, ident, (p4, _) = setup(["stun:203.0.113.2:3478", "turn:203.0.113.2:3478?transport=udp",
                                "turn:203.0.113.2:3478?transport=tcp"])
    udp, tcp = (parse_ice_url(u, username="test", credential="secret")
                for u in ("turn:203.0.113.2:3478?transport=udp", "turn:203.0.113.2:3478?transport=tcp"))
    relay_udp = ff.relay_candidate(ident, p4, ("203.0.113.2", 5), ("203.0.113.1", 6), udp, 0, "0", 0)
    relay_tcp = ff.relay_candidate(ident, p4, ("203.0.113.2", 7), ("203.0.113.1", 8), tcp, 0, "0", 0)
    assert (relay_udp.priority, relay_tcp.priority) == (92151551, 8265727)


def test_relay_only_numbers_relays_only_and_keeps_their_raddr() -> None:
    """Conformance suite, relay_only (Firefox 153 ESR, iceTransportPolicy relay with STUN +
    TURN/UDP + TURN/TCP): foundations 0 and 1, priorities 92151807 and 8265727, raddr = relay."""
    ff = FirefoxDialect()
    policy = ff.gather_policy("default", False, True, "relay")
    assert not policy.mask_related and policy.signalled == frozenset({"relay"})
    ident = ff.new_identity(random.Random(1))
    (p4, p6) = ff.plan_networks([V4, V6], False)
    urls = ["stun:203.0.113.2:3478", "turn:203.0.113.2:3478?transport=udp", "turn:203.0.113.2:3478?transport=tcp"]
    servers = [parse_ice_url(u, username="test", credential="secret") for u in urls]
    ff.prepare(ident, [p4, p6], servers, policy)
    udp = ff.relay_candidate(ident, p4, ("203.0.113.2", 5), ("203.0.113.1", 6), servers[1], 0, "0", 0)
    tcp = ff.relay_candidate(ident, p4, ("203.0.113.2", 7), ("203.0.113.1", 8), servers[2], 0, "0", 0)
    assert udp.candidate == "candidate:0 1 UDP 92151807 203.0.113.2 5 typ relay raddr 203.0.113.2 rport 5"
    assert tcp.candidate == "candidate:1 1 UDP 8265727 203.0.113.2 7 typ relay raddr 203.0.113.2 rport 7"


# ---------------------------------------------------------------------------------------------
# The RTCPeerConnection constructor (captures turn_nocred, turn_port22)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "username", "credential", "name", "message"), [
    ("turn:203.0.113.2:3478", None, None, "InvalidAccessError", "TURN server requires a username"),  # turn_nocred
    ("turn:203.0.113.2:3478", "test", None, "InvalidAccessError", "TURN server requires a credential"),
    ("turn:203.0.113.2:22?transport=udp", "test", "secret", "SyntaxError",  # turn_port22
     "'turn:203.0.113.2:22?transport=udp' uses a port that is blocked"),
    ("stun:[2001:db8:5::1]:25", None, None, "SyntaxError", "'stun:[2001:db8:5::1]:25' uses a port that is blocked"),
])
def test_constructor_refuses_as_firefox_does(url, username, credential, name, message):
    server = parse_ice_url(url, username=username, credential=credential)
    assert FirefoxDialect().constructor_error([server]) == (server, name, "PeerConnectionImpl.setConfiguration: " + message)


def test_constructor_accepts_empty_credentials_and_ordinary_ports():
    ok = [parse_ice_url("turn:203.0.113.2:3478", username="", credential=""), parse_ice_url("stun:203.0.113.2:3478"),
          parse_ice_url("turn:203.0.113.2:443?transport=tcp", username="a", credential="b")]
    assert FirefoxDialect().constructor_error(ok) is None


def test_gather_config_refuses_with_firefox_text():
    from icesim.config import ConstructorRefusal, GatherConfig

    config = GatherConfig(browser="firefox", servers=[parse_ice_url("turn:203.0.113.2:3478")])
    with pytest.raises(ConstructorRefusal) as info:
        config.validate()
    assert info.value.exception_name == "InvalidAccessError"
    assert info.value.exception_message == "PeerConnectionImpl.setConfiguration: TURN server requires a username"
    assert "Both username and credential" not in str(info.value)  # not Chrome's text


def test_relay_only_without_turn_skips_the_gathering_state():
    ff = FirefoxDialect()
    relay = ff.gather_policy("default", False, True, "relay")
    assert ff.skips_gathering_state(relay, []) is True
    assert ff.skips_gathering_state(relay, [parse_ice_url("turn:203.0.113.2:3478", username="a", credential="b")]) is False
    assert ff.skips_gathering_state(ff.gather_policy("default", False, True, "all"), []) is False


def test_tcp_turn_starts_later_when_a_udp_turn_is_listed():
    """turn_tcp: the TCP phase ~18 ms; proxy_udp_blocked (a TURN/UDP listed too): ~81 ms."""
    tcp = "turn:203.0.113.2:3478?transport=tcp"
    ff, ident, plans = setup([tcp])
    alone = ff.start_offset_ms(ident, plans[0], parse_ice_url(tcp, username="test", credential="secret"))
    ff, ident, plans = setup(["turn:203.0.113.2:3478?transport=udp", tcp])
    after_udp = ff.start_offset_ms(ident, plans[0], parse_ice_url(tcp, username="test", credential="secret"))
    assert 17 <= alone <= 19 and 80 <= after_udp <= 82
