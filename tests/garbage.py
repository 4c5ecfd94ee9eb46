"""Seeded garbage for the hostile-input tests (test_hostile_server.py, test_hostile_gatherer.py).

Every generator takes a random.Random, so a failing flood reproduces from its seed:

- GARBAGE_GENERATORS: datagrams sent at the STUN server; each returns (datagram, transaction
  id, unknown attribute types), only the 420-worthy ones with a list; valid_request makes
  the real Binding Requests mixed into that flood.
- UNKNOWN_ID_GARBAGE: datagrams sent at the gatherer's socket with a transaction id it never
  used (the server's generators included).
- PENDING_ID_GARBAGE: datagrams carrying the transaction id the gatherer is waiting for, none
  of them a Binding response libwebrtc would accept.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from aioice import stun
from aioice.stun import Class, Message, Method

from icesim.stun_server import KNOWN_REQUIRED_ATTRIBUTES, MAX_DATAGRAM_SIZE

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


# ---------------------------------------------------------------------------------------------
# Garbage for the gatherer's sockets
# ---------------------------------------------------------------------------------------------

# Addresses only garbage ever claims as a mapped address; none may become a candidate.
GARBAGE_MAPPED = ("198.51.100.9", "100.64.0.77", "203.0.113.10", "2001:db8::9")
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


# Responses with the pending id that libwebrtc drops (framing, method): part of the flood, and
# each also sent alone, then the real answer, by test_gatherer_rejects_response_browsers_drop.


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


# None of these may complete the pending transaction.
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
    real_id_attribute_overrun,
    real_id_unaligned_body,
    real_id_wrong_method,
]
