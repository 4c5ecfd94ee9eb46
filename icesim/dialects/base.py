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
class GatherPolicy:
    """What the browser's port allocator may gather and signal, from its IP handling policy,
    the permission state, the mDNS setting and iceTransportPolicy (pure: see ChromeDialect.gather_policy)."""

    enumerate: bool  # one network per interface (real IPs, ranks, network-id) vs any-address
    mdns: bool  # host addresses replaced by .local names, srflx raddr masked
    host: bool  # host candidates are signalled (UDP and TCP active)
    udp: bool  # UDP at all: host UDP, STUN, TURN/UDP (False: only TURN over TCP/TLS)
    signalled: frozenset[str] = frozenset({"host", "srflx", "prflx", "relay"})  # candidate filter
    mask_related: bool = False  # relay-only filter: raddr/rport zeroed on what is signalled


@dataclass(frozen=True, slots=True)
class TransportPlan:
    """One ICE transport of the offer: its own sockets and candidates, tagged with the m-line
    it is gathered for. `pooled`: it took a session the candidate pool gathered early."""

    mid: str
    mline: int
    pooled: bool = False


@dataclass(frozen=True, slots=True)
class MediaSection:
    """One m-line of the offer and the transport (by mid) whose candidates it lists; None =
    no own transport (bundled under max-bundle: port 9, no candidates)."""

    kind: str  # audio | video | data
    mid: str
    transport_mid: str | None


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

    def prepare(
        self, ident: GatherIdentity, plans: list[NetworkPlan], servers: list[IceServerUrl],
        policy: GatherPolicy | None = None,
    ) -> None:
        """Called once before any socket: the browser creates its candidates here (Firefox numbers
        foundations and paces transactions in this order). `servers` is the page's full list;
        `policy` what the allocator gathers (Firefox under iceTransportPolicy relay: relays only)."""
        ...

    def refused_server_error(
        self, server: IceServerUrl, t_gathering: float, rng: Any
    ) -> CandidateErrorEvent | None:
        """An error fired at once for a server the browser refuses to use (no packet is sent)."""
        ...

    def constructor_error(self, servers: list[IceServerUrl]) -> tuple[IceServerUrl, str, str] | None:
        """(server, exception name, message) when the page's RTCPeerConnection constructor
        throws for these iceServers (constructor_rules.py); None when it accepts them."""
        ...

    def skips_gathering_state(self, policy: GatherPolicy, turn_servers: list) -> bool:
        """True when the page sees no "gathering" state, only the end (Firefox, relay only and
        no TURN server)."""
        ...

    def start_offset_ms(self, ident: GatherIdentity, net: NetworkPlan, server: IceServerUrl) -> float:
        """When (after "gathering") the transaction to `server` on `net` may start."""
        ...

    def obfuscates_hosts(self, mdns: bool, permission: bool) -> bool: ...

    def srflx_equal_to_host_emitted(self, mdns: bool) -> bool:
        """Whether a srflx whose address is the socket's own address is still signalled."""
        ...

    def transport_done_events(self, ident: GatherIdentity, t: float, mid: str, mline: int) -> list[Event]:
        """What the page sees when one transport (m-line) finishes gathering, before the
        connection-wide end (Firefox: the "" end-of-candidates candidate; Chrome: nothing)."""
        ...

    def completion_events(
        self, ident: GatherIdentity, t: float, jitter: Any, mid: str, mline: int
    ) -> list[Event]:
        """The end of gathering as the page sees it ("complete", the null candidate...)."""
        ...

    def new_identity(self, rng: random.Random) -> GatherIdentity: ...

    # Whether local_description renders this browser's SDP (--sdp); checked before gathering.
    renders_sdp: bool

    def gather_policy(
        self, ip_policy: str, permission: bool, mdns: bool, ice_transport_policy: str
    ) -> GatherPolicy: ...

    def media_sections(self, media: tuple[str, ...], bundle_policy: str) -> list[MediaSection]: ...

    def transports(
        self, sections: list[MediaSection], pool_size: int
    ) -> list[TransportPlan]: ...

    def surface(
        self, cand: IceCandidate, policy: GatherPolicy, pooled: bool
    ) -> IceCandidate | None: ...

    def sdp_unsupported(self, media: tuple[str, ...]) -> str | None:
        """Why the local description cannot be rendered for these m-lines (None: it can)."""
        ...

    def local_description(
        self, ident: GatherIdentity, sections: list[MediaSection],
        candidates: dict[str, list[IceCandidate]],
    ) -> str: ...

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
