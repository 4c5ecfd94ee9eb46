"""Hostile input: what faces the network must survive anything sent at it.

Floods are generated from a seeded random.Random so a failure reproduces, and
they are paced (send a batch, let the receiver drain it) so that the kernel's
socket buffer never drops datagrams: every datagram sent is then one the code
under test handled, which is what makes exact counts assertable.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections.abc import Callable

import structlog
from aioice import stun
from aioice.stun import Class, Message, Method

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
