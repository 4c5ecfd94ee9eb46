"""What every browser dialect provides to the engine, and the pure data it works on.

A dialect is sans-IO: it decides which sockets a browser would open, how it spells each
candidate and error, and which timers it runs. The engine does the I/O and asks the dialect.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import IceServerUrl, Interface, IPAddress
from ..events import CandidateErrorEvent, Event, IceCandidate


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """One network the browser gathers on: one UDP socket, its host candidate and cost."""

    key: str  # e.g. "any4" or "eth0%198.51.100.2"
    family: int  # 4 or 6
    bind_address: str  # what the socket binds: "0.0.0.0", "::" or the interface IP
    host_address: IPAddress | None  # the address the host candidate shows (before mDNS); None = no host candidate
    adapter_type: str  # ethernet | wifi | cellular | vpn | unknown | loopback | any
    network_id: int  # 0 = omitted from the string
    network_cost: int  # 0 = omitted from the string
    preference: int  # network rank: 127, 126, ... (0 for any-address networks)
    any_address: bool
    tcp_active: bool = False  # emit a TCP active host candidate (port 9)


@dataclass(frozen=True, slots=True)
class RetransmitSchedule:
    """Browser time (ms) of each send after the first, and when the transaction gives up."""

    send_offsets_ms: tuple[float, ...]  # first is 0
    timeout_ms: float  # after the first send


@dataclass(slots=True)
class GatherIdentity:
    """Per-connection random values: drawn once per gather from the seeded RNG."""

    ufrag: str
    pwd: str
    tiebreaker: int
    rng: random.Random
    mdns_names: dict[str, str] = field(default_factory=dict)
    # Dialects that number foundations in creation order (Firefox) keep their tables here.
    foundations: dict[tuple, int] = field(default_factory=dict)
    server_ids: dict[IceServerUrl, int] = field(default_factory=dict)
    start_slots: dict[tuple, int] = field(default_factory=dict)


class Dialect(Protocol):
    """The browser-specific rules the engine consults. See ChromeDialect for the reference one.

    `timers` holds the browser-time constants the engine reads (see ChromeTimers): phase
    delays, completion and settle times, mDNS/DNS delays, ranges as (low, high) ms."""

    name: str
    version: int
    timers: Any
    # A TURN/UDP allocation's XOR-MAPPED-ADDRESS also yields a srflx (nICEr); Chrome runs a
    # STUN binding to the TURN server instead (see stun_servers).
    srflx_from_turn: bool

    def prepare(self, ident: GatherIdentity, plans: list[NetworkPlan], servers: list[IceServerUrl]) -> None:
        """Called once before any socket: the browser creates its candidates here (Firefox numbers
        foundations and paces transactions in this order). `servers` is the page's full list."""
        ...

    def refused_server_error(
        self, server: IceServerUrl, t_gathering: float, rng: random.Random
    ) -> CandidateErrorEvent | None:
        """An error fired at once for a server the browser refuses to use (no packet is sent)."""
        ...

    def start_offset_ms(self, ident: GatherIdentity, net: NetworkPlan, server: IceServerUrl) -> float:
        """When (after "gathering") the transaction to `server` on `net` may start."""
        ...

    def obfuscates_hosts(self, mdns: bool, permission: bool) -> bool: ...

    def srflx_equal_to_host_emitted(self, mdns: bool) -> bool:
        """Whether a srflx whose address is the socket's own address is still signalled."""
        ...

    def completion_events(
        self, ident: GatherIdentity, t: float, jitter: Any, mid: str, mline: int
    ) -> list[Event]:
        """The end of gathering as the page sees it ("complete", the null candidate...)."""
        ...

    def new_identity(self, rng: random.Random) -> GatherIdentity: ...

    def plan_networks(
        self, interfaces: list[Interface], permission: bool
    ) -> list[NetworkPlan]: ...

    def stun_servers(self, servers: list[IceServerUrl]) -> list[IceServerUrl]: ...

    def relay_preferences(self, turn_count: int) -> list[int]: ...

    def turn_port_allowed(self, port: int) -> bool: ...

    def udp_port_blocked(self, port: int) -> bool: ...

    def error_held_until_complete(self, server: IceServerUrl, resolved: str | None = None) -> bool: ...

    def host_candidate(
        self, ident: GatherIdentity, net: NetworkPlan, port: int, mdns: bool, mid: str, mline: int
    ) -> IceCandidate | None: ...

    def tcp_active_candidate(
        self, ident: GatherIdentity, net: NetworkPlan, mdns: bool, mid: str, mline: int
    ) -> IceCandidate | None: ...

    def srflx_candidate(
        self, ident: GatherIdentity, net: NetworkPlan, port: int, mapped: tuple[str, int],
        server: IceServerUrl, mdns: bool, mid: str, mline: int,
    ) -> IceCandidate: ...

    def relay_candidate(
        self, ident: GatherIdentity, net: NetworkPlan, relayed: tuple[str, int],
        mapped: tuple[str, int], server: IceServerUrl, relay_preference: int,
        mid: str, mline: int,
    ) -> IceCandidate: ...

    def stun_error(
        self, t: float, net: NetworkPlan, port: int, server: IceServerUrl, kind: str,
        code: int | None = None, reason: str | None = None,
    ) -> CandidateErrorEvent | None: ...

    def turn_error(
        self, t: float, net: NetworkPlan, port: int, server: IceServerUrl, kind: str,
        code: int | None = None, reason: str | None = None, resolved: str | None = None,
    ) -> CandidateErrorEvent: ...

    def retransmit_schedule(self, rng: random.Random) -> RetransmitSchedule: ...
