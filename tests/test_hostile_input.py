"""Hostile input: what faces the network must survive anything sent at it.

Floods are generated from a seeded random.Random so a failure reproduces, and
they are paced (send a batch, let the receiver drain it) so that the kernel's
socket buffer never drops datagrams: every datagram sent is then one the code
under test handled, which is what makes exact counts assertable.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from aioice import stun
from aioice.stun import Class, Message, Method

import icesim
from icesim.config import Interface, parse_ice_url
from icesim.net import RealNet
from icesim.schema import validate_line
from icesim.stun_server import KNOWN_REQUIRED_ATTRIBUTES, MAX_DATAGRAM_SIZE, StunServer

BINDING_REQUEST = Method.BINDING | Class.REQUEST
FINGERPRINT = 0x8028


def _stun(
    rng: random.Random,
    message_type: int = BINDING_REQUEST,
    attributes: list[tuple[int, bytes]] | None = None,
    *,
    fingerprint: bool = True,
) -> tuple[bytes, bytes]:
    """Encode a STUN message by hand; returns (datagram, transaction id)."""
    transaction_id = rng.randbytes(12)
    body = b""
    for attr_type, value in attributes or []:
        body += struct.pack("!HH", attr_type, len(value)) + value
        body += bytes(stun.padding_length(len(value)))
    data = struct.pack("!HHI12s", message_type, len(body), stun.COOKIE, transaction_id) + body
    if fingerprint:
        data += struct.pack("!HHI", FINGERPRINT, 4, stun.message_fingerprint(data))
        data = stun.set_body_length(data, len(data) - stun.HEADER_LENGTH)
    return data, transaction_id


def _unknown_required_type(rng: random.Random) -> int:
    while True:
        attr_type = rng.randrange(0x0000, 0x8000)
        if attr_type not in KNOWN_REQUIRED_ATTRIBUTES:
            return attr_type


# Each garbage generator returns (datagram, transaction id, unknown attribute
# types). Only an otherwise valid Binding Request with unknown
# comprehension-required attributes must be answered (with a 420); for every
# other generator the unknown list is None: no answer allowed.
Garbage = tuple[bytes, bytes, list[int] | None]


def truncated_header(rng: random.Random) -> Garbage:
    data, tid = _stun(rng)
    return data[: rng.randrange(0, stun.HEADER_LENGTH)], tid, None


def wrong_magic_cookie(rng: random.Random) -> Garbage:
    data, tid = _stun(rng)
    cookie = rng.choice([0, stun.COOKIE ^ (1 << rng.randrange(32)), rng.getrandbits(32)])
    cookie = cookie if cookie != stun.COOKIE else 0
    return data[:4] + struct.pack("!I", cookie) + data[8:], tid, None


def top_bits_set(rng: random.Random) -> Garbage:
    data, tid = _stun(rng)
    return bytes([data[0] | rng.choice([0x40, 0x80, 0xC0])]) + data[1:], tid, None


def wrong_length_field(rng: random.Random) -> Garbage:
    attributes = [(0xC000, rng.randbytes(rng.randrange(0, 40)))]
    if rng.random() < 0.5:  # would earn a 420, were the length right
        attributes.append((_unknown_required_type(rng), b"x"))
    data, tid = _stun(rng, attributes=attributes)
    actual = len(data) - stun.HEADER_LENGTH
    bogus = rng.choice([0, actual - 4, actual + 4, rng.randrange(0, 0x10000)])
    bogus = bogus if bogus != actual and bogus >= 0 else actual + 8
    return stun.set_body_length(data, bogus), tid, None


def unaligned_length(rng: random.Random) -> Garbage:
    data, tid = _stun(rng, fingerprint=False)
    data += rng.randbytes(rng.randrange(1, 4))
    return stun.set_body_length(data, len(data) - stun.HEADER_LENGTH), tid, None


def attribute_overrun(rng: random.Random) -> Garbage:
    data, tid = _stun(rng, attributes=[(0xC001, bytes(8))], fingerprint=False)
    value = rng.randbytes(rng.choice([0, 4, 8]))
    claimed = len(value) + 4 * rng.randrange(1, 1000)  # always longer than what follows
    attr_type = rng.choice([0x0020, 0x0006, 0x8022, FINGERPRINT, _unknown_required_type(rng)])
    data += struct.pack("!HH", attr_type, claimed) + value
    return stun.set_body_length(data, len(data) - stun.HEADER_LENGTH), tid, None


def bad_fingerprint(rng: random.Random) -> Garbage:
    data, tid = _stun(rng, attributes=[(_unknown_required_type(rng), b"x")])
    (value,) = struct.unpack("!I", data[-4:])
    return data[:-4] + struct.pack("!I", value ^ rng.randrange(1, 1 << 32)), tid, None


def fingerprint_not_last(rng: random.Random) -> Garbage:
    data, tid = _stun(rng)
    return stun.set_body_length(data + bytes(8), len(data) - 12), tid, None


def malformed_known_attribute(rng: random.Random) -> Garbage:
    attribute = rng.choice(
        [
            (0x0020, rng.randbytes(rng.choice([0, 3, 7, 9, 19]))),  # XOR-MAPPED-ADDRESS size
            (0x0020, b"\x00\x07" + rng.randbytes(6)),  # unknown address family
            (0x0006, b"\xff\xfe" + rng.randbytes(2)),  # USERNAME not UTF-8
            (0x0009, b"\x00\x00"),  # ERROR-CODE too short
        ]
    )
    data, tid = _stun(rng, attributes=[attribute, (0xC004, b"optional")])
    return data, tid, None


def oversized(rng: random.Random) -> Garbage:
    # Well-formed apart from its size: only the size limit may drop it.
    size = 4 * rng.randrange(MAX_DATAGRAM_SIZE // 4 + 1, MAX_DATAGRAM_SIZE // 2)
    padding = bytes(size - stun.HEADER_LENGTH - 4 - 8)
    data, tid = _stun(rng, attributes=[(0xC002, padding)])
    assert len(data) == size > MAX_DATAGRAM_SIZE
    return data, tid, None


def random_bytes(rng: random.Random) -> Garbage:
    return rng.randbytes(rng.randrange(0, 600)), b"", None


def response_with_random_id(rng: random.Random) -> Garbage:
    message_class = rng.choice([Class.RESPONSE, Class.ERROR])
    message = Message(Method.BINDING, message_class, rng.randbytes(12))
    if message_class == Class.RESPONSE:
        message.attributes["XOR-MAPPED-ADDRESS"] = ("198.51.100.9", rng.randrange(1, 65536))
    else:
        message.attributes["ERROR-CODE"] = (rng.randrange(300, 700), "nope")
    message.add_fingerprint()
    return bytes(message), message.transaction_id, None


def indication(rng: random.Random) -> Garbage:
    # Valid-looking, even carrying an unknown required attribute: still never answered.
    attributes = [(0x0024, rng.randbytes(4))]
    if rng.random() < 0.5:
        attributes.append((_unknown_required_type(rng), rng.randbytes(rng.randrange(0, 9))))
    data, tid = _stun(rng, Method.BINDING | Class.INDICATION, attributes)
    return data, tid, None


def other_method_request(rng: random.Random) -> Garbage:
    method = rng.choice([Method.ALLOCATE, Method.REFRESH, Method.SHARED_SECRET, 0x00B, 0x3EEF])
    data, tid = _stun(rng, method | Class.REQUEST)
    return data, tid, None


def unknown_required_attributes(rng: random.Random) -> Garbage:
    unknown = [_unknown_required_type(rng) for _ in range(rng.randrange(1, 4))]
    attributes = [(t, rng.randbytes(rng.randrange(0, 13))) for t in unknown]
    attributes.insert(rng.randrange(len(attributes) + 1), (0xC003, b"optional"))
    data, tid = _stun(rng, attributes=attributes, fingerprint=rng.random() < 0.5)
    return data, tid, list(dict.fromkeys(unknown))  # listed once each, in order


GARBAGE_GENERATORS: list[Callable[[random.Random], Garbage]] = [
    truncated_header,
    wrong_magic_cookie,
    top_bits_set,
    wrong_length_field,
    unaligned_length,
    attribute_overrun,
    bad_fingerprint,
    fingerprint_not_last,
    malformed_known_attribute,
    oversized,
    random_bytes,
    response_with_random_id,
    indication,
    other_method_request,
    unknown_required_attributes,
]


def valid_request(rng: random.Random) -> tuple[bytes, bytes]:
    variant = rng.randrange(3)
    if variant == 0:  # what aioice itself sends: no attributes at all
        message = Message(Method.BINDING, Class.REQUEST, rng.randbytes(12))
        return bytes(message), message.transaction_id
    if variant == 1:
        return _stun(rng)
    optional = [(0x8022, b"hostile-test"), (rng.randrange(0x8000, 0x10000), rng.randbytes(5))]
    return _stun(rng, attributes=optional, fingerprint=rng.random() < 0.5)


class FloodClient:
    """A non-blocking client socket whose replies are drained by a loop reader."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()
        self.replies: list[bytes] = []
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        while True:
            try:
                self.replies.append(self.sock.recv(65536))
            except BlockingIOError:
                return

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


async def wait_until(
    condition: Callable[[], bool], what: str | Callable[[], str], timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0)


GARBAGE_COUNT = 100_000
VALID_RATE = 0.02  # about one real Binding Request per 50 datagrams
# The kernel charges a queued datagram its size plus bookkeeping: on Linux 256
# empty datagrams fill the default 208 KiB receive buffer, about 830 bytes each.
DATAGRAM_OVERHEAD = 1024


async def test_stun_server_survives_garbage() -> None:
    rng = random.Random(0x57E1CE)
    server = StunServer()
    server_address = await server.start("127.0.0.1", 0)
    clients = [FloodClient() for _ in range(4)]
    # transaction id -> (client address, None for success | expected UNKNOWN-ATTRIBUTES)
    expected: dict[bytes, tuple[tuple[str, int], list[int] | None]] = {}
    garbage_sent = sent = 0
    # Each batch fills at most half of a receive buffer (the server's is sized
    # like the clients'), so the kernel never drops what the test counts on.
    batch_budget = clients[0].sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    started = time.monotonic()
    try:
        # The safety net in the server logs handler_failed; garbage must be
        # rejected by validation, never by an exception escaping the parser.
        with structlog.testing.capture_logs() as logs:
            while garbage_sent < GARBAGE_COUNT:
                batch_bytes = 0
                while batch_bytes < batch_budget - MAX_DATAGRAM_SIZE // 2 - DATAGRAM_OVERHEAD:
                    client = rng.choice(clients)
                    if rng.random() < VALID_RATE:
                        data, tid = valid_request(rng)
                        assert tid not in expected
                        expected[tid] = (client.address, None)
                    else:
                        data, tid, unknown = rng.choice(GARBAGE_GENERATORS)(rng)
                        garbage_sent += 1
                        if unknown is not None:
                            assert tid not in expected
                            expected[tid] = (client.address, unknown)
                    client.sock.sendto(data, server_address)
                    sent += 1
                    batch_bytes += len(data) + DATAGRAM_OVERHEAD
                # Let the server drain the batch before sending more. If the kernel
                # dropped a datagram this times out instead of passing vacuously.
                await wait_until(
                    lambda: server.stats.received == sent,
                    lambda: f"the server to drain: received {server.stats.received} of {sent}",
                )

        valid_count = sum(1 for _, unknown in expected.values() if unknown is None)
        count_420 = len(expected) - valid_count
        await wait_until(
            lambda: sum(len(c.replies) for c in clients) >= len(expected),
            lambda: f"all replies: {sum(len(c.replies) for c in clients)} of {len(expected)}"
            f" ({valid_count} successes, {count_420} 420s expected; server stats {server.stats})",
        )
        await asyncio.sleep(0.05)  # room for any reply that should not exist
        flood_seconds = time.monotonic() - started

        # Every reply answers exactly one expected transaction, at the right client.
        answered: set[bytes] = set()
        for client in clients:
            for data in client.replies:
                reply = stun.parse_message(data)  # also checks the reply's FINGERPRINT
                assert reply.transaction_id in expected, "a reply to garbage"
                assert reply.transaction_id not in answered, "a duplicate reply"
                answered.add(reply.transaction_id)
                address, unknown = expected[reply.transaction_id]
                assert address == client.address
                if unknown is None:
                    assert reply.message_class == Class.RESPONSE
                    assert reply.attributes["XOR-MAPPED-ADDRESS"] == client.address
                else:
                    assert reply.message_class == Class.ERROR
                    assert reply.attributes["ERROR-CODE"][0] == 420
                    assert _unknown_attributes(data) == unknown
        assert answered == set(expected)

        assert garbage_sent >= GARBAGE_COUNT
        assert valid_count > 1000 and count_420 > 1000  # the mix really exercised both
        stats = server.stats
        assert stats.received == sent == garbage_sent + valid_count
        assert stats.responses == valid_count
        assert stats.errors_sent == count_420
        assert stats.requests == valid_count + count_420
        assert stats.dropped_malformed == garbage_sent - count_420
        assert [e for e in logs if e["event"] == "stun_server.handler_failed"] == []

        # Still serving, to a socket it has never seen.
        fresh = FloodClient()
        clients.append(fresh)
        request = Message(Method.BINDING, Class.REQUEST)
        fresh.sock.sendto(bytes(request), server_address)
        await wait_until(lambda: bool(fresh.replies), "a reply after the flood")
        reply = stun.parse_message(fresh.replies[0])
        assert reply.transaction_id == request.transaction_id
        assert reply.attributes["XOR-MAPPED-ADDRESS"] == fresh.address
        print(f"\n{sent} datagrams ({garbage_sent} garbage) in {flood_seconds:.1f} s")
    finally:
        for client in clients:
            client.close()
        server.close()


def _unknown_attributes(data: bytes) -> list[int]:
    pos = stun.HEADER_LENGTH
    while pos < len(data):
        attr_type, attr_len = struct.unpack_from("!HH", data, pos)
        if attr_type == 0x000A:
            value = data[pos + 4 : pos + 4 + attr_len]
            return [t for (t,) in struct.iter_unpack("!H", value)]
        pos += 4 + attr_len + stun.padding_length(attr_len)
    raise AssertionError("420 without UNKNOWN-ATTRIBUTES")


# ---------------------------------------------------------------------------------------------
# The gatherer's sockets
# ---------------------------------------------------------------------------------------------
#
# A gather is started against a STUN "server" the test controls (SlowResponder): it records the
# gatherer's Binding Request and does not answer. While that transaction is pending, the
# gatherer's UDP socket is flooded; then the responder answers, and the gather must finish as
# if nothing had happened. The Net seam is wrapped (CountingNet) so the test counts every
# datagram that reached the gatherer's receive handler: the kernel dropping the flood cannot
# make the test pass vacuously.

# Addresses only garbage ever claims as a mapped address; none may become a candidate.
GARBAGE_MAPPED = ("198.51.100.9", "192.0.2.77", "203.0.113.10", "2001:db8::9")
ANSWER_MAPPED = ("203.0.113.9", 4444)
GATHER_IFACES = [Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True)]
MAX_UDP_PAYLOAD = 65507  # IPv4: 65535 - 20 (IP header) - 8 (UDP header)


def _response(
    rng: random.Random, tid: bytes, message_class: Class | None = None, method: Method = Method.BINDING
) -> Message:
    """A well-formed Binding success (mapped to a garbage address) or error response."""
    if message_class is None:  # not `or`: Class.REQUEST is 0
        message_class = rng.choice([Class.RESPONSE, Class.ERROR])
    message = Message(method, message_class, tid)
    if message_class == Class.ERROR:
        message.attributes["ERROR-CODE"] = (rng.randrange(300, 700), "nope")
    else:
        key = rng.choice(["XOR-MAPPED-ADDRESS", "MAPPED-ADDRESS"])
        message.attributes[key] = (rng.choice(GARBAGE_MAPPED), rng.randrange(1, 65536))
    if rng.random() < 0.5:
        message.add_fingerprint()
    return message


# Garbage with a transaction id the gatherer never used: dropped however well-formed it is.


def response_unknown_id(rng: random.Random) -> bytes:
    data = bytes(_response(rng, rng.randbytes(12)))
    if rng.random() < 0.3:  # plus unknown comprehension-required attributes
        for _ in range(rng.randrange(1, 3)):
            value = rng.randbytes(rng.randrange(0, 9))
            data += struct.pack("!HH", _unknown_required_type(rng), len(value)) + value
            data += bytes(stun.padding_length(len(value)))
        data = stun.set_body_length(data, len(data) - stun.HEADER_LENGTH)
    return data


def other_class_unknown_id(rng: random.Random) -> bytes:
    return bytes(_response(rng, rng.randbytes(12), rng.choice([Class.REQUEST, Class.INDICATION])))


def huge(rng: random.Random) -> bytes:
    """Bigger than any link MTU, up to the largest UDP payload; sometimes STUN-framed."""
    size = rng.randrange(1501, MAX_UDP_PAYLOAD + 1)
    if rng.random() < 0.5:
        return rng.randbytes(64) + bytes(size - 64)
    header = struct.pack("!HHI12s", Method.BINDING | Class.RESPONSE, size - 20, stun.COOKIE, rng.randbytes(12))
    return header + struct.pack("!HH", 0xC002, size - 24) + bytes(size - 24)


UNKNOWN_ID_GARBAGE: list[Callable[[random.Random], bytes]] = [
    # The server's generators: requests, indications and broken framing are garbage here too.
    *(lambda rng, g=g: g(rng)[0] for g in GARBAGE_GENERATORS),
    response_unknown_id,
    response_unknown_id,
    other_class_unknown_id,
]


# Garbage carrying the transaction id the gatherer is waiting for. None of it is a Binding
# response libwebrtc would accept (StunMessage::Read, StunRequestManager::CheckResponse), so
# the transaction must go on; most of it is sent from the STUN server's own address, where a
# browser does parse what it receives.


def near_miss_id(rng: random.Random, tid: bytes) -> bytes:
    """A well-formed response whose id differs from the pending one in one bit."""
    bit = rng.randrange(96)
    other = (int.from_bytes(tid, "big") ^ (1 << bit)).to_bytes(12, "big")
    return bytes(_response(rng, other))


def real_id_wrong_length_field(rng: random.Random, tid: bytes) -> bytes:
    data = bytes(_response(rng, tid))
    actual = len(data) - stun.HEADER_LENGTH
    bogus = rng.choice([0, actual - 4, actual + 4, rng.randrange(0, 0x10000)])
    return stun.set_body_length(data, bogus if bogus not in (actual, -4) else actual + 8)


def real_id_truncated(rng: random.Random, tid: bytes) -> bytes:
    """Cut anywhere: inside the header (the id itself cut short) or inside the body."""
    data = bytes(_response(rng, tid))
    return data[: rng.randrange(8, len(data))]


def real_id_trailing_bytes(rng: random.Random, tid: bytes) -> bytes:
    """Bytes after the end the length field gives."""
    return bytes(_response(rng, tid)) + rng.randbytes(rng.randrange(1, 64))


def real_id_bad_attribute_length(rng: random.Random, tid: bytes) -> bytes:
    """A known attribute whose length its value cannot have (complete on the wire)."""
    message_class, attr_type, value = rng.choice(
        [
            (Class.RESPONSE, 0x0020, b"\x00\x01" + rng.randbytes(rng.choice([0, 1, 2, 5, 10, 17]))),
            (Class.RESPONSE, 0x0001, b"\x00\x01" + rng.randbytes(rng.choice([2, 10]))),
            (Class.RESPONSE, 0x0020, b"\x00\x02" + rng.randbytes(rng.choice([6, 10, 22]))),
            (Class.RESPONSE, 0x0020, b"\x00" + bytes([rng.choice([0, 3, 7, 0xFF])]) + rng.randbytes(6)),
            (Class.ERROR, 0x0009, rng.randbytes(rng.randrange(0, 4))),
        ]
    )
    body = struct.pack("!HH", attr_type, len(value)) + value + bytes(stun.padding_length(len(value)))
    return struct.pack("!HHI12s", Method.BINDING | message_class, len(body), stun.COOKIE, tid) + body


def real_id_known_attribute_overrun(rng: random.Random, tid: bytes) -> bytes:
    """XOR-MAPPED-ADDRESS claiming more bytes than the message has, its value cut short."""
    value = rng.randbytes(rng.choice([0, 2, 4, 6]))
    claimed = 8 + 4 * rng.randrange(1, 100)
    body = struct.pack("!HH", 0x0020, claimed) + value
    return struct.pack("!HHI12s", Method.BINDING | Class.RESPONSE, len(body), stun.COOKIE, tid) + body


def real_id_wrong_cookie(rng: random.Random, tid: bytes) -> bytes:
    data = bytes(_response(rng, tid))
    cookie = stun.COOKIE ^ (1 << rng.randrange(32)) if rng.random() < 0.5 else 0
    return data[:4] + struct.pack("!I", cookie) + data[8:]


def real_id_top_bits_set(rng: random.Random, tid: bytes) -> bytes:
    data = bytes(_response(rng, tid))
    return bytes([data[0] | rng.choice([0x40, 0x80, 0xC0])]) + data[1:]


def real_id_not_a_response(rng: random.Random, tid: bytes) -> bytes:
    """Well-formed, right id, but a request or an indication."""
    return bytes(_response(rng, tid, rng.choice([Class.REQUEST, Class.INDICATION])))


def real_id_unknown_method(rng: random.Random, tid: bytes) -> bytes:
    data = bytes(_response(rng, tid, Class.RESPONSE))
    method = rng.choice([0x000B, 0x0EEF, 0x3EEF])  # methods STUN/TURN do not define
    return struct.pack("!H", method | Class.RESPONSE) + data[2:]


PENDING_ID_GARBAGE: list[Callable[[random.Random, bytes], bytes]] = [
    near_miss_id,
    real_id_wrong_length_field,
    real_id_truncated,
    real_id_trailing_bytes,
    real_id_bad_attribute_length,
    real_id_known_attribute_overrun,
    real_id_wrong_cookie,
    real_id_top_bits_set,
    real_id_not_a_response,
    real_id_unknown_method,
]


class _CountingUdpSocket:
    """Counts (and times) every datagram handed to the gatherer's receive handler."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.delivered = 0
        self.handler_seconds = 0.0
        self.handler_errors: list[BaseException] = []

    @property
    def local_address(self) -> tuple[str, int]:
        return self._inner.local_address

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self._inner.sendto(data, addr)

    def set_receiver(self, handler: Callable[[bytes, tuple[str, int]], None]) -> None:
        def counted(data: bytes, addr: tuple[str, int]) -> None:
            self.delivered += 1
            started = time.perf_counter()
            try:
                handler(data, addr)
            except BaseException as exc:  # recorded for the test, then as it was
                self.handler_errors.append(exc)
                raise
            finally:
                self.handler_seconds += time.perf_counter() - started

        self._inner.set_receiver(counted)

    def close(self) -> None:
        self._inner.close()


class CountingNet:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sockets: dict[int, _CountingUdpSocket] = {}  # local port -> socket

    async def bind_udp(self, host: str, port: int = 0) -> _CountingUdpSocket:
        sock = _CountingUdpSocket(await self.inner.bind_udp(host, port))
        self.sockets[sock.local_address[1]] = sock
        return sock

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None):
        return await self.inner.connect_tcp(remote, ssl_context, server_hostname)

    async def resolve(self, host: str, family: int) -> list[str]:
        return await self.inner.resolve(host, family)


class SlowResponder:
    """A STUN server that records Binding Requests and answers only when the test says so."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()
        self.requests: list[tuple[tuple[str, int], bytes]] = []  # (source, transaction id)
        self.unexpected: list[bytes] = []  # anything else the gatherer sent here
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except BlockingIOError:
                return
            try:
                message = stun.parse_message(data)
            except ValueError:
                self.unexpected.append(data)
                continue
            if message.message_method == Method.BINDING and message.message_class == Class.REQUEST:
                self.requests.append(((addr[0], addr[1]), message.transaction_id))
            else:
                self.unexpected.append(data)

    def answer(self, source: tuple[str, int], tid: bytes, mapped: tuple[str, int]) -> None:
        message = Message(Method.BINDING, Class.RESPONSE, tid, attributes={"XOR-MAPPED-ADDRESS": mapped})
        self.sock.sendto(bytes(message), source)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


class GatherRun:
    """One gather in the background against a SlowResponder, its events collected as lines."""

    def __init__(self, responder: SlowResponder, seed: int) -> None:
        self.responder = responder
        self.net = CountingNet(RealNet())
        self.url = f"stun:127.0.0.1:{responder.address[1]}"
        config = icesim.GatherConfig(
            servers=[parse_ice_url(self.url)], interfaces=GATHER_IFACES, seed=seed, time_scale=1.0
        )
        self.lines: list[dict] = []
        self.task = asyncio.ensure_future(self._collect(config))

    async def _collect(self, config: icesim.GatherConfig) -> None:
        async for event in icesim.gather(config, net=self.net):
            self.lines.append(validate_line(icesim.to_json_line(event)))

    async def first_request(self) -> tuple[tuple[str, int], bytes, _CountingUdpSocket]:
        """(gatherer's source address, transaction id, its counted socket) of the first request."""
        await wait_until(lambda: bool(self.responder.requests), "the gatherer's Binding Request")
        source, tid = self.responder.requests[0]
        return source, tid, self.net.sockets[source[1]]

    def events(self) -> list[dict]:
        return [line for line in self.lines if line["type"] != "meta"]

    async def finish(self, timeout: float) -> None:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)

    async def cancel(self) -> None:
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _assert_one_srflx_stream(run: GatherRun) -> None:
    """The whole stream after the answer: gathering, candidates with exactly one srflx (the
    answer's), complete, null; no error; t never goes back; no garbage address anywhere."""
    events = run.events()
    assert [e["type"] for e in events if e["type"] == "icecandidateerror"] == []
    ts = [e["t"] for e in events]
    assert ts == sorted(ts), ts
    assert events[0]["type"] == "icegatheringstatechange" and events[0]["state"] == "gathering"
    assert events[-2]["type"] == "icegatheringstatechange" and events[-2]["state"] == "complete"
    assert events[-1] == {"type": "icecandidate", "t": events[-1]["t"], "candidate": None}
    candidates = [e["candidate"] for e in events[1:-2]]
    assert all(e["type"] == "icecandidate" for e in events[1:-2]) and None not in candidates, events
    srflx = [c for c in candidates if c["type"] == "srflx"]
    assert [(c["address"], c["port"], c["url"]) for c in srflx] == [(*ANSWER_MAPPED, run.url)], srflx
    assert {c["type"] for c in candidates} <= {"host", "srflx"}, candidates
    text = json.dumps(events)
    for address in GARBAGE_MAPPED:
        assert address not in text, f"garbage address {address} in the stream"


GATHERER_GARBAGE_COUNT = 100_000
PENDING_ID_RATE = 0.05  # of the flood, garbage carrying the pending transaction id
HUGE_RATE = 0.003  # datagrams of 1.5-64 KB: each is paced as a batch of its own


async def test_gatherer_survives_garbage() -> None:
    rng = random.Random(0x6A7E)
    responder = SlowResponder()
    run = GatherRun(responder, seed=11)
    clients: list[FloodClient] = []
    try:
        source, tid, counted = await run.first_request()
        target = ("127.0.0.1", source[1])  # the any-address socket, reached over loopback
        clients = [FloodClient() for _ in range(3)]
        senders = [c.sock for c in clients]
        batch_budget = senders[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        delivered_before = counted.delivered
        handler_seconds_before = counted.handler_seconds
        sent = pending_id_sent = huge_sent = 0
        started = time.monotonic()

        async def drained() -> None:
            await wait_until(
                lambda: counted.delivered - delivered_before == sent or run.task.done(),
                lambda: f"the gatherer to drain: {counted.delivered - delivered_before} of {sent}",
            )
            # A gather that ends closes its socket: the rest of the flood would go unread.
            assert not run.task.done(), f"the gather ended during the flood: {run.events()}"

        batch_bytes = 0
        while sent < GATHERER_GARBAGE_COUNT:
            roll = rng.random()
            sender = rng.choice(senders)
            if roll < PENDING_ID_RATE:
                data = rng.choice(PENDING_ID_GARBAGE)(rng, tid)
                # Mostly from the server's own address: a browser parses what comes from there.
                sender = responder.sock if rng.random() < 0.6 else sender
                pending_id_sent += 1
            elif roll < PENDING_ID_RATE + HUGE_RATE:
                data = huge(rng)
                huge_sent += 1
            else:
                data = rng.choice(UNKNOWN_ID_GARBAGE)(rng)
            cost = len(data) + DATAGRAM_OVERHEAD if len(data) <= 4096 else batch_budget
            if batch_bytes + cost > batch_budget:
                await drained()
                batch_bytes = 0
            sender.sendto(data, target)
            sent += 1
            batch_bytes += cost
        await drained()
        flood_seconds = time.monotonic() - started
        handler_us = (counted.handler_seconds - handler_seconds_before) / sent * 1e6
        await asyncio.sleep(0.05)  # room for anything the gatherer should not send

        delivered = counted.delivered - delivered_before
        assert delivered == sent >= GATHERER_GARBAGE_COUNT
        assert counted.handler_errors == []
        assert pending_id_sent > 3000 and huge_sent > 100  # the mix exercised both
        # Nothing answered the garbage, and the transaction is still the one pending: the
        # responder has seen only (re)transmissions of the first request, from one socket.
        assert [c.replies for c in clients] == [[], [], []]
        assert responder.unexpected == []
        assert set(responder.requests) == {(source, tid)}
        assert flood_seconds < 25, "the flood outlasted most of the 39.9 s STUN budget"
        during = run.events()
        assert [e for e in during if e["type"] == "icecandidateerror"] == []
        assert [e for e in during if e.get("candidate") and e["candidate"]["type"] != "host"] == []
        assert not [e for e in during if e["type"] == "icegatheringstatechange" and e["state"] == "complete"]

        # The answer to the (re)transmitted request still gets its srflx, promptly.
        answered = time.monotonic()
        responder.answer(*responder.requests[-1], ANSWER_MAPPED)
        await run.finish(timeout=5.0)
        finish_seconds = time.monotonic() - answered
        assert finish_seconds < 3.0
        _assert_one_srflx_stream(run)
        assert counted.handler_errors == []
        print(
            f"\ngatherer: {sent} garbage datagrams ({pending_id_sent} with the pending id,"
            f" {huge_sent} over 1500 B), {delivered} delivered, in {flood_seconds:.1f} s; receive"
            f" handler {handler_us:.2f} us/datagram; {len(responder.requests)} sends of the request"
            f" seen; null candidate {finish_seconds * 1000:.0f} ms after the answer"
        )
    finally:
        await run.cancel()
        for client in clients:
            client.close()
        responder.close()


# Responses carrying the pending transaction id that libwebrtc does NOT accept. Each case sends
# one such datagram while the request is pending, then the real answer; a browser emits the
# real answer's srflx, and so must the gatherer (UdpPort checks framing, method and source).


def real_id_attribute_overrun(rng: random.Random, tid: bytes) -> bytes:
    """A Binding success, then an attribute claiming more bytes than the message has
    (StunMessage::Read: buf->Consume fails, the response is dropped)."""
    message = Message(Method.BINDING, Class.RESPONSE, tid)
    message.attributes["XOR-MAPPED-ADDRESS"] = (GARBAGE_MAPPED[0], 1111)
    value = rng.randbytes(4)
    data = bytes(message) + struct.pack("!HH", rng.choice([0xC001, 0x7F01]), len(value) + 64) + value
    return stun.set_body_length(data, len(data) - stun.HEADER_LENGTH)


def real_id_unaligned_body(rng: random.Random, tid: bytes) -> bytes:
    """A Binding success whose body ends with 1-3 bytes that are no attribute header
    (StunMessage::Read: ReadUInt16 fails, the response is dropped)."""
    message = Message(Method.BINDING, Class.RESPONSE, tid)
    message.attributes["XOR-MAPPED-ADDRESS"] = (GARBAGE_MAPPED[0], 1111)
    data = bytes(message) + rng.randbytes(rng.randrange(1, 4))
    return stun.set_body_length(data, len(data) - stun.HEADER_LENGTH)


def real_id_wrong_method(rng: random.Random, tid: bytes) -> bytes:
    """An Allocate success response to the Binding request (StunRequestManager::CheckResponse:
    "Received response with wrong type", the request stays pending)."""
    message = Message(Method.ALLOCATE, Class.RESPONSE, tid)
    message.attributes["XOR-MAPPED-ADDRESS"] = (GARBAGE_MAPPED[0], 1111)
    return bytes(message)


# Part of the 100k flood too: none of these may complete the pending transaction.
PENDING_ID_GARBAGE += [real_id_attribute_overrun, real_id_unaligned_body, real_id_wrong_method]


def real_id_valid_response(rng: random.Random, tid: bytes) -> bytes:
    message = Message(Method.BINDING, Class.RESPONSE, tid)
    message.attributes["XOR-MAPPED-ADDRESS"] = (GARBAGE_MAPPED[0], 1111)
    return bytes(message)


@pytest.mark.parametrize(
    "make, from_server",
    [
        pytest.param(real_id_wrong_length_field, True, id="control-wrong-length-field"),
        pytest.param(real_id_attribute_overrun, True, id="attribute-overrun"),
        pytest.param(real_id_unaligned_body, True, id="unaligned-body"),
        pytest.param(real_id_wrong_method, True, id="wrong-method"),
        # UDPPort::OnReadPacket hands only datagrams from a STUN server's address to the
        # request manager; anything else with the right id is not a STUN response to it.
        pytest.param(real_id_valid_response, False, id="not-from-the-server"),
    ],
)
async def test_gatherer_rejects_response_browsers_drop(
    make: Callable[[random.Random, bytes], bytes], from_server: bool
) -> None:
    rng = random.Random(0xBAD1D)
    responder = SlowResponder()
    run = GatherRun(responder, seed=12)
    stranger = FloodClient()
    try:
        source, tid, counted = await run.first_request()
        before = counted.delivered
        (responder.sock if from_server else stranger.sock).sendto(make(rng, tid), ("127.0.0.1", source[1]))
        await wait_until(lambda: counted.delivered > before, "the datagram to reach the gatherer")
        await asyncio.sleep(0.05)
        responder.answer(*responder.requests[-1], ANSWER_MAPPED)
        await run.finish(timeout=5.0)
        _assert_one_srflx_stream(run)
        assert stranger.replies == []
    finally:
        await run.cancel()
        stranger.close()
        responder.close()
