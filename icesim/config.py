"""What a page asks of the ICE agent, and what the network around it looks like.

Pure data plus parsers. Every parser raises `ConfigError` naming the option and the
offending value, so the CLI can print one clear line and exit 2.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ADAPTER_TYPES = ("ethernet", "wifi", "cellular", "vpn", "unknown", "loopback")
BROWSERS = ("chrome", "firefox", "safari")
# Chrome's WebRTC IP handling policies (pref webrtc.ip_handling_policy / WebRtcIPHandling).
IP_POLICIES = (
    "default", "default_public_and_private_interfaces", "default_public_interface_only", "disable_non_proxied_udp",
)
ICE_TRANSPORT_POLICIES = ("all", "relay")
BUNDLE_POLICIES = ("balanced", "max-bundle", "max-compat")
# What the page offers: recvonly audio/video transceivers and/or a data channel. Chrome lays
# the m-lines out in this order whatever the page's call order (transceivers, then data).
MEDIA_KINDS = ("audio", "video", "data")


class ConfigError(ValueError):
    """Bad input: names the field (CLI option) and the value."""

    def __init__(self, field_name: str, value: object, reason: str) -> None:
        self.field_name = field_name
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {field_name} {value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class IceServerUrl:
    """One parsed `urls` entry of an RTCIceServer."""

    scheme: Literal["stun", "stuns", "turn", "turns"]
    host: str  # a name, or an IP literal without brackets
    port: int
    transport: Literal["udp", "tcp"] | None  # TURN only; None = not given in the URL
    username: str | None = None
    credential: str | None = None
    # The host as an IP literal, parsed once (the engine asks per socket and per gather).
    host_literal: IPAddress | None = field(init=False, compare=False, repr=False, default=None)

    def __post_init__(self) -> None:
        try:
            literal = ipaddress.ip_address(self.host)
        except ValueError:
            literal = None
        object.__setattr__(self, "host_literal", literal)

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")

    @property
    def relay_protocol(self) -> str:
        """udp | tcp | tls: how we talk to the TURN server."""
        if self.scheme == "turns":
            return "tls"
        return self.transport or "udp"


_URL_RE = re.compile(
    r"^(?P<scheme>stuns?|turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[^:?\[\]/@]+)"
    r"(?::(?P<port>[0-9]+))?(?:\?transport=(?P<transport>[a-zA-Z]+))?$"
)
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$")


def parse_ice_url(
    text: str,
    field_name: str = "url",
    username: str | None = None,
    credential: str | None = None,
) -> IceServerUrl:
    """Parse `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]`, `turns:...`.

    Mirrors the checks Chrome applies in `ParseIceServerUrl` (pc/ice_server_parsing.cc):
    default ports 3478 / 5349, a query only for TURN, IPv6 literals in brackets.
    """
    m = _URL_RE.match(text.strip())
    if not m:
        raise ConfigError(field_name, text, "expected stun:HOST[:PORT] or turn:HOST[:PORT][?transport=udp|tcp]")
    scheme = m.group("scheme")
    host = m.group("host")
    if host.startswith("["):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(field_name, text, "bracketed host is not an IPv6 address") from None
    elif ":" in host or not (_is_ip(host) or _HOSTNAME_RE.match(host)):
        raise ConfigError(field_name, text, "host is not a valid name or address")
    default_port = 5349 if scheme in ("stuns", "turns") else 3478
    port = int(m.group("port")) if m.group("port") else default_port
    if not 1 <= port <= 65535:
        raise ConfigError(field_name, text, "port must be 1-65535")
    transport = m.group("transport")
    if transport is not None:
        transport = transport.lower()
        if scheme not in ("turn", "turns"):
            raise ConfigError(field_name, text, "?transport= is only allowed on turn:/turns: URLs")
        if transport not in ("udp", "tcp"):
            raise ConfigError(field_name, text, "transport must be udp or tcp")
        if scheme == "turns" and transport == "udp":
            raise ConfigError(field_name, text, "turns: runs over TLS/TCP only")
    if scheme == "stuns":
        raise ConfigError(field_name, text, "stuns: is not supported by browsers' ICE agents")
    return IceServerUrl(scheme, host, port, transport, username, credential)  # type: ignore[arg-type]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Interface:
    """A network interface as the browser's network manager enumerates it."""

    name: str
    address: IPAddress
    adapter_type: str = "unknown"
    # The interface holding the OS default route for its family: Chrome's any-address
    # sockets report this address as the host candidate (p2p/client/basic_port_allocator.cc).
    default: bool = False

    @property
    def family(self) -> int:
        return 6 if self.address.version == 6 else 4


def parse_interface(text: str, field_name: str = "--interface") -> Interface:
    """Parse NAME=ADDR[:TYPE] (ADDR may be IPv6; TYPE one of ADAPTER_TYPES)."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(field_name, text, "expected NAME=ADDR[:TYPE]")
    adapter = "unknown"
    addr_text = rest
    head, colon, tail = rest.rpartition(":")
    if colon and tail.lower() in ADAPTER_TYPES:
        addr_text, adapter = head, tail.lower()
    elif colon and tail.isalpha() and not _is_ip(rest):
        raise ConfigError(field_name, text, f"adapter type must be one of {', '.join(ADAPTER_TYPES)}")
    try:
        address = ipaddress.ip_address(addr_text.strip("[]"))
    except ValueError:
        raise ConfigError(field_name, text, "ADDR is not an IP address") from None
    if address.is_multicast or address.is_unspecified:
        raise ConfigError(field_name, text, "ADDR must be a unicast interface address")
    return Interface(name=name, address=address, adapter_type=adapter)


@dataclass(frozen=True, slots=True)
class ResolveRule:
    """`--resolve NAME=ADDR` or `NAME=NXDOMAIN`, like Chromium's --host-resolver-rules MAP."""

    name: str
    addresses: tuple[IPAddress, ...]  # empty = NXDOMAIN

    @property
    def nxdomain(self) -> bool:
        return not self.addresses


def parse_resolve(text: str, field_name: str = "--resolve") -> ResolveRule:
    name, sep, rest = text.partition("=")
    name = name.strip().rstrip(".").lower()
    if not sep or not name or not rest:
        raise ConfigError(field_name, text, "expected NAME=ADDR[,ADDR...] or NAME=NXDOMAIN")
    if rest.strip().upper() == "NXDOMAIN":
        return ResolveRule(name, ())
    addrs = []
    for part in rest.split(","):
        try:
            addrs.append(ipaddress.ip_address(part.strip().strip("[]")))
        except ValueError:
            raise ConfigError(field_name, text, f"{part!r} is not an IP address") from None
    return ResolveRule(name, tuple(addrs))


def parse_hostport(text: str, field_name: str) -> tuple[str, int]:
    """HOST:PORT or [V6]:PORT."""
    m = re.match(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>[0-9]{1,5})$", text)
    if not m or not 1 <= int(m.group("port")) <= 65535:
        raise ConfigError(field_name, text, "expected HOST:PORT")
    host = m.group("v6") or m.group("host")
    return host, int(m.group("port"))


@dataclass(frozen=True, slots=True)
class Faults:
    """In-process fault injection applied by the FaultyNet seam (icesim/net/faults.py)."""

    block_udp_all: bool = False
    block_udp: frozenset[tuple[str, int]] = frozenset()  # (host, port) as resolved IP text
    drop: float = 0.0  # probability each outgoing datagram is lost
    latency_ms: float = 0.0  # one-way delay added to each outgoing datagram / connect
    resolve: tuple[ResolveRule, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.block_udp_all or self.block_udp or self.drop or self.latency_ms or self.resolve)


def parse_media(text: str, field_name: str = "--media") -> tuple[str, ...]:
    """`data`, `audio,video,data`...: a set of MEDIA_KINDS, returned in m-line order."""
    parts = [p.strip().lower() for p in text.split(",")]
    if not text.strip() or any(p not in MEDIA_KINDS for p in parts):
        raise ConfigError(field_name, text, f"expected a comma-separated subset of {','.join(MEDIA_KINDS)}")
    if len(set(parts)) != len(parts):
        raise ConfigError(field_name, text, "each kind may appear once")
    return tuple(k for k in MEDIA_KINDS if k in parts)


@dataclass(slots=True)
class GatherConfig:
    """Everything one gather needs. `servers` keeps the page's iceServers order."""

    browser: str = "chrome"
    servers: list[IceServerUrl] = field(default_factory=list)
    interfaces: list[Interface] | None = None  # None = the machine's own
    permission: bool = False  # camera/mic granted: enumerated interfaces, real IPs
    mdns: bool = True
    faults: Faults = field(default_factory=Faults)
    time_scale: float = 1.0
    timeout_ms: float | None = None  # the page gives up (browser time); None = wait for complete
    seed: int | None = None
    # The browser's WebRTC IP handling policy (IP_POLICIES); under any but "default" the
    # permission state no longer matters (captures P1g-P3g).
    ip_policy: str = "default"
    ice_transport_policy: str = "all"  # RTCConfiguration.iceTransportPolicy: all | relay
    media: tuple[str, ...] = ("data",)  # the offer's m-lines (MEDIA_KINDS, in that order)
    bundle_policy: str = "balanced"  # RTCConfiguration.bundlePolicy
    pool_size: int = 0  # RTCConfiguration.iceCandidatePoolSize
    # With a pool: how long before createOffer() the page constructed the RTCPeerConnection
    # (the pooled session gathers meanwhile; what it found surfaces at setLocalDescription).
    pool_lead_ms: float = 500.0
    sdp: bool = False  # end the stream with the final localDescription line

    def validate(self) -> None:
        if self.browser.split("@")[0] not in BROWSERS:
            raise ConfigError("--browser", self.browser, f"must be one of {', '.join(BROWSERS)}")
        _check_choice("--policy", self.ip_policy, IP_POLICIES)
        _check_choice("--ice-transport-policy", self.ice_transport_policy, ICE_TRANSPORT_POLICIES)
        _check_choice("--bundle-policy", self.bundle_policy, BUNDLE_POLICIES)
        if not self.media or len(set(self.media)) != len(self.media) or any(k not in MEDIA_KINDS for k in self.media):
            raise ConfigError("--media", ",".join(self.media), f"expected a subset of {','.join(MEDIA_KINDS)}")
        self.media = tuple(k for k in MEDIA_KINDS if k in self.media)
        if isinstance(self.pool_size, bool) or not isinstance(self.pool_size, int) or not 0 <= self.pool_size <= 255:
            # RTCPeerConnection throws for a pool size above 255 (webrtc-pc: [EnforceRange] octet).
            raise ConfigError("--pool-size", self.pool_size, "must be an integer 0-255")
        if not self.pool_lead_ms >= 0:
            raise ConfigError("--pool-lead", self.pool_lead_ms, "must be >= 0")
        if not (self.time_scale > 0):
            raise ConfigError("--time-scale", self.time_scale, "must be > 0")
        if self.timeout_ms is not None and not self.timeout_ms > 0:
            raise ConfigError("--timeout", self.timeout_ms, "must be > 0")
        if not 0.0 <= self.faults.drop <= 1.0:
            raise ConfigError("--drop", self.faults.drop, "must be a probability between 0 and 1")
        if self.faults.latency_ms < 0:
            raise ConfigError("--latency", self.faults.latency_ms, "must be >= 0")
        _check_constructor(self.browser, self.servers)


def _check_choice(field_name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(field_name, value, f"must be one of {', '.join(choices)}")


class ConstructorRefusal(ConfigError):
    """The page's RTCPeerConnection constructor throws for this configuration: no gathering
    starts, no event fires. `name`/`message` are the exception exactly as that browser shows it
    (the dialect's `constructor_error`)."""

    def __init__(self, field_name: str, value: object, name: str, message: str) -> None:
        self.exception_name, self.exception_message = name, message
        super().__init__(field_name, value, f'the page\'s RTCPeerConnection constructor throws {name}: "{message}"')


def _check_constructor(browser: str, servers: list[IceServerUrl]) -> None:
    """Each browser validates iceServers in the constructor with its own rules and texts."""
    from .dialects import get_dialect  # the dialects import this module

    refusal = get_dialect(browser).constructor_error(servers)
    if refusal is not None:
        server, name, message = refusal
        field_name = "--username/--credential" if name == "InvalidAccessError" else "--turn/--stun"
        raise ConstructorRefusal(field_name, server_url_text(server), name, message)


def server_url_text(server: IceServerUrl) -> str:
    """The URL as the page wrote it (its ?transport only if given)."""
    host = f"[{server.host}]" if ":" in server.host else server.host
    query = f"?transport={server.transport}" if server.transport else ""
    return f"{server.scheme}:{host}:{server.port}{query}"
