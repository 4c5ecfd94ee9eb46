"""The UDP socket a browser opens per network, shared by host, srflx and TURN/UDP (libwebrtc's
shared-socket mode: capture S8 shows relay rport = host port), with a STUN demultiplexer."""

from __future__ import annotations

import asyncio

from aioice import stun

from ..dialects.base import NetworkPlan
from ..net import UdpSocket
from ..stun_framing import parse_binding_success_v4, well_framed
from ..stun_transaction import StunTransaction
from .flag import Flag

STUN_COOKIE = b"\x21\x12\xa4\x42"


class UdpPort:
    """One bound socket on one planned network. Unknown or malformed datagrams are dropped."""

    def __init__(self, plan: NetworkPlan, sock: UdpSocket) -> None:
        self.plan = plan
        self.sock = sock
        self.port = sock.local_address[1]
        self.transactions: dict[bytes, StunTransaction] = {}
        self.mapped_seen: set[tuple[str, int]] = set()
        # Set once this socket's host candidate is out (or known not to come).
        self.host_done = Flag()
        self.host_t = 0.0
        # When a STUN server name's lookup result reached this socket (browser time), for the
        # later sockets' host candidates that queue behind it; None = this socket looks up no name.
        self.lookup_delivered: asyncio.Future[float] | None = None
        sock.set_receiver(self._on_datagram)

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        # Cheap checks first: hostile floods must cost little (issue: 100k garbage datagrams).
        if len(data) < 20 or data[4:8] != STUN_COOKIE or data[0] & 0xC0:
            return
        txn = self.transactions.get(data[8:20])
        if txn is None:
            return
        message = parse_binding_success_v4(data)  # the common answer, well framed by its shape
        if message is None:
            if not well_framed(data):
                return
            try:
                message = stun.parse_message(data)
            except Exception:  # aioice raises ValueError, struct.error, KeyError... on garbage
                return
        setattr(message, "raw", data)  # for attributes aioice does not decode (ALTERNATE-SERVER)
        txn.response_received(message, addr)

    def send_to(self, addr: tuple[str, int], dialect=None):
        """A sender for one destination; the browser drops UDP to its restricted ports before
        sending (the transaction still runs its timers to the 701)."""
        if dialect is not None and dialect.udp_port_blocked(addr[1]):
            return lambda data: None
        return lambda data: self.sock.sendto(data, addr)

    def close(self) -> None:
        for txn in self.transactions.values():
            txn.cancel()
        self.sock.close()
