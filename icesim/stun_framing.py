"""Strict STUN framing, checked before aioice's lenient parser sees a datagram.

aioice.stun.parse_message tolerates overrunning attributes and trailing bytes; libwebrtc's
StunMessage::Read does not, and neither may we: a response the browser would drop must not
complete a transaction (tests/test_hostile_gatherer.py)."""

from __future__ import annotations

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
