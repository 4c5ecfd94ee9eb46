"""The embedded STUN server, exercised over real UDP sockets on loopback.

"No answer" is asserted with a barrier instead of a sleep: after the datagram
that must be ignored, the same client sends a valid Binding Request, and the
first reply it gets must be for that request (loopback UDP keeps order).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct

import pytest
import structlog
from aioice import stun
from aioice.stun import Class, Message, Method

from icesim.stun_server import MAX_DATAGRAM_SIZE, NatMode, StunServer, run_stun_server
from stun_probe import unknown_attributes_of

REPLY_TIMEOUT = 2.0


def raw_message(
    message_type: int = Method.BINDING | Class.REQUEST,
    attributes: list[tuple[int, bytes]] | None = None,
    *,
    transaction_id: bytes | None = None,
    cookie: int = stun.COOKIE,
    fingerprint: bool = True,
) -> bytes:
    """Encode by hand, so tests can send attributes aioice cannot (or would not)."""
    transaction_id = transaction_id or os.urandom(12)
    body = b""
    for attr_type, value in attributes or []:
        body += struct.pack("!HH", attr_type, len(value)) + value
        body += bytes(stun.padding_length(len(value)))
    data = struct.pack("!HHI12s", message_type, len(body), cookie, transaction_id) + body
    if fingerprint:
        data += struct.pack("!HHI", 0x8028, 4, stun.message_fingerprint(data))
        data = stun.set_body_length(data, len(data) - stun.HEADER_LENGTH)
    return data


class UdpClient(asyncio.DatagramProtocol):
    """A plain UDP client socket that queues every datagram it receives."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self._sender: socket.socket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # asyncio's sendto() silently skips empty datagrams; a dup of the same
        # socket sends anything, from the same address.
        fileno = transport.get_extra_info("socket").fileno()
        self._sender = socket.socket(fileno=os.dup(fileno))

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.inbox.put_nowait(data)

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]

    def send(self, data: bytes, server: tuple[str, int]) -> None:
        assert self._sender is not None
        self._sender.sendto(data, server)

    async def receive(self) -> bytes:
        return await asyncio.wait_for(self.inbox.get(), REPLY_TIMEOUT)

    async def binding(self, server: tuple[str, int]) -> Message:
        """One Binding transaction; checks the reply echoes the transaction id."""
        request = Message(Method.BINDING, Class.REQUEST)
        self.send(bytes(request), server)
        response = stun.parse_message(await self.receive())
        assert response.transaction_id == request.transaction_id
        return response

    async def assert_ignored(self, data: bytes, server: tuple[str, int]) -> None:
        """Send `data`, then prove with a barrier request that it got no reply."""
        self.send(data, server)
        response = await self.binding(server)
        assert response.message_class == Class.RESPONSE
        assert self.inbox.empty()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
        if self.transport is not None:
            self.transport.close()


@pytest.fixture
async def open_client():
    clients: list[UdpClient] = []

    async def open_(host: str = "127.0.0.1") -> UdpClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_datagram_endpoint(UdpClient, local_addr=(host, 0))
        clients.append(client)
        return client

    yield open_
    for client in clients:
        client.close()


@pytest.fixture
async def start_server():
    servers: list[StunServer] = []

    async def start(host: str = "127.0.0.1", **options) -> StunServer:
        server = StunServer(**options)
        await server.start(host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


async def test_mapped_address_is_the_real_source(start_server, open_client) -> None:
    server = await start_server(software="icesim-test")
    client = await open_client()
    response = await client.binding(server.address)
    assert response.message_class == Class.RESPONSE
    assert response.message_method == Method.BINDING
    assert response.attributes["XOR-MAPPED-ADDRESS"] == client.address
    assert "MAPPED-ADDRESS" not in response.attributes
    assert response.attributes["SOFTWARE"] == "icesim-test"
    assert "FINGERPRINT" in response.attributes  # parse_message verified its value
    assert server.stats.requests == server.stats.responses == server.stats.received == 1


async def test_ipv6_loopback(start_server, open_client) -> None:
    server = await start_server("::1")
    assert server.address[0] == "::1"
    client = await open_client("::1")
    response = await client.binding(server.address)
    assert response.attributes["XOR-MAPPED-ADDRESS"] == client.address


async def test_map_address_eim_preserves_the_port(start_server, open_client) -> None:
    server = await start_server(map_address="203.0.113.7", nat="eim")
    client = await open_client()
    response = await client.binding(server.address)
    assert response.attributes["XOR-MAPPED-ADDRESS"] == ("203.0.113.7", client.address[1])


async def test_ipv4_map_address_does_not_apply_to_ipv6(start_server, open_client) -> None:
    server = await start_server("::1", map_address="203.0.113.7", nat=NatMode.SYMMETRIC)
    client = await open_client("::1")
    response = await client.binding(server.address)
    assert response.attributes["XOR-MAPPED-ADDRESS"] == client.address


async def test_ipv6_map_address_applies_to_ipv6(start_server, open_client) -> None:
    server = await start_server("::1", map_address="2001:db8::7")
    client = await open_client("::1")
    response = await client.binding(server.address)
    assert response.attributes["XOR-MAPPED-ADDRESS"] == ("2001:db8::7", client.address[1])


async def test_symmetric_nat_ports(start_server, open_client) -> None:
    options = dict(map_address="203.0.113.7", nat="symmetric", port_base=50000)
    server_a = await start_server(**options)
    server_b = await start_server(**options)
    client_1 = await open_client()
    client_2 = await open_client()

    async def mapped(client: UdpClient, server: StunServer) -> tuple[str, int]:
        return (await client.binding(server.address)).attributes["XOR-MAPPED-ADDRESS"]

    first = await mapped(client_1, server_a)
    assert first[0] == "203.0.113.7"
    assert 50000 <= first[1] <= 65535
    # Deterministic within one server.
    assert await mapped(client_1, server_a) == first
    # Another STUN server sees the same socket on another port: that is what
    # makes the NAT symmetric.
    other_server = await mapped(client_1, server_b)
    assert other_server[1] != first[1]
    # Another socket gets another port from the same server.
    other_client = await mapped(client_2, server_a)
    assert other_client[1] != first[1]
    assert 50000 <= other_client[1] <= 65535


async def test_symmetric_ports_stay_unique_when_the_pool_is_tiny(start_server, open_client) -> None:
    # Three ports in the pool and four clients: mappings must never share a port.
    server = await start_server(map_address="203.0.113.7", nat="symmetric", port_base=65533)
    clients = [await open_client() for _ in range(3)]
    ports = [(await c.binding(server.address)).attributes["XOR-MAPPED-ADDRESS"][1] for c in clients]
    assert sorted(ports) == [65533, 65534, 65535]
    fourth = await open_client()
    port = (await fourth.binding(server.address)).attributes["XOR-MAPPED-ADDRESS"][1]
    assert port == ports[0]  # the oldest mapping expired to make room


async def test_configured_error_code(start_server, open_client) -> None:
    server = await start_server(error_code=(500, "Server Error"), software="x")
    client = await open_client()
    response = await client.binding(server.address)
    assert response.message_class == Class.ERROR
    assert response.attributes["ERROR-CODE"] == (500, "Server Error")
    assert "XOR-MAPPED-ADDRESS" not in response.attributes
    assert "FINGERPRINT" in response.attributes
    assert server.stats.errors_sent == 1
    assert server.stats.responses == 0


async def test_unknown_comprehension_required_attribute_gets_420(start_server, open_client) -> None:
    server = await start_server()
    client = await open_client()
    transaction_id = os.urandom(12)
    attributes = [
        (0x7F01, b"abc"),
        (0x0003, b"\x00\x00\x00\x06"),  # CHANGE-REQUEST: unsupported, so 420 too
        (0x7F01, b""),  # listed once only
        (0xC0DE, b"optional"),  # comprehension-optional: not listed
    ]
    client.send(raw_message(attributes=attributes, transaction_id=transaction_id), server.address)
    data = await client.receive()
    response = stun.parse_message(data)  # also checks FINGERPRINT sits last and is right
    assert response.transaction_id == transaction_id
    assert response.message_class == Class.ERROR
    assert response.attributes["ERROR-CODE"] == (420, "Unknown Attribute")
    assert unknown_attributes_of(data) == [0x7F01, 0x0003]
    assert "XOR-MAPPED-ADDRESS" not in response.attributes
    assert server.stats.errors_sent == 1


async def test_420_does_not_depend_on_attribute_values(start_server, open_client) -> None:
    # aioice would choke on this SOURCE-ADDRESS (and on the bad USERNAME), but
    # the server does not understand SOURCE-ADDRESS, so it is simply unknown.
    server = await start_server()
    client = await open_client()
    attributes = [(0x0004, b"\x01"), (0x0006, b"\xff")]
    client.send(raw_message(attributes=attributes), server.address)
    data = await client.receive()
    assert stun.parse_message(data).attributes["ERROR-CODE"][0] == 420
    assert unknown_attributes_of(data) == [0x0004]


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param([(0xC0DE, b"optional")], id="unknown-optional"),
        pytest.param([(0x0024, b"\x00\x00\x00\x01"), (0x8029, bytes(8))], id="ice-attributes"),
        pytest.param([(0x0008, bytes(20)), (0x7F01, b"x")], id="unknown-after-integrity"),
    ],
)
async def test_requests_answered_normally(start_server, open_client, attributes) -> None:
    server = await start_server()
    client = await open_client()
    transaction_id = os.urandom(12)
    client.send(raw_message(attributes=attributes, transaction_id=transaction_id), server.address)
    response = stun.parse_message(await client.receive())
    assert response.transaction_id == transaction_id
    assert response.message_class == Class.RESPONSE
    assert response.attributes["XOR-MAPPED-ADDRESS"] == client.address


def _valid() -> bytes:
    return raw_message()


def _oversized() -> bytes:
    # A well-formed request, only too big: the size limit alone must drop it.
    padding = bytes(MAX_DATAGRAM_SIZE - 20 - 4 - 8 + 4)
    return raw_message(attributes=[(0xC0DE, padding)])


def _flip(data: bytes, index: int, bits: int) -> bytes:
    flipped = bytearray(data)
    flipped[index] ^= bits
    return bytes(flipped)


IGNORED = {
    "empty": lambda: b"",
    "short-header": lambda: _valid()[:19],
    "top-bits-set": lambda: _flip(_valid(), 0, 0x40),
    "wrong-cookie": lambda: raw_message(cookie=0x2112A443),
    "rfc3489-no-cookie": lambda: raw_message(cookie=0, fingerprint=False),
    "length-too-long": lambda: stun.set_body_length(_valid(), 12),
    "length-too-short-with-unknown-required": lambda: stun.set_body_length(
        raw_message(attributes=[(0x7F01, b"abcd")]), 8
    ),
    "length-not-multiple-of-4": lambda: stun.set_body_length(_valid() + b"\0\0", 10),
    "trailing-bytes": lambda: _valid() + b"\0\0\0\0",
    "attribute-overrun": lambda: stun.set_body_length(
        raw_message(fingerprint=False) + struct.pack("!HH", 0xC0DE, 200) + bytes(4), 8
    ),
    "bad-fingerprint": lambda: _flip(_valid(), -1, 0x01),
    "fingerprint-not-last": lambda: raw_message(
        attributes=[(0x8028, b"\0\0\0\0"), (0xC0DE, b"late")], fingerprint=False
    ),
    "bad-xor-mapped-address": lambda: raw_message(attributes=[(0x0020, b"\0\1\2")]),
    "bad-utf8-username": lambda: raw_message(attributes=[(0x0006, b"\xff\xfe")]),
    "oversized": _oversized,
    "success-response": lambda: raw_message(Method.BINDING | Class.RESPONSE),
    "error-response": lambda: raw_message(Method.BINDING | Class.ERROR),
    "indication": lambda: raw_message(Method.BINDING | Class.INDICATION),
    "indication-with-unknown-required": lambda: raw_message(
        Method.BINDING | Class.INDICATION, [(0x7F01, b"x")]
    ),
    "response-with-unknown-required": lambda: raw_message(
        Method.BINDING | Class.RESPONSE, [(0x7F01, b"x")]
    ),
    "allocate-request": lambda: raw_message(Method.ALLOCATE | Class.REQUEST),
    "unknown-method": lambda: raw_message(0x00B),
}


@pytest.mark.parametrize("make", IGNORED.values(), ids=IGNORED.keys())
async def test_ignored_without_answer(start_server, open_client, make) -> None:
    server = await start_server()
    client = await open_client()
    with structlog.testing.capture_logs() as logs:
        await client.assert_ignored(make(), server.address)
    # Dropped by validation, not by an exception caught in the safety net.
    assert [e for e in logs if e["event"] == "stun_server.handler_failed"] == []
    assert server.stats.dropped_malformed == 1
    assert server.stats.received == 2
    assert server.stats.requests == server.stats.responses == 1


async def test_largest_accepted_datagram_is_answered(start_server, open_client) -> None:
    server = await start_server()
    client = await open_client()
    data = raw_message(attributes=[(0xC0DE, bytes(MAX_DATAGRAM_SIZE - 20 - 4 - 8))])
    assert len(data) == MAX_DATAGRAM_SIZE
    assert len(_oversized()) > MAX_DATAGRAM_SIZE
    client.send(data, server.address)
    assert stun.parse_message(await client.receive()).message_class == Class.RESPONSE


async def test_run_stun_server_reports_ready_and_stops_on_cancel(open_client) -> None:
    ready: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_stun_server("127.0.0.1", 0, "198.51.100.1", "eim", ready=ready.set_result)
    )
    address = await asyncio.wait_for(ready, REPLY_TIMEOUT)
    client = await open_client()
    response = await client.binding(address)
    assert response.attributes["XOR-MAPPED-ADDRESS"] == ("198.51.100.1", client.address[1])

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The socket is closed: nothing answers any more.
    client.send(bytes(Message(Method.BINDING, Class.REQUEST)), address)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.inbox.get(), 0.3)


async def test_context_manager_starts_and_closes(open_client) -> None:
    async with StunServer() as server:
        client = await open_client()
        await client.binding(server.address)
    client.send(bytes(Message(Method.BINDING, Class.REQUEST)), server.address)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.inbox.get(), 0.3)


@pytest.mark.parametrize(
    "options",
    [
        {"nat": "full-cone"},
        {"port_base": 80},
        {"port_base": 70000},
        {"map_address": "not-an-ip"},
        {"error_code": (200, "OK")},
    ],
)
def test_bad_options_are_rejected(options) -> None:
    with pytest.raises(ValueError):
        StunServer(**options)


async def test_address_before_start_raises() -> None:
    with pytest.raises(RuntimeError):
        StunServer().address


@pytest.mark.parametrize("mapped", [("203.0.113.7", 3478), ("100.64.0.1", 1), ("2001:db8::1", 65535),
                                    ("2001:db8:ffff::e0", 40000)])
def test_binding_success_bytes_match_aioice(mapped) -> None:
    """The hand-encoded success response is byte for byte what aioice's Message encodes."""
    from aioice import stun as aioice_stun

    from icesim.stun_server import binding_success

    for _ in range(50):
        tid = os.urandom(12)
        message = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.RESPONSE, tid)
        message.attributes["XOR-MAPPED-ADDRESS"] = mapped
        message.add_fingerprint()
        assert binding_success(tid, mapped) == bytes(message)
    with pytest.raises(ValueError):
        binding_success(os.urandom(12), ("1.2", 5))  # not an address aioice would encode either


def test_binding_success_parse_matches_aioice() -> None:
    """The gatherer's parse of the common success response gives aioice's Message, and leaves
    every other datagram (other shapes, a bad FINGERPRINT) to aioice's parser."""
    import random as random_mod

    from aioice import stun as aioice_stun

    from icesim.stun_framing import parse_binding_success_v4
    from icesim.stun_server import binding_success

    rng = random_mod.Random(7)
    for _ in range(200):
        tid = rng.randbytes(12)
        mapped = (".".join(str(rng.randrange(256)) for _ in range(4)), rng.randrange(65536))
        data = binding_success(tid, mapped)
        ours, theirs = parse_binding_success_v4(data), aioice_stun.parse_message(data)
        assert ours is not None
        assert (ours.message_method, ours.message_class, ours.transaction_id, ours.attributes) == \
            (theirs.message_method, theirs.message_class, theirs.transaction_id, theirs.attributes)
        assert list(ours.attributes) == list(theirs.attributes) == ["XOR-MAPPED-ADDRESS", "FINGERPRINT"]
        bad_fingerprint = data[:-1] + bytes([data[-1] ^ 1])
        assert parse_binding_success_v4(bad_fingerprint) is None
        with pytest.raises(ValueError):
            aioice_stun.parse_message(bad_fingerprint)
    assert parse_binding_success_v4(binding_success(os.urandom(12), ("2001:db8::1", 1))) is None  # IPv6: aioice's
