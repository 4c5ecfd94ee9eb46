"""A repro case as pure data: the page's iceServers, the network around the page, and the
stream each browser really shows (taken from captures or the reference, never from icesim).

Servers are described by what they are (`Endpoint`), not by address: the runner starts them
on loopback and fills in the host:port at run time. Expected events are patterns: every field
given is checked exactly, `t` within the tolerance of `t_tolerance()`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ..events import ABSENT  # noqa: F401  (an expected ABSENT: the attribute must not exist)


class _Unchecked:
    def __repr__(self) -> str:
        return "UNCHECKED"


UNCHECKED: Any = _Unchecked()  # an expected field that is not checked


class Endpoint(str, enum.Enum):
    """What an iceServers entry points at, on 127.0.0.1."""

    STUN = "stun"  # the embedded STUN server, answering bindings
    STUN_ERROR = "stun-error"  # the embedded STUN server answering Case.stun_error
    CLOSED = "closed"  # a port nothing listens on (UDP and TCP): ICMP unreachable / RST
    COTURN = "coturn"  # coturn (user test, password secret, realm test)
    FIXED = "fixed"  # nothing started: Server.port as given (a port Chrome refuses to use)


@dataclass(frozen=True, slots=True)
class Server:
    """One `urls` entry of the page's RTCConfiguration.iceServers."""

    scheme: str  # stun | turn
    endpoint: Endpoint
    transport: str | None = None  # TURN: udp | tcp
    name: str | None = None  # the URL names this host instead of the IP ...
    name_resolves: bool = True  # ... which resolves (A record only) or is NXDOMAIN
    port: int | None = None  # with Endpoint.FIXED
    username: str | None = "test"  # TURN only; None = the key is absent
    credential: str | None = "secret"


@dataclass(frozen=True, slots=True)
class Network:
    """The network around the page, as in-process faults (FaultyNet) or browser policy."""

    block_udp_to_servers: bool = False  # a firewall drops UDP to the servers (silently)
    block_udp_all: bool = False  # every UDP datagram leaving the page is dropped
    # The browser's WebRTC IP handling policy (config.IP_POLICIES), e.g. disable_non_proxied_udp.
    ip_policy: str = "default"
    # iceTransportPolicy the browser gathers with: "relay" also stands for a pref that forces it
    # (Firefox's media.peerconnection.ice.relay_only: capture policy_relay_stun = pref_relay_only).
    ice_transport_policy: str = "all"
    # WebRTC switched off in the browser: RTCPeerConnection is not defined (Firefox
    # media.peerconnection.enabled=false, capture pref_pc_disabled; Safari's WebRTC setting).
    peer_connection_disabled: bool = False


@dataclass(frozen=True, slots=True)
class Expect:
    """One expected event. `kind`: gathering, host4, host6, host-udp (a host of unknown family:
    Firefox), host-tcp, srflx, relay-udp, relay-tcp, error, end-of-candidates (the "" marker),
    complete, null, or exception (the RTCPeerConnection constructor threw). A field expected
    as ABSENT must not exist in that browser (Firefox has no hostCandidate).

    Templates in url / hostCandidate: {s0}, {s1}... = host:port of the i-th server as the URL
    names it; {P4} / {P6} = the port of the IPv4 / IPv6 UDP host candidate."""

    kind: str
    t: float | None = None  # ms of browser time after "gathering"; None = not timed
    errorCode: Any = UNCHECKED
    errorText: Any = UNCHECKED
    url: Any = UNCHECKED
    address: Any = UNCHECKED
    port: Any = UNCHECKED
    hostCandidate: Any = UNCHECKED
    priority: Any = UNCHECKED
    name: Any = UNCHECKED  # exception name
    message: Any = UNCHECKED  # exception message
    order_free: bool = False  # may come anywhere (independent sockets race, as in the captures)


# The browser version each dialect's expected streams were captured with (Chromium 156,
# Firefox ESR 153) or, for Safari, read from (WebKit + its libwebrtc, Safari 26): another
# version of the dialect is not what the expectations show.
CAPTURED_VERSIONS = {"chrome": 156, "firefox": 153, "safari": 26}
SOURCE_READING = "source reading, not captured"


def t_tolerance(t: float) -> float:
    """2% of the expected browser time, but at least 30 ms: events in the first second
    follow real round trips and Chrome's phase jitter (captures: 'complete' 118-147 ms)."""
    return max(0.02 * t, 30.0)


@dataclass(frozen=True, slots=True)
class Case:
    """A reproducible situation that ends in (or is known for) an ICE error."""

    name: str
    summary: str  # the one line of `--list`
    servers: tuple[Server, ...]
    expected: dict[str, tuple[Expect, ...]]  # per dialect: chrome, firefox, safari
    sources: dict[str, str]  # per dialect: the captures / reference sections the expectation is from
    cause: str  # what happened on the network
    detector: str  # what a detector should conclude from the stream
    network: Network = field(default_factory=Network)
    stun_error: tuple[int, str] | None = None  # with Endpoint.STUN_ERROR
    browser_note: str = ""  # where a real browser cannot show the case as named
    # Per dialect: how that browser's stream differs from what `cause` describes (Chrome's).
    dialect_notes: dict[str, str] = field(default_factory=dict)
    # Per dialect: the network / browser setting that stands for `network` there (Chrome's IP
    # handling policy has no Firefox or Safari counterpart: their nearest setting instead).
    dialect_networks: dict[str, Network] = field(default_factory=dict)
    # Dialects whose expectation comes from reading the browser's source, not from a capture.
    source_reading: frozenset[str] = frozenset({"safari"})

    def network_for(self, browser: str) -> Network:
        return self.dialect_networks.get(browser, self.network)

    @property
    def needs_coturn(self) -> bool:
        return any(s.endpoint is Endpoint.COTURN for s in self.servers)


def expectation_origin(case: Case, browser: str) -> str:
    """"captured" or "source reading, not captured": what a dialect's expected stream rests on."""
    return SOURCE_READING if browser in case.source_reading else "captured"
