"""Strict STUN framing, checked before aioice's lenient parser sees a datagram.

aioice.stun.parse_message tolerates overrunning attributes and trailing bytes; libwebrtc's
StunMessage::Read does not, and neither may we: a response the browser would drop must not
complete a transaction (tests/test_hostile_gatherer.py)."""

from __future__ import annotations

import binascii
import socket
import struct
from typing import Iterator

from aioice import stun


class MalformedStun(ValueError):
    pass


def iter_attributes(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(type, value length, value offset, end offset) of each attribute; raises MalformedStun
    when the header length is not the datagram's, not 4-aligned, or an attribute overruns."""
    size = len(data)
    if size < stun.HEADER_LENGTH:
        raise MalformedStun("shorter than a STUN header")
    (length,) = struct.unpack_from("!H", data, 2)
    if length != size - stun.HEADER_LENGTH or length % 4:
        raise MalformedStun("length field does not frame the datagram")
    pos = stun.HEADER_LENGTH
    while pos < size:
        attr_type, attr_len = struct.unpack_from("!HH", data, pos)
        end = pos + 4 + attr_len + stun.padding_length(attr_len)
        if end > size:
            raise MalformedStun("attribute overruns the message")
        yield attr_type, attr_len, pos + 4, end
        pos = end


def well_framed(data: bytes) -> bool:
    try:
        for _ in iter_attributes(data):
            pass
    except MalformedStun:
        return False
    return True


# The one response almost every dataset session gets: Binding success, XOR-MAPPED-ADDRESS
# (IPv4), FINGERPRINT; 40 bytes.
_SUCCESS_V4_HEAD = struct.pack("!HH", stun.Method.BINDING | stun.Class.RESPONSE, 20)
_SUCCESS_V4_ATTRS = struct.pack("!HHBB", 0x0020, 8, 0, 1)
_FINGERPRINT_HEAD = struct.pack("!HH", 0x8028, 4)
_COOKIE = stun.COOKIE.to_bytes(4, "big")


def parse_binding_success_v4(data: bytes) -> stun.Message | None:
    """That response parsed to the Message aioice.stun.parse_message returns for it (same
    attributes, same checks: framing, FINGERPRINT), without aioice's per-byte XOR and
    ipaddress objects; None for any other datagram (parse those with aioice)."""
    if (len(data) != 40 or data[0:4] != _SUCCESS_V4_HEAD or data[4:8] != _COOKIE
            or data[20:26] != _SUCCESS_V4_ATTRS or data[32:36] != _FINGERPRINT_HEAD):
        return None
    (fingerprint,) = struct.unpack_from("!I", data, 36)
    if fingerprint != binascii.crc32(data[:32]) ^ stun.FINGERPRINT_XOR:
        return None  # aioice raises: the caller's fallback drops it the same way
    port, addr = struct.unpack_from("!HI", data, 26)
    mapped = (socket.inet_ntoa((addr ^ stun.COOKIE).to_bytes(4, "big")), port ^ (stun.COOKIE >> 16))
    transaction_id = data[8:20]
    return stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id,
                        {"XOR-MAPPED-ADDRESS": mapped, "FINGERPRINT": fingerprint})
