"""The profile schema: one population of page visits (people or bots), as pure data.

Every field has a default and a one-line doc (FIELDS), which `icesim profiles show` prints and
the README documents. Profiles are TOML files (see profiles/*.toml); `loader.py` turns a parsed
TOML table into a `Profile`, raising `ProfileError` that names the file, the field and the value.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from ..config import ADAPTER_TYPES, ConfigError

LABELS = ("human", "bot")
BROWSER_NAMES = ("chrome", "firefox", "safari")
WEBRTC_STATES = ("present", "missing_api", "stubbed_callback", "setup_throws")
PERMISSIONS = ("prompt", "granted", "denied")
POLICIES = (
    "default", "default_public_and_private_interfaces", "default_public_interface_only", "disable_non_proxied_udp",
)
ICE_TRANSPORT_POLICIES = ("all", "relay")
BUNDLE_POLICIES = ("balanced", "max-bundle", "max-compat")
MEDIA_KINDS = ("audio", "video", "data")
TURN_TRANSPORTS = ("udp", "tcp", "tls")
NAT_TYPES = ("none", "eim", "symmetric", "cgnat")
WEB_ADDRESS = ("srflx", "proxy")
TIMING = ("natural", "regular")

# Public address pools: documentation and shared ranges only, so nothing generated ever names a
# real host (HELPERS network rule). Profiles may add their own in [pools].
BUILTIN_POOLS: dict[str, tuple[str, ...]] = {
    "residential": ("203.0.113.0/25", "2001:db8:100::/40"),
    "vpn_exit": ("203.0.113.128/26", "2001:db8:200::/40"),
    "residential_proxy": ("203.0.113.192/26", "2001:db8:300::/40"),
    "mobile_carrier": ("198.51.100.0/25", "2001:db8:400::/40"),
    "datacenter": ("198.51.100.128/26", "198.51.100.192/27", "2001:db8:500::/40"),
}
# The page's STUN servers' public (alias) addresses: kept out of every pool.
ICE_SERVER_RANGES = ("198.51.100.224/27", "2001:db8:ffff::/48")


class ProfileError(ConfigError):
    """Bad profile: names the file, the field (dotted TOML path) and the value."""

    def __init__(self, source: str, field_name: str, value: object, reason: str) -> None:
        super().__init__(f"{source}: {field_name}", value, reason)
        self.source = source


# (dotted field, default, doc). The loader reads exactly these keys; unknown keys are errors.
FIELDS: tuple[tuple[str, Any, str], ...] = (
    ("name", "<file stem>", "profile name, used in --profiles and in the output"),
    ("label", None, "human | bot (required): the class a detector should predict"),
    ("scenario", "unspecified", "free tag grouping profiles in reports (e.g. home-nat, udp-blocked)"),
    ("signal", "", "the seed signal this profile embodies (shared/seeds); shown by `profiles list`"),
    ("browser.name", "chrome", "chrome | firefox | safari: the ICE dialect that produces the stream"),
    ("browser.versions", {"156": 1.0}, "version -> weight; one is drawn per session"),
    ("browser.os", "windows", "windows | macos | linux | android | ios (used for the user agent)"),
    ("browser.device", "desktop", "desktop | mobile | tablet | server"),
    ("browser.user_agent", "", "the user agent the visit claims; empty = derived from name, version, os"),
    ("browser.claims", "", "the browser the user agent claims; empty = browser.name (a spoof if different)"),
    ("page.webrtc", "present", "present | missing_api | stubbed_callback | setup_throws"),
    ("page.permission", "prompt", "prompt | granted | denied: camera/mic permission (granted enumerates interfaces)"),
    ("page.policy", "default", "Chrome IP handling policy: " + " | ".join(POLICIES)),
    ("page.ice_transport_policy", "all", "all | relay"),
    ("page.stun_servers", 1, "number of STUN servers in the page's iceServers (served by the embedded server)"),
    ("page.stun_by_name", False, "servers given by host name instead of an IP literal (a DNS lookup, as most pages do)"),
    ("page.stun_aaaa", False, "with stun_by_name: the names also have an IPv6 address; false = an IPv6 socket gets a host-lookup 701"),
    ("page.turn", [], "TURN servers by transport (udp | tcp | tls), served by coturn"),
    ("page.pool_size", 0, "iceCandidatePoolSize"),
    ("page.pool_lead_ms", 500.0, "with a pool: how long before createOffer() the page built the RTCPeerConnection"),
    ("page.media", ["data"], "m-lines the offer has, in order: audio, video, data"),
    ("page.bundle_policy", "balanced", "balanced | max-bundle | max-compat"),
    ("page.timeout_ms", 0, "the page stops listening after this browser time (ms); 0 = until the null candidate"),
    ("page.sdp", False, "record the final local description SDP"),
    ("page.mdns", True, "Chrome hides host IPs behind mDNS names (WebRtcHideLocalIpsWithMdns)"),
    ("network.interfaces", [{"name": "eth0", "type": "ethernet", "cidr": "192.168.1.0/24"}],
     "interfaces: name, type (" + " | ".join(ADAPTER_TYPES) + "), cidr (an address is drawn from it); "
     "the first of each family holds the default route"),
    ("network.nat", "eim", "none (host address is public) | eim (port preserving) | symmetric | cgnat"),
    ("network.public_pool", "residential", "pool name or CIDR list the public (srflx) address is drawn from"),
    ("network.web_address", "srflx", "srflx (the web server sees the srflx address) | proxy (a proxy's, from proxy_pool)"),
    ("network.proxy_pool", "residential_proxy", "pool the web-server-seen address comes from when web_address = proxy"),
    ("network.udp_blocked", False, "all outgoing UDP is dropped (701 after the browser's STUN timeout)"),
    ("network.rtt_ms", 30.0, "median round trip to the STUN/TURN server (ms)"),
    ("network.rtt_sigma", 0.4, "log-normal spread of the round trip (0 = always the median)"),
    ("timing.behaviour", "natural", "natural | regular: regular = no RTT spread (automation on a quiet host)"),
    ("pools", {}, "extra pools: NAME = [CIDR, ...] (any range you own; defaults are documentation ranges)"),
)
DEFAULTS = {k: v for k, v, _ in FIELDS}


@dataclass(frozen=True, slots=True)
class InterfaceSpec:
    name: str
    adapter_type: str
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network

    @property
    def family(self) -> int:
        return self.cidr.version


@dataclass(frozen=True, slots=True)
class Profile:
    """One validated profile. `digest` is the SHA-256 of the file's bytes (for the manifest)."""

    name: str
    label: str
    scenario: str
    signal: str
    browser: str
    versions: tuple[tuple[str, float], ...]
    os: str
    device: str
    user_agent: str
    claims: str
    webrtc: str
    permission: str
    policy: str
    ice_transport_policy: str
    stun_servers: int
    stun_by_name: bool
    stun_aaaa: bool
    turn: tuple[str, ...]
    pool_size: int
    pool_lead_ms: float
    media: tuple[str, ...]
    bundle_policy: str
    timeout_ms: float
    sdp: bool
    mdns: bool
    interfaces: tuple[InterfaceSpec, ...]
    nat: str
    public_pool: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    public_pool_name: str
    web_address: str
    proxy_pool: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    proxy_pool_name: str
    udp_blocked: bool
    rtt_ms: float
    rtt_sigma: float
    timing: str
    source: str = ""
    digest: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def needs_gather(self) -> bool:
        """missing_api and setup_throws pages never reach ICE: no sockets at all."""
        return self.webrtc in ("present", "stubbed_callback")

    @property
    def timeout_bound(self) -> bool:
        """Sessions that wait for a browser STUN/TURN timeout (~40 s in Chrome) unless the page gives up."""
        return self.needs_gather and self.udp_blocked and (self.stun_servers > 0 or bool(self.turn))
