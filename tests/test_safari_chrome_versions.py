"""SafariDialect (source reading only) and the Chrome version rules, as pure code."""

from __future__ import annotations

import ipaddress
import json
import random

import pytest

from icesim.config import ConfigError, Interface, parse_ice_url
from icesim.dialects import ChromeDialect, SafariDialect, get_dialect
from icesim.dialects.base import NetworkPlan
from icesim.events import CandidateEvent, GatheringStateChange, to_json_line

V4 = Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True)
V6 = Interface("eth0", ipaddress.ip_address("2001:db8:5::2"), "ethernet", default=True)
WIFI = Interface("wlan0", ipaddress.ip_address("203.0.113.9"), "wifi")
ANY4 = NetworkPlan(key="any4", family=4, bind_address="0.0.0.0", host_address=V4.address, adapter_type="any",
                   network_id=0, network_cost=999, preference=0, any_address=True)
TURN = parse_ice_url("turn:127.0.0.1:3478?transport=udp", username="test", credential="secret")


# --- Safari ---------------------------------------------------------------------------------
def test_safari_gathers_on_default_route_networks_with_real_id_and_cost() -> None:
    safari = SafariDialect()
    plans = safari.plan_networks([V4, WIFI, V6], permission=False)
    assert [(p.bind_address, p.network_id, p.preference, p.tcp_active) for p in plans] == [
        ("198.51.100.2", 1, 126, False), ("2001:db8:5::2", 3, 127, False),
    ]
    ident = safari.new_identity(random.Random(2))
    host = safari.host_candidate(ident, plans[0], 5000, True, "0", 0)
    assert host.candidate.startswith("candidate:") and " udp 2122194687 " in host.candidate
    assert host.candidate.endswith(f" 5000 typ host generation 0 ufrag {ident.ufrag} network-id 1")
    assert host.address.endswith(".local") and "198.51.100.2" not in host.candidate


def test_safari_mdns_name_is_fresh_per_registration() -> None:
    safari = SafariDialect()
    ident = safari.new_identity(random.Random(2))
    assert safari.mdns_name(ident, V4.address) != safari.mdns_name(ident, V4.address)


def test_safari_srflx_raddr_masked_and_no_relay_protocol_url_or_host_candidate() -> None:
    safari = SafariDialect()
    plan = safari.plan_networks([V4], False)[0]
    ident = safari.new_identity(random.Random(2))
    srflx = safari.srflx_candidate(ident, plan, 5000, ("203.0.113.1", 7), parse_ice_url("stun:203.0.113.2:3478"), True, "0", 0)
    assert " raddr 0.0.0.0 rport 0 " in srflx.candidate
    line = json.loads(to_json_line(CandidateEvent(t=1, candidate=srflx)))["candidate"]
    assert "url" not in line and "relayProtocol" not in line
    err = safari.stun_error(3.0, plan, 5000, parse_ice_url("stun:203.0.113.2:3478"), "timeout")
    assert err.errorText == "STUN binding request timed out." and "hostCandidate" not in json.loads(to_json_line(err))


@pytest.mark.parametrize("url", ["stun:printer.local:3478", "stun:203.0.113.2:5060", "turn:203.0.113.2:22?transport=tcp"])
def test_safari_refuses_local_names_and_blocked_ports_at_once(url: str) -> None:
    server = parse_ice_url(url, username="u", credential="c")
    err = SafariDialect().refused_server_error(server, 30.0, random.Random(1))
    assert err is not None and (err.errorCode, err.errorText, err.address, err.port) == (701, "URL is not allowed", None, None)
    assert err.url == url and err.t < 30.0


def test_safari_allows_ordinary_servers_and_ends_null_before_complete() -> None:
    safari = SafariDialect()
    assert safari.refused_server_error(parse_ice_url("stun:203.0.113.2:3478"), 30.0, random.Random(1)) is None
    ident = safari.new_identity(random.Random(1))
    null, complete = safari.completion_events(ident, 100.0, lambda b: b[0], "0", 0)
    assert isinstance(null, CandidateEvent) and null.candidate is None
    assert isinstance(complete, GatheringStateChange) and complete.t >= null.t


# --- Chrome versions ------------------------------------------------------------------------
def test_default_chrome_is_156() -> None:
    assert get_dialect("chrome").version == 156 and get_dialect("chrome@156").version == 156


@pytest.mark.parametrize("spec", ["chrome@76", "chrome@157", "chrome@abc", "chrome@-1", "opera"])
def test_bad_chrome_versions_name_the_option(spec: str) -> None:
    with pytest.raises(ConfigError, match="--browser"):
        get_dialect(spec)


@pytest.mark.parametrize("version,text", [(99, "STUN allocate request timed out."), (100, "STUN binding request timed out.")])
def test_stun_timeout_text_by_version(version: int, text: str) -> None:
    err = ChromeDialect(version).stun_error(1.0, ANY4, 5, parse_ice_url("stun:127.0.0.1:3478"), "timeout")
    assert err.errorText == text


def test_static_foundations_before_109_random_after() -> None:
    stun = parse_ice_url("stun:127.0.0.1:3478")
    ids = []
    for seed in (1, 2):
        for v in (108, 109):
            chrome = ChromeDialect(v)
            ident = chrome.new_identity(random.Random(seed))
            ids.append((v, chrome.srflx_candidate(ident, ANY4, 5, ("203.0.113.1", 9), stun, True, "0", 0).foundation))
    old = [f for v, f in ids if v == 108]
    new = [f for v, f in ids if v == 109]
    assert old == ["842163049", "842163049"]  # CreepJS's "public interface" foundation
    assert new[0] != new[1] and "842163049" not in new


@pytest.mark.parametrize("version,prio", [(108, 33562367), (144, 33562623), (145, 50339839), (156, 50339839)])
def test_relay_priority_by_version(version: int, prio: int) -> None:
    chrome = ChromeDialect(version)
    ident = chrome.new_identity(random.Random(1))
    (pref,) = chrome.relay_preferences(1)
    relay = chrome.relay_candidate(ident, ANY4, ("127.0.0.1", 50000), ("127.0.0.1", 4000), TURN, pref, "0", 0)
    assert relay.priority == prio


def test_enumerated_relay_41885695_before_2026() -> None:
    chrome = ChromeDialect(120)
    plan = chrome.plan_networks([V4], permission=True)[0]
    relay = chrome.relay_candidate(chrome.new_identity(random.Random(1)), plan, ("127.0.0.1", 5), ("127.0.0.1", 6), TURN, 1, "0", 0)
    assert relay.priority == 41885695


@pytest.mark.parametrize("version,text", [(137, "Unauthorized"), (138, "Unauthorized.")])
def test_unauthorized_text_by_version(version: int, text: str) -> None:
    err = ChromeDialect(version).turn_error(1.0, ANY4, 5, TURN, "unauthorized", reason="Unauthorized")
    assert err.errorText == text and err.errorCode == 401


def test_safari_constructor_refuses_turn_without_credentials_with_webkits_text():
    """WebKit RTCPeerConnection::iceServersFromConfiguration [source reading only]: a null
    username or credential throws; empty strings and blocked ports pass the constructor (a
    blocked port is dropped with a 701 event instead)."""
    from icesim.config import parse_ice_url
    from icesim.dialects import SafariDialect

    safari = SafariDialect()
    server = parse_ice_url("turn:203.0.113.2:3478")
    assert safari.constructor_error([server]) == (server, "InvalidAccessError",
                                                  "TURN/TURNS server requires both username and credential")
    assert safari.constructor_error([parse_ice_url("turn:203.0.113.2:3478", username="", credential="")]) is None
    assert safari.constructor_error([parse_ice_url("turn:203.0.113.2:22", username="a", credential="b")]) is None
