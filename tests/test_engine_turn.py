"""The gathering engine against TURN servers on real loopback sockets: UDP and TCP relays from
coturn, relay preferences with two servers, wrong and missing credentials, and closed ports.

Expected behaviour: shared/reference/browser-ice.md (B5, B6) and the "Observed facts" of
shared/captures/README.md (Chromium 156). The 40 s timers run under --time-scale; `t` stays
browser time. Every line is validated against the schema and every stream must be in t order
(engine_helpers.gather_lines).
"""

from __future__ import annotations

import asyncio

import pytest

from engine_helpers import ANY4, GIVE_UP_MS, STUN_TIMEOUT_TEXT, cands, errors, gather_lines, host_ports, t_of, turn
from icesim.config import ConfigError


# ---------------------------------------------------------------------------------------------
# TURN against coturn
# ---------------------------------------------------------------------------------------------


async def test_turn_udp_relay(coturn):
    server = turn(coturn.turn_udp_url, coturn.username, coturn.password)
    events = await gather_lines([server])
    assert not errors(events)
    p = host_ports(events)
    (srflx,) = cands(events, "srflx")
    (relay,) = cands(events, "relay")
    assert (srflx["address"], srflx["port"], srflx["url"]) == ("127.0.0.1", p[4], f"stun:127.0.0.1:{coturn.port}")
    assert relay["relayProtocol"] is None  # captures README: null for a UDP relay
    assert relay["priority"] == 50339839
    assert relay["url"] == f"turn:127.0.0.1:{coturn.port}?transport=udp"
    assert (relay["relatedAddress"], relay["relatedPort"]) == (srflx["address"], p[4])
    assert relay["address"] == "127.0.0.1" and coturn.relay_min_port <= relay["port"] <= coturn.relay_max_port
    assert f" raddr 127.0.0.1 rport {p[4]} " in relay["candidate"]
    # Relay phase: +50 ms after the sequence starts (B6), so after the srflx.
    t_relay = next(e["t"] for e in events if e["type"] == "icecandidate" and e["candidate"] is relay)
    assert t_relay - t_of(events, "gathering") >= 50


async def test_turn_tcp_relay(coturn):
    server = turn(coturn.turn_tcp_url, coturn.username, coturn.password)
    events = await gather_lines([server])
    assert not errors(events)
    assert not cands(events, "srflx")  # a TCP TURN server is not a STUN server
    (relay,) = cands(events, "relay")
    assert relay["relayProtocol"] == "tcp"
    assert relay["protocol"] == "udp"  # the relayed transport is UDP
    assert relay["priority"] == 16785407
    assert relay["url"] == f"turn:127.0.0.1:{coturn.port}?transport=tcp"
    assert relay["relatedAddress"] == "127.0.0.1"


async def test_two_turn_servers_relay_preference(coturn):
    servers = [turn(coturn.turn_udp_url), turn(coturn.turn_tcp_url)]
    events = await gather_lines(servers)
    relays = {c["url"].rsplit("=", 1)[1]: c["priority"] for c in cands(events, "relay")}
    assert relays == {"udp": 50340095, "tcp": 16785407}
    assert len(cands(events, "srflx")) == 1  # the UDP TURN server doubles as STUN


async def test_turn_wrong_password(coturn):
    events = await gather_lines([turn(coturn.turn_udp_url, coturn.username, "wrong")])
    p = host_ports(events)
    (err,) = errors(events)
    assert err == {
        "type": "icecandidateerror", "t": err["t"], "address": ANY4, "port": p[4],
        "url": f"turn:127.0.0.1:{coturn.port}?transport=udp", "errorCode": 401, "errorText": "Unauthorized.",
        "hostCandidate": f"{ANY4}:{p[4]}",
    }
    assert not cands(events, "relay") and len(cands(events, "srflx")) == 1


@pytest.mark.parametrize(
    ("username", "credential", "message"),
    [(None, None, "Both username and credential are required"), ("", "", "TURN server with empty username or password"),
     ("test", None, "Both username and credential are required"), ("", "secret", "empty username or password")],
)
async def test_turn_missing_credentials_refused_like_the_constructor(coturn, username, credential, message):
    """Capture H: Chrome 156 throws InvalidAccessError in the RTCPeerConnection constructor, so
    no 401 "Missing TURN server credentials." reaches the page; icesim refuses the config."""
    with pytest.raises(ConfigError) as info:
        await gather_lines([turn(coturn.turn_udp_url, username, credential)])
    assert message in str(info.value) and "InvalidAccessError" in str(info.value)


async def test_turn_tcp_closed_port(closed_port):
    server = turn(f"turn:127.0.0.1:{closed_port}?transport=tcp")
    events = await gather_lines([server])
    (err,) = errors(events)
    assert err == {
        "type": "icecandidateerror", "t": err["t"], "address": None, "port": None,
        "url": f"turn:127.0.0.1:{closed_port}?transport=tcp", "errorCode": 701,
        "errorText": "Failed to establish connection", "hostCandidate": ":0",
    }
    assert not cands(events, "relay") and not cands(events, "srflx")


async def test_turn_udp_closed_port_two_701s(closed_port):
    """Captures README: an unreachable UDP TURN server gives two 701s, the STUN binding timeout
    then the TURN allocate timeout ~50-60 ms later (relay phase)."""
    server = turn(f"turn:127.0.0.1:{closed_port}?transport=udp")
    events = await gather_lines([server], time_scale=200)
    p = host_ports(events)
    stun_err, turn_err = errors(events)
    assert (stun_err["url"], stun_err["errorText"], stun_err["port"]) == (
        f"stun:127.0.0.1:{closed_port}", STUN_TIMEOUT_TEXT, p[4])
    assert (turn_err["url"], turn_err["errorCode"], turn_err["errorText"], turn_err["port"]) == (
        f"turn:127.0.0.1:{closed_port}?transport=udp", 701, "TURN allocate request timed out.", p[4])
    assert 25 <= turn_err["t"] - stun_err["t"] <= 100, (stun_err["t"], turn_err["t"])
    assert abs(stun_err["t"] - t_of(events, "gathering") - GIVE_UP_MS) <= 0.02 * GIVE_UP_MS
    assert 0 < t_of(events, "complete") - turn_err["t"] <= 20
    assert not cands(events, "relay") and not cands(events, "srflx")


async def test_turn_tcp_server_hangs_up_before_allocating():
    """A TURN/TCP server that accepts and closes at once: 701 "Failed to establish connection"
    when the connection drops (turn_port.cc OnSocketClose), not after the 39.9 s allocate timeout."""

    async def hang_up(reader, writer):
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        events = await gather_lines([turn(f"turn:127.0.0.1:{port}?transport=tcp")])
    finally:
        server.close()
        await server.wait_closed()
    (err,) = errors(events)
    assert (err["errorCode"], err["errorText"], err["hostCandidate"]) == (701, "Failed to establish connection", ":0")
    assert err["t"] < 1000 and t_of(events, "complete") < 1000
