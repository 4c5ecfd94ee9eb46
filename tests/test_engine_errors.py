"""Error paths that need a server to misbehave on purpose: a STUN server answering error
codes (the embedded server's error_code), and a scripted TURN server on loopback answering
Allocate with 438 stale nonce, 437 allocation mismatch, or an unusual error code; plus the
TURN ports Chrome refuses before sending anything."""

from __future__ import annotations

import asyncio
import struct

import pytest
from aioice import stun

from alias_net import AliasNet
from engine_helpers import ANY4, RecordingNet, cands, errors, gather_lines, host_ports, turn
from icesim.net import RealNet
from icesim.config import parse_ice_url
from icesim.stun_server import StunServer


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [(420, "Unknown Attribute", 20), (401, "Unauthorized", 1), (500, "Server Error", None)],
)
async def test_stun_error_response(code, reason, expected):
    """Captures S2_stun420 / Sx_stun401 / S2_stun500: the page gets the error's number (code
    % 100) and the reason verbatim, no event when the number is 0; never a srflx."""
    async with StunServer(error_code=(code, reason)) as server:
        url = f"stun:127.0.0.1:{server.address[1]}"
        events = await gather_lines([parse_ice_url(url)])
    assert not cands(events, "srflx")
    if expected is None:
        assert not errors(events)
        return
    (err,) = errors(events)
    assert (err["errorCode"], err["errorText"], err["url"]) == (expected, reason, url)
    assert (err["address"], err["port"]) == (ANY4, host_ports(events)[4])


async def test_stun_to_a_restricted_port_is_never_sent():
    """Chromium drops UDP to its restricted ports (5060 here) before sending: the page sees the
    ordinary 701 timeout (captures S1_turnudp_port22, Sx_stun_ports_probe)."""
    net = RecordingNet(RealNet())
    events = await gather_lines([parse_ice_url("stun:127.0.0.1:5060")], net=net, time_scale=400)
    (err,) = errors(events)
    assert (err["errorCode"], err["errorText"]) == (701, "STUN binding request timed out.")
    assert net.sends == []


class ScriptedTurn(asyncio.DatagramProtocol):
    """Answers each Allocate with the next scripted reply: ("challenge"|"stale"|"ok"|code)."""

    def __init__(self, script: list, alternate: tuple[str, int] | None = None) -> None:
        self.script = list(script)
        self.alternate = alternate
        self.requests: list[stun.Message] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        msg = stun.parse_message(data)
        if msg.message_method == stun.Method.BINDING:
            reply = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, msg.transaction_id,
                                 {"XOR-MAPPED-ADDRESS": (addr[0], addr[1])})
        elif msg.message_method == stun.Method.ALLOCATE and self.script:
            self.requests.append(msg)
            step = self.script.pop(0)
            reply = stun.Message(stun.Method.ALLOCATE, stun.Class.ERROR, msg.transaction_id)
            if step == "challenge":
                reply.attributes.update({"ERROR-CODE": (401, "Unauthorized"), "REALM": "test", "NONCE": b"n1"})
            elif step == "stale":
                reply.attributes.update({"ERROR-CODE": (438, "Stale Nonce"), "REALM": "test", "NONCE": b"n2"})
            elif step == "ok":
                reply = stun.Message(stun.Method.ALLOCATE, stun.Class.RESPONSE, msg.transaction_id, {
                    "XOR-RELAYED-ADDRESS": ("127.0.0.1", 50000), "XOR-MAPPED-ADDRESS": (addr[0], addr[1]),
                    "LIFETIME": 600,
                })
            else:
                reply.attributes["ERROR-CODE"] = (step, "Whatever The Server Says")
                if step == 300 and self.alternate is not None:
                    self.transport.sendto(_with_alternate(bytes(reply), self.alternate), addr)
                    return
        else:
            return
        self.transport.sendto(bytes(reply), addr)


def _with_alternate(data: bytes, alternate: tuple[str, int]) -> bytes:
    """Append ALTERNATE-SERVER (0x8023, MAPPED-ADDRESS encoding); aioice cannot encode it."""
    value = stun.pack_address(alternate)
    data += struct.pack("!HH", 0x8023, len(value)) + value
    return stun.set_body_length(data, len(data) - stun.HEADER_LENGTH)


async def _scripted(script: list, alternate: tuple[str, int] | None = None):
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: ScriptedTurn(script, alternate), local_addr=("127.0.0.1", 0))
    return transport, proto, transport.get_extra_info("sockname")[1]


async def test_turn_signs_after_the_challenge():
    transport, server, port = await _scripted(["challenge", "ok"])
    try:
        events = await gather_lines([turn(f"turn:127.0.0.1:{port}?transport=udp", "test", "secret")])
    finally:
        transport.close()
    assert not errors(events)
    (relay,) = cands(events, "relay")
    assert (relay["address"], relay["port"]) == ("127.0.0.1", 50000)
    assert [r.attributes.get("NONCE") for r in server.requests] == [None, b"n1"]
    assert "MESSAGE-INTEGRITY" in server.requests[1].attributes


@pytest.mark.parametrize(
    ("script", "code", "text", "allocates"),
    [
        # Captures S3_turn486 / S3_turn438: the server's code, Chrome's generic text; a stale
        # nonce is not retried.
        (["challenge", 486], 486, "TURN allocate error.", 2),
        (["challenge", "stale", "ok"], 438, "TURN allocate error.", 2),
        (["challenge", "challenge"], 401, "Unauthorized.", 2),
        # Capture S3_turn300: a redirect without a usable ALTERNATE-SERVER is refused.
        (["challenge", 300], 300, "Failed to set alternate server.", 2),
    ],
)
async def test_turn_error_codes(script, code, text, allocates):
    transport, server, port = await _scripted(script)
    try:
        events = await gather_lines([turn(f"turn:127.0.0.1:{port}?transport=udp", "test", "secret")])
    finally:
        transport.close()
    (err,) = errors(events)
    assert (err["errorCode"], err["errorText"]) == (code, text)
    assert (err["address"], err["port"], err["url"]) == (ANY4, host_ports(events)[4], f"turn:127.0.0.1:{port}?transport=udp")
    assert len(server.requests) == allocates
    assert not cands(events, "relay") and len(cands(events, "srflx")) == 1


async def test_turn_allocation_mismatch_retries_on_fresh_sockets():
    """Capture S3_turn437: three sockets, each unsigned then signed Allocate, ~263 ms apart;
    the 437 error carries the last socket's port, not a candidate's, and holds "complete"."""
    transport, server, port = await _scripted(["challenge", 437] * 3)
    try:
        events = await gather_lines([turn(f"turn:127.0.0.1:{port}?transport=udp", "test", "secret")])
    finally:
        transport.close()
    (err,) = errors(events)
    assert (err["errorCode"], err["errorText"]) == (437, "Maximum retries reached for allocation mismatch.")
    assert len(server.requests) == 6 and len({r.transaction_id for r in server.requests}) == 6
    assert err["port"] not in host_ports(events).values()
    gathering = next(e["t"] for e in events if e.get("state") == "gathering")
    assert 500 <= err["t"] - gathering <= 700  # S3_turn437: +596 ms
    complete = next(e["t"] for e in events if e.get("state") == "complete")
    assert 0 <= complete - err["t"] <= 1


@pytest.mark.parametrize("url", ["turn:127.0.0.1:22?transport=tcp", "turn:127.0.0.1:1023?transport=tcp"])
async def test_turn_low_port_gets_no_port_and_no_event(url):
    """Capture S1_turntcp_port22: TurnPort::Create refuses ports < 1024 (but 53, 80, 443):
    no relay, no error, nothing sent; gathering completes as if there were no server."""
    net = RecordingNet(RealNet())
    connects = []

    async def connect_tcp(remote, *args):
        connects.append(remote)
        raise AssertionError("no TCP connection may be attempted")

    net.connect_tcp = connect_tcp
    events = await gather_lines([turn(url, "test", "secret")], net=net)
    assert not errors(events) and not cands(events, "relay") and net.sends == [] and connects == []


async def test_turn_redirect_to_a_public_alternate_is_followed():
    """Capture S3_turn300_alt3481: the signed Allocate goes to the ALTERNATE-SERVER with the
    same realm and nonce, no new 401 round; the url stays the configured one."""
    alt_transport, alt_server, alt_port = await _scripted(["ok"])
    alias = ("203.0.113.5", 3481)
    transport, first, port = await _scripted(["challenge", 300], alternate=alias)
    try:
        net = AliasNet({alias: ("127.0.0.1", alt_port)})
        events = await gather_lines([turn(f"turn:127.0.0.1:{port}?transport=udp", "test", "secret")], net=net)
    finally:
        transport.close()
        alt_transport.close()
    assert not errors(events)
    (relay,) = cands(events, "relay")
    assert relay["url"] == f"turn:127.0.0.1:{port}?transport=udp"
    assert len(first.requests) == 2 and len(alt_server.requests) == 1
    assert alt_server.requests[0].attributes.get("NONCE") == b"n1"
    assert "MESSAGE-INTEGRITY" in alt_server.requests[0].attributes


async def test_stun_error_fires_again_every_10_s_while_the_page_listens():
    """Captures S2_stun420 / Sx_stun401: after an error response Chrome re-sends the binding
    every ~10 s and the page gets the error again, after "complete" too, for as long as it
    listens (--timeout). Without a timeout the stream ends at the null candidate."""
    async with StunServer(error_code=(420, "Unknown Attribute")) as server:
        url = parse_ice_url(f"stun:127.0.0.1:{server.address[1]}")
        events = await gather_lines([url], timeout_ms=25_000, time_scale=100, complete=False)
        requests_with_timeout = server.stats.requests
        once = await gather_lines([url])
    errs = errors(events)
    assert [e["errorCode"] for e in errs] == [20, 20, 20]
    gaps = [b["t"] - a["t"] for a, b in zip(errs, errs[1:])]
    assert all(9_990 <= g <= 10_100 for g in gaps), gaps
    complete = next(e["t"] for e in events if e.get("state") == "complete")
    assert errs[0]["t"] < complete < errs[1]["t"] and events[-1]["t"] <= 25_000
    assert requests_with_timeout == 3
    assert len(errors(once)) == 1 and once[-1]["candidate"] is None
