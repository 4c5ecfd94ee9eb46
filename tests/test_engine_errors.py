"""Error paths that need a server to misbehave on purpose: a STUN server answering error
codes (the embedded server's error_code), and a scripted TURN server on loopback answering
Allocate with 438 stale nonce, 437 allocation mismatch, or an unusual error code; plus the
TURN ports Chrome refuses before sending anything."""

from __future__ import annotations

import asyncio

import pytest
from aioice import stun

from engine_helpers import ANY4, cands, errors, gather_lines, host_ports, turn
from icesim.config import parse_ice_url
from icesim.stun_server import StunServer


@pytest.mark.parametrize(("code", "reason"), [(420, "Unknown Attribute"), (500, "Server Error"), (401, "Unauthorized")])
async def test_stun_error_response_passes_code_and_reason(code, reason):
    """B6: a STUN error response gives the server's code and reason phrase verbatim."""
    async with StunServer(error_code=(code, reason)) as server:
        url = f"stun:127.0.0.1:{server.address[1]}"
        events = await gather_lines([parse_ice_url(url)])
    (err,) = errors(events)
    assert (err["errorCode"], err["errorText"], err["url"]) == (code, reason, url)
    assert (err["address"], err["port"]) == (ANY4, host_ports(events)[4])
    assert not cands(events, "srflx")


class ScriptedTurn(asyncio.DatagramProtocol):
    """Answers each Allocate with the next scripted reply: ("challenge"|"stale"|"ok"|code)."""

    def __init__(self, script: list) -> None:
        self.script = list(script)
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
        else:
            return
        self.transport.sendto(bytes(reply), addr)


async def _scripted(script: list):
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: ScriptedTurn(script), local_addr=("127.0.0.1", 0))
    return transport, proto, transport.get_extra_info("sockname")[1]


async def test_turn_stale_nonce_is_retried_with_the_new_nonce():
    transport, server, port = await _scripted(["challenge", "stale", "ok"])
    try:
        events = await gather_lines([turn(f"turn:127.0.0.1:{port}?transport=udp", "test", "secret")])
    finally:
        transport.close()
    assert not errors(events)
    (relay,) = cands(events, "relay")
    assert (relay["address"], relay["port"]) == ("127.0.0.1", 50000)
    nonces = [r.attributes.get("NONCE") for r in server.requests]
    assert nonces == [None, b"n1", b"n2"]  # unsigned, signed with n1, re-signed with n2
    assert all("MESSAGE-INTEGRITY" in r.attributes for r in server.requests[1:])


@pytest.mark.parametrize(
    ("script", "code", "text"),
    [
        (["challenge", 437], 437, "Maximum retries reached for allocation mismatch."),
        (["challenge", 486], 486, "TURN allocate error."),
        (["challenge", "challenge"], 401, "Unauthorized."),
        (["challenge", "stale", "stale", "stale"], 401, "Unauthorized."),
    ],
)
async def test_turn_error_codes(script, code, text):
    transport, _, port = await _scripted(script)
    try:
        events = await gather_lines([turn(f"turn:127.0.0.1:{port}?transport=udp", "test", "secret")])
    finally:
        transport.close()
    (err,) = errors(events)
    assert (err["errorCode"], err["errorText"]) == (code, text)
    assert (err["address"], err["port"], err["url"]) == (ANY4, host_ports(events)[4], f"turn:127.0.0.1:{port}?transport=udp")
    assert not cands(events, "relay") and len(cands(events, "srflx")) == 1


@pytest.mark.parametrize("port", [22, 25, 1023])
async def test_turn_disallowed_port_refused_before_sending(port):
    """turn_port.cc AllowedTurnPort: ports below 1024 other than 53, 80, 443 -> 500 at once."""
    events = await gather_lines([turn(f"turn:127.0.0.1:{port}?transport=tcp", "test", "secret")])
    (err,) = errors(events)
    assert (err["errorCode"], err["errorText"]) == (500, "Attempt to start allocation to a disallowed port.")
