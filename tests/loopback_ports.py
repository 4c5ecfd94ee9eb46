"""Loopback ports for the tests: free ones (for coturn's listening port), closed ones (nothing
listening, for UDP nor TCP: the "unreachable server" cases) and coturn's relay port range,
kept out of the kernel's ephemeral range. Re-exported by coturn.py.
"""

from __future__ import annotations

import errno
import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def relay_port_range() -> tuple[int, int]:
    """Relay ports for coturn: above the kernel's ephemeral range when possible.

    Keeping relay ports out of the ephemeral range means a relay allocation
    can never collide with a port the kernel hands to a test socket (or with
    the listening port of another coturn, which is chosen from that range).
    """
    _, eph_hi = _ephemeral_range()
    if 65535 - eph_hi >= 1000:
        return eph_hi + 1, 65535
    return 49152, 65535


def _port_free(port: int, host: str = LOOPBACK) -> bool:
    """True when ``port`` can be bound on ``host`` for both UDP and TCP."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = LOOPBACK, attempts: int = 50) -> int:
    """A port on ``host`` that is currently free for both UDP and TCP.

    A UDP socket is bound to port 0, then a TCP socket to the same port; if
    the TCP bind fails another port is tried. Both are closed before
    returning, so the caller must be ready for a (rare) race.
    """
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        continue
                    raise
                return port
    raise RuntimeError(f"no port free for both UDP and TCP on {host}")


def closed_port(host: str = LOOPBACK, attempts: int = 200) -> int:
    """A loopback port with nothing listening on it, for UDP nor TCP.

    Chosen below the kernel's ephemeral range (and so outside coturn's relay
    range too), so that no socket opened later by a test gets it from the
    kernel by chance. UDP to it draws an ICMP port unreachable; TCP a RST.
    """
    eph_lo, _ = _ephemeral_range()
    lo, hi = 20000, min(eph_lo - 1, 32767)
    rng = random.Random()
    if hi > lo:
        for _ in range(attempts):
            port = rng.randint(lo, hi)
            if _port_free(port, host):
                return port
    return free_port(host)
