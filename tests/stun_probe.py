"""Synchronous STUN Binding probes over UDP and TCP, used to wait until coturn is ready and by
the coturn fixture's own tests. Re-exported by coturn.py.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time

from aioice import stun

from icesim.stun_framing import iter_attributes
from loopback_ports import LOOPBACK


def _binding_request() -> stun.Message:
    return stun.Message(
        message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST
    )


def stun_binding_udp(
    addr: tuple[str, int],
    timeout: float = 1.0,
    sock: socket.socket | None = None,
) -> stun.Message:
    """Send a STUN Binding Request over UDP and return the parsed response.

    Retransmits every 100 ms until ``timeout``. Raises ``TimeoutError``.
    When ``sock`` is given it is used (and left open), so the caller can
    compare XOR-MAPPED-ADDRESS with ``sock.getsockname()``.
    """
    own = sock is None
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, 0))
    request = _binding_request()
    data = bytes(request)
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no STUN Binding response from udp {addr}")
            sock.sendto(data, addr)
            sock.settimeout(min(0.1, remaining))
            try:
                while True:
                    reply, _ = sock.recvfrom(2048)
                    with contextlib.suppress(ValueError):
                        message = stun.parse_message(reply)
                        if message.transaction_id == request.transaction_id:
                            return message
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                # ICMP port unreachable from an earlier send: not up yet.
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
                continue
    finally:
        if own:
            sock.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by coturn")
        buf += chunk
    return buf


def stun_binding_tcp(addr: tuple[str, int], timeout: float = 1.0) -> stun.Message:
    """Send one STUN Binding Request over a new TCP connection; return the reply."""
    request = _binding_request()
    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.sendall(bytes(request))
        header = _recv_exact(sock, 20)
        (length,) = struct.unpack("!H", header[2:4])
        message = stun.parse_message(header + _recv_exact(sock, length))
    if message.transaction_id != request.transaction_id:
        raise ConnectionError("STUN response with a foreign transaction id")
    return message


def unknown_attributes_of(data: bytes) -> list[int]:
    """Decode UNKNOWN-ATTRIBUTES (0x000A) from a raw response; aioice skips that attribute."""
    for attr_type, attr_len, value_pos, _ in iter_attributes(data):
        if attr_type == 0x000A:
            return [t for (t,) in struct.iter_unpack("!H", data[value_pos : value_pos + attr_len])]
    raise AssertionError("no UNKNOWN-ATTRIBUTES in the response")
