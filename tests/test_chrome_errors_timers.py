"""ChromeDialect as pure rules (no sockets): address redaction, icecandidateerror codes and
texts, STUN/TURN URL forms, allowed TURN ports, the STUN retransmission schedule, the STUN
server list (UDP TURN servers merged in) and dialect lookup.

Expected values come from shared/reference/browser-ice.md (B6) and the Chromium 156 captures
in shared/captures (README "Observed facts", S5, S7, S8); each test names its source.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from chrome_helpers import ETH_ULA, ETH_V4, STUN, TURN_TCP, TURN_UDP, any_plans, enumerated, ip
from icesim.addresses import redact
from icesim.config import parse_ice_url
from icesim.dialects import ChromeDialect, get_dialect

CAPTURES = Path("/work/shared/captures")


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
    "alternate_failed": (300, "Failed to set alternate server."),
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


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [(420, "Unknown Attribute", (20, "Unknown Attribute")), (401, "Code 401", (1, "Code 401")),
     (500, "Server Error", None), (400, "Bad Request", None)],
)
def test_stun_error_response(chrome, code, reason, expected):
    """Captures S2_stun420, Sx_stun401, S2_stun500, Sx_stun400: the page gets the ERROR-CODE's
    number (code % 100) with the reason verbatim, and no event at all when the number is 0."""
    plan = any_plans(chrome, ETH_V4)[4]
    err = chrome.stun_error(1.0, plan, 1234, STUN, "response", code, reason)
    assert (None if err is None else (err.errorCode, err.errorText)) == expected


def test_stun_error_response_without_code(chrome):
    """Capture S2_stunnoattr: no ERROR-CODE attribute -> 600 with libwebrtc's own text."""
    err = chrome.stun_error(1.0, any_plans(chrome, ETH_V4)[4], 1234, STUN, "response")
    assert (err.errorCode, err.errorText) == (600, "STUN binding response with no error code attribute.")


def test_restricted_ports(chrome):
    """Chromium's restricted ports: UDP to them is never sent (Sx_stun_ports_probe)."""
    assert all(chrome.udp_port_blocked(p) for p in (22, 53, 5060, 6000))
    assert not any(chrome.udp_port_blocked(p) for p in (80, 1023, 1024, 3478, 5062))


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
