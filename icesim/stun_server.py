"""An embedded RFC 5389 STUN server with a virtual NAT in front of it.

`icesim gather` needs a STUN server to produce server-reflexive candidates, and
asking users to run coturn first would make the default path depend on setup
they may not have. This server starts in-process on loopback in milliseconds.
On loopback every srflx would equal the host candidate (and Chrome drops such
duplicates), so the server can pretend to sit behind a NAT: `map_address`
replaces the mapped IP, and `nat` chooses how the mapped port is picked.

Message encoding and attribute decoding reuse `aioice.stun`. aioice's parser is
lenient (it skips unknown attributes, does not check the magic cookie, the top
two type bits, attribute overruns or where FINGERPRINT sits), so the framing is
validated here before aioice sees a datagram.
"""

from __future__ import annotations

import asyncio
import binascii
import enum
import hashlib
import ipaddress
import itertools
import secrets
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aioice import stun
from aioice.stun import Class, Message, Method

from .stun_framing import MalformedStun, iter_attributes

__all__ = ["MAX_DATAGRAM_SIZE", "NatMode", "StunServer", "StunServerStats", "run_stun_server"]

log = structlog.get_logger(__name__)

# A Binding Request is ~20-100 bytes; anything bigger than an Ethernet frame is
# not something a browser sends, so it is dropped without parsing.
MAX_DATAGRAM_SIZE = 1500

BINDING_REQUEST_TYPE = Method.BINDING | Class.REQUEST  # 0x0001
ATTR_UNKNOWN_ATTRIBUTES = 0x000A  # not in aioice's attribute table
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_FINGERPRINT = 0x8028
ATTR_XOR_MAPPED_ADDRESS = 0x0020
BINDING_SUCCESS_TYPE = Method.BINDING | Class.RESPONSE  # 0x0101
_COOKIE_BYTES = struct.pack("!I", stun.COOKIE)

# Comprehension-required attributes (0x0000-0x7FFF) this server accepts in a
# Binding Request: RFC 5389's own, plus ICE's PRIORITY and USE-CANDIDATE so a
# connectivity check is answered. Everything else in that range gets a 420;
# that includes RFC 5780's CHANGE-REQUEST, which is how a server without NAT
# behaviour discovery must refuse it.
KNOWN_REQUIRED_ATTRIBUTES = frozenset(
    {0x0001, 0x0006, 0x0008, 0x0009, 0x000A, 0x0014, 0x0015, 0x0020, 0x0024, 0x0025}
)

# Instances in one process get consecutive NAT salts, so two servers always map
# one client socket to different symmetric ports; the random start keeps two
# processes (two standalone servers) from agreeing by accident.
_PROCESS_SALT = secrets.randbits(32)
_instance_numbers = itertools.count()


class NatMode(str, enum.Enum):
    """How the virtual NAT picks the mapped port when `map_address` is set."""

    EIM = "eim"  # endpoint-independent and port-preserving: mapped port = source port
    SYMMETRIC = "symmetric"  # a fresh port per (source, STUN server)


@dataclass
class StunServerStats:
    """Counters, so tests and the CLI can see what happened to every datagram.

    Invariants: received == requests + dropped_malformed, and
    requests == responses + errors_sent.
    """

    received: int = 0  # every datagram handed to the server
    requests: int = 0  # well-formed Binding Requests (each one was answered)
    responses: int = 0  # Binding Success Responses sent
    errors_sent: int = 0  # Error Responses sent (configured error_code, or 420)
    dropped_malformed: int = 0  # dropped unanswered: malformed, oversized, not a Binding Request


class StunServer:
    """A zero-setup STUN server, plus a virtual NAT so a realistic srflx comes out of loopback.

    Only Binding Requests are answered; everything else RFC 5389 says to discard
    silently (responses, indications, unknown methods, broken framing, a bad
    FINGERPRINT) is dropped and counted in `stats.dropped_malformed`.
    """

    def __init__(
        self,
        map_address: str | None = None,
        nat: NatMode | str = NatMode.EIM,
        port_base: int = 40000,
        software: str | None = None,
        error_code: tuple[int, str] | None = None,
    ) -> None:
        self._map_ip = ipaddress.ip_address(map_address) if map_address is not None else None
        self._nat = NatMode(nat)
        if not 1024 <= port_base <= 65535:
            raise ValueError(f"port_base must be in 1024-65535, got {port_base}")
        if software is not None and len(software.encode("utf8")) > 763:
            raise ValueError("software must be at most 763 bytes (RFC 5389 section 15.10)")
        if error_code is not None and not 300 <= error_code[0] <= 699:
            raise ValueError(f"STUN error codes are 300-699, got {error_code[0]}")
        self._port_base = port_base
        self._software = software
        self._error_code = error_code
        self._nat_salt = _PROCESS_SALT + next(_instance_numbers)
        self._nat_table: dict[tuple[str, int], int] = {}  # (source ip, port) -> mapped port
        self._ports_in_use: set[int] = set()
        self._transport: asyncio.DatagramTransport | None = None
        self._address: tuple[str, int] | None = None
        self.stats = StunServerStats()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Bind the UDP socket and return the bound (host, port); port 0 picks a free one."""
        if self._transport is not None:
            raise RuntimeError("STUN server already started")
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _StunProtocol(self), local_addr=(host, port)
        )
        self._transport = transport
        sockname = transport.get_extra_info("sockname")
        self._address = (sockname[0], sockname[1])
        log.debug("stun_server.listening", address=self._address, nat=self._nat.value)
        return self._address

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("STUN server not started")
        return self._address

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            log.debug("stun_server.closed", address=self._address, stats=self.stats)

    async def __aenter__(self) -> StunServer:
        if self._transport is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    # -- datagram handling ---------------------------------------------------

    def _datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.stats.received += 1
        try:
            reply = self._answer(data, addr)
        except Exception:  # a bug here must not kill the socket; keep serving
            log.debug("stun_server.handler_failed", exc_info=True)
            reply = None
        if reply is None:
            self.stats.dropped_malformed += 1
            return
        self.stats.requests += 1
        if self._transport is not None:
            self._transport.sendto(reply, addr)

    def _answer(self, data: bytes, addr: tuple[Any, ...]) -> bytes | None:
        """Return the reply to send, or None when RFC 5389 says to discard silently."""
        size = len(data)
        if size < stun.HEADER_LENGTH or size > MAX_DATAGRAM_SIZE:
            return None
        message_type, _, cookie = struct.unpack_from("!HHI", data)
        # The exact type match also rejects non-STUN (top two bits set),
        # responses and indications (never answered) and every other method.
        if message_type != BINDING_REQUEST_TYPE or cookie != stun.COOKIE:
            return None
        unknown: list[int] = []
        after_integrity = False
        try:
            for attr_type, attr_len, value_pos, end in iter_attributes(data):
                if attr_type == ATTR_FINGERPRINT:
                    if end != size or attr_len != 4:
                        return None  # FINGERPRINT must be last
                    (fingerprint,) = struct.unpack_from("!I", data, value_pos)
                    if fingerprint != stun.message_fingerprint(data[: value_pos - 4]):
                        return None
                elif attr_type == ATTR_MESSAGE_INTEGRITY:
                    after_integrity = True
                elif attr_type < 0x8000 and attr_type not in KNOWN_REQUIRED_ATTRIBUTES:
                    # RFC 5389 15.4: attributes after MESSAGE-INTEGRITY are ignored.
                    if not after_integrity and attr_type not in unknown:
                        unknown.append(attr_type)
        except MalformedStun:
            return None  # bad length field, misalignment or an overrunning attribute

        if unknown:
            # Checked before any value is decoded: the values of attributes we do
            # not understand cannot make the request malformed (RFC 5389 7.3.1).
            transaction_id = data[8 : stun.HEADER_LENGTH]
            return self._error_response(transaction_id, (420, "Unknown Attribute"), unknown)
        transaction_id = data[8 : stun.HEADER_LENGTH]
        if size > stun.HEADER_LENGTH:  # a bare header (what browsers send) has no values to check
            try:  # decodes the known attributes' values; raises on malformed ones
                stun.parse_message(data)
            except Exception:
                return None
        if self._error_code is not None:
            return self._error_response(transaction_id, self._error_code)
        mapped = self._mapped_address(addr)
        if self._software is None:
            reply = binding_success(transaction_id, mapped)
        else:
            response = Message(Method.BINDING, Class.RESPONSE, transaction_id)
            response.attributes["XOR-MAPPED-ADDRESS"] = mapped
            response.attributes["SOFTWARE"] = self._software
            response.add_fingerprint()
            reply = bytes(response)
        self.stats.responses += 1
        return reply

    def _error_response(
        self, transaction_id: bytes, error: tuple[int, str], unknown: list[int] | None = None
    ) -> bytes:
        """Encode an Error Response; UNKNOWN-ATTRIBUTES is appended by hand (aioice can't)."""
        message = Message(Method.BINDING, Class.ERROR, transaction_id, {"ERROR-CODE": error})
        if self._software is not None:
            message.attributes["SOFTWARE"] = self._software
        data = bytes(message)
        if unknown:
            value = b"".join(struct.pack("!H", attr_type) for attr_type in unknown)
            data += struct.pack("!HH", ATTR_UNKNOWN_ATTRIBUTES, len(value)) + value
            data += bytes(stun.padding_length(len(value)))
        # FINGERPRINT goes last, so it is added after UNKNOWN-ATTRIBUTES.
        data += struct.pack("!HHI", ATTR_FINGERPRINT, 4, stun.message_fingerprint(data))
        self.stats.errors_sent += 1
        return stun.set_body_length(data, len(data) - stun.HEADER_LENGTH)

    # -- virtual NAT ---------------------------------------------------------

    def _mapped_address(self, addr: tuple[Any, ...]) -> tuple[str, int]:
        """The address the virtual NAT would show the STUN server for this source."""
        source_ip = ipaddress.ip_address(addr[0].split("%", 1)[0])  # drop a scope id
        if source_ip.version == 6 and source_ip.ipv4_mapped is not None:
            source_ip = source_ip.ipv4_mapped  # an IPv4 client on a dual-stack socket
        source_port = addr[1]
        # An IPv4 public address cannot stand in for an IPv6 source (nor the reverse).
        if self._map_ip is None or self._map_ip.version != source_ip.version:
            return str(source_ip), source_port
        if self._nat is NatMode.EIM:
            return str(self._map_ip), source_port
        return str(self._map_ip), self._symmetric_port(str(source_ip), source_port)

    def _symmetric_port(self, source_ip: str, source_port: int) -> int:
        """A mapped port unique per source within this server, and salted per server.

        The start slot is a hash of the source plus this instance's salt, so it
        does not depend on the order clients arrive in; collisions probe upward.
        """
        key = (source_ip, source_port)
        mapped = self._nat_table.get(key)
        if mapped is not None:
            return mapped
        pool_size = 65536 - self._port_base
        if len(self._nat_table) >= pool_size:  # pool exhausted: expire the oldest mapping
            oldest = next(iter(self._nat_table))
            self._ports_in_use.discard(self._nat_table.pop(oldest))
        digest = hashlib.blake2b(f"{source_ip}|{source_port}".encode(), digest_size=8).digest()
        slot = (int.from_bytes(digest, "big") + self._nat_salt) % pool_size
        while self._port_base + slot in self._ports_in_use:
            slot = (slot + 1) % pool_size
        mapped = self._port_base + slot
        self._nat_table[key] = mapped
        self._ports_in_use.add(mapped)
        return mapped


def binding_success(transaction_id: bytes, mapped: tuple[str, int]) -> bytes:
    """A Binding Success Response with XOR-MAPPED-ADDRESS and FINGERPRINT: the bytes aioice's
    Message encodes (tests/test_stun_server.py compares them), without its per-byte XOR loop
    and double encoding (FINGERPRINT), which were most of a dataset worker's server time."""
    host, port = mapped
    family, packed = (2, socket.inet_pton(socket.AF_INET6, host)) if ":" in host else (1, socket.inet_aton(host))
    if family == 1 and socket.inet_ntoa(packed) != host:
        packed = ipaddress.IPv4Address(host).packed  # inet_aton's lenient forms: aioice's error
    pad = _COOKIE_BYTES + transaction_id
    xaddr = (int.from_bytes(packed, "big") ^ int.from_bytes(pad[: len(packed)], "big")).to_bytes(len(packed), "big")
    attr = struct.pack("!HHBBH", ATTR_XOR_MAPPED_ADDRESS, 4 + len(packed), 0, family, port ^ (stun.COOKIE >> 16)) + xaddr
    head = struct.pack("!HHI12s", BINDING_SUCCESS_TYPE, len(attr) + 8, stun.COOKIE, transaction_id)
    body = head + attr
    return body + struct.pack("!HHI", ATTR_FINGERPRINT, 4, binascii.crc32(body) ^ stun.FINGERPRINT_XOR)


class _StunProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: StunServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._server._datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (a client that went away) are routine for a UDP server.
        log.debug("stun_server.socket_error", error=str(exc))


async def run_stun_server(
    host: str = "127.0.0.1",
    port: int = 3478,
    map_address: str | None = None,
    nat: NatMode | str = NatMode.EIM,
    ready: Callable[[tuple[str, int]], None] | None = None,
    *,
    port_base: int = 40000,
    software: str | None = None,
    error_code: tuple[int, str] | None = None,
) -> None:
    """Serve until cancelled; `ready(address)` is called once the socket is bound."""
    server = StunServer(map_address, nat, port_base, software, error_code)
    address = await server.start(host, port)
    try:
        if ready is not None:
            ready(address)
        await asyncio.get_running_loop().create_future()  # never resolves
    finally:
        server.close()
