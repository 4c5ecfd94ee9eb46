"""Chrome (libwebrtc + Blink) as a page sees it: strings, priorities, foundations, errors, timers.

Sources: shared/reference/browser-ice.md (B1-B7, E) and the Chromium 156 captures in
shared/captures (S1-S8). Where the two differ the capture wins; comments say which.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
import zlib

from ..addresses import address_precedence, is_private_ip, parse_ip, redact, uri_host
from ..config import IceServerUrl, Interface, IPAddress
from ..events import CandidateErrorEvent, CandidateEvent, GatheringStateChange, IceCandidate
from .base import GatherIdentity, GatherPolicy, NetworkPlan, RetransmitSchedule
from .chrome_timers import ChromeTimers
from .chrome_transports import ChromeTransportRules
from .chrome_versions import (
    CURRENT_CHROME, OWN_UNAUTHORIZED_TEXT_FROM, RANDOM_FOUNDATION_FROM, RELAY_PREF_FROM_N_FROM,
    relay_udp_type_pref, static_foundation_type_name, stun_timeout_text,
)

ICE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# Type preferences (p2p/base/port.h). Relay UDP became 3 in Jan 2026 (upstream #46752);
# the captures confirm: relay UDP 50339839 = 3<<24 | 31<<8 | 255.
TYPE_PREF_HOST_UDP = 126
TYPE_PREF_SRFLX = 100
TYPE_PREF_HOST_TCP = 90
TYPE_PREF_RELAY = {"udp": 3, "tcp": 1, "tls": 0}

# Network ranking order (rtc_base/network.cc SortNetworks: adapter enum, lower first).
ADAPTER_ORDER = {"unknown": 0, "ethernet": 1, "wifi": 2, "cellular": 4, "vpn": 8, "loopback": 16, "any": 32}

# network-cost (rtc_base/network_constants.h). VPN: libwebrtc uses the underlying adapter's
# cost; Linux reports no underlying type, so it is "unknown" (50).
NETWORK_COST = {"ethernet": 0, "loopback": 0, "wifi": 10, "unknown": 50, "cellular": 900, "vpn": 50, "any": 999}

# TURN server ports below 1024 that Chrome still creates a TURN port for (p2p/base/turn_port.cc
# AllowedTurnPort); any other low port gets no TURN port and no event (capture S1_turn*_port22).
ALLOWED_LOW_TURN_PORTS = frozenset({53, 80, 443})

# Chromium's restricted ports (net/base/port_util.cc): UDP to them is dropped before it is sent,
# STUN included, so the page sees only the 701 timeout (captures S1_turnudp_port22,
# Sx_stun_ports_probe: 22, 53, 5060, 6000 dropped; 80, 1023, 1024, 5062 sent).
RESTRICTED_PORTS = frozenset({
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
    103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
    512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
    995, 1719, 1720, 1723, 2049, 3659, 4045, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669,
    6697, 10080,
})

ERROR_TEXTS = {
    # p2p/base/stun_port.cc; captures S5 (timeout) and README (host lookup, per family).
    ("stun", "dns"): (701, "STUN host lookup received error."),
    ("stun", "timeout"): (701, "STUN binding request timed out."),
    ("stun", "no_code"): (600, "STUN binding response with no error code attribute."),
    # p2p/base/turn_port.cc; captures S7 ("Unauthorized." with the full stop) and README.
    ("turn", "dns"): (701, "TURN host lookup received error."),
    ("turn", "timeout"): (701, "TURN allocate request timed out."),
    ("turn", "connect_failed"): (701, "Failed to establish connection"),
    ("turn", "socket_failed"): (701, "Failed to create TURN client socket."),
    # No "Missing TURN server credentials." (401): Chrome 156's RTCPeerConnection constructor
    # throws InvalidAccessError first (capture H), so GatherConfig.validate refuses instead.
    ("turn", "unauthorized"): (401, "Unauthorized."),
    ("turn", "mismatch"): (437, "Maximum retries reached for allocation mismatch."),
    # A 300 redirect Chrome refuses (loopback alternate, no ALTERNATE-SERVER): capture S3_turn300.
    ("turn", "alternate_failed"): (300, "Failed to set alternate server."),
    # Any other allocate error keeps the server's code, not its reason (486, 438: captures
    # S3_turn486/S3_turn438); 600 (global failure) when it sent no code.
    ("turn", "other"): (600, "TURN allocate error."),
}


class ChromeDialect(ChromeTransportRules):
    """libwebrtc's any-address (mDNS) and enumerated (permission) gathering, Chrome 156, and
    the rules that differ in older versions (chrome_versions.py)."""

    name = "chrome"
    srflx_from_turn = False

    def __init__(self, version: int = CURRENT_CHROME, timers: ChromeTimers | None = None) -> None:
        self.version = version
        self.rules_version = version  # the Chrome version whose libwebrtc rules apply (Safari keeps 156)
        self.timers = timers or ChromeTimers()
        self.relay_type_pref = {**TYPE_PREF_RELAY, "udp": relay_udp_type_pref(version)}

    # --- the engine's per-browser questions (Chrome: the plain libwebrtc answers) -----------
    def prepare(self, ident: GatherIdentity, plans: list[NetworkPlan], servers: list[IceServerUrl],
                policy: GatherPolicy | None = None) -> None:
        """libwebrtc's foundations are hashes: nothing to number up front."""

    def refused_server_error(self, server, t_gathering, rng) -> CandidateErrorEvent | None:
        return None  # Chrome uses every parsed server (loopback too: captures S3a, S5)

    def start_offset_ms(self, ident, net, server) -> float:
        return 0.0  # srflx at once, TURN at the relay phase (timers.relay_phase_ms)

    @staticmethod
    def obfuscates_hosts(mdns: bool, permission: bool) -> bool:
        return mdns and not permission  # permission enumerates real IPs (B5, capture B1)

    @staticmethod
    def srflx_equal_to_host_emitted(mdns: bool) -> bool:
        """An any-address socket's local address never equals a mapped one, so a srflx equal to
        the host shows with mDNS (captures README); an enumerated socket drops it (B1)."""
        return False

    def transport_done_events(self, ident, t, mid, mline) -> list:
        return []  # libwebrtc signals no end-of-candidates marker (captures S1-S8)

    def completion_events(self, ident, t, jitter, mid, mline) -> list:
        """"complete", then the null candidate (captures S1-S8); no end-of-candidates marker."""
        t_null = t + jitter(self.timers.null_after_complete_ms)
        return [GatheringStateChange(t=t, state="complete"), CandidateEvent(t=t_null, candidate=None)]

    # --- identity ---------------------------------------------------------------------
    def new_identity(self, rng: random.Random) -> GatherIdentity:
        """ufrag 4 and pwd 24 ICE chars (p2p/base/p2p_constants.h); 64-bit tiebreaker."""
        ufrag = "".join(rng.choices(ICE_CHARS, k=4))
        pwd = "".join(rng.choices(ICE_CHARS, k=24))
        return GatherIdentity(ufrag=ufrag, pwd=pwd, tiebreaker=rng.getrandbits(64), rng=rng)

    def mdns_name(self, ident: GatherIdentity, ip: IPAddress) -> str:
        """A lowercase UUIDv4 + ".local", stable per IP within a connection (B5) [code]."""
        key = str(ip)
        if key not in ident.mdns_names:
            ident.mdns_names[key] = f"{uuid.UUID(int=ident.rng.getrandbits(128), version=4)}.local"
        return ident.mdns_names[key]

    # --- socket model -----------------------------------------------------------------
    def plan_networks(self, interfaces: list[Interface], permission: bool) -> list[NetworkPlan]:
        if permission:
            return self._enumerated_networks(interfaces)
        return self._any_address_networks(interfaces)

    def _any_address_networks(self, interfaces: list[Interface]) -> list[NetworkPlan]:
        """Without permission: one 0.0.0.0 and one :: socket (B5); the host candidate shows the
        OS default address of that family, or is not signalled when the family has none."""
        plans = []
        for family, bind in ((4, "0.0.0.0"), (6, "::")):
            default = _default_address(interfaces, family)
            plans.append(NetworkPlan(
                key=f"any{family}", family=family, bind_address=bind, host_address=default,
                adapter_type="any", network_id=0, network_cost=NETWORK_COST["any"],
                preference=0, any_address=True,
            ))
        return plans

    def _enumerated_networks(self, interfaces: list[Interface]) -> list[NetworkPlan]:
        """With permission: every non-loopback, non-link-local interface, ranked 127, 126, ...
        (rtc_base/network.cc SortNetworks); network ids in discovery order from 1."""
        usable = [
            i for i in interfaces
            if i.adapter_type != "loopback" and not i.address.is_loopback and not i.address.is_link_local
        ]
        ids = {i: n for n, i in enumerate(usable, start=1)}
        ranked = sorted(
            usable,
            key=lambda i: (ADAPTER_ORDER.get(i.adapter_type, 0), -address_precedence(i.address), f"{i.name}%{i.address}"),
        )
        rank = {iface: n for n, iface in enumerate(ranked)}
        # Sequences run in discovery order, not rank order: capture B1 shows the IPv4 host
        # (rank 126, network-id 1) before the IPv6 one (rank 127), and the same for TCP.
        return [
            NetworkPlan(
                key=f"{iface.name}%{iface.address}", family=iface.family, bind_address=str(iface.address),
                host_address=iface.address, adapter_type=iface.adapter_type, network_id=ids[iface],
                network_cost=NETWORK_COST.get(iface.adapter_type, 50), preference=max(127 - rank[iface], 0),
                any_address=False, tcp_active=True,
            )
            for iface in usable
        ]

    def stun_servers(self, servers: list[IceServerUrl]) -> list[IceServerUrl]:
        """STUN set = STUN URLs plus every UDP TURN server (captures S7/S8), deduplicated by
        host:port as libwebrtc's ServerAddresses set does."""
        seen: dict[tuple[str, int], IceServerUrl] = {}
        for s in servers:
            if s.scheme == "stun" or (s.scheme == "turn" and s.relay_protocol == "udp"):
                seen.setdefault((s.host.lower(), s.port), s)
        return list(seen.values())

    # --- priorities and foundations -----------------------------------------------------
    @staticmethod
    def priority(type_pref: int, net: NetworkPlan, addr: IPAddress, relay_pref: int = 0, component: int = 1) -> int:
        """(type << 24) | (local << 8) | (256 - component); local = ((rank << 8) | precedence) + relay
        (api/candidate.cc GetPriority; precedence of the candidate's own address)."""
        local = ((net.preference << 8) | address_precedence(addr)) + relay_pref
        return (type_pref << 24) | (local << 8) | (256 - component)

    def foundation(self, ident: GatherIdentity, type_name: str, base_ip: str, protocol: str, relay_protocol: str = "") -> str:
        """CRC32 of type + base IP + protocol + relay protocol + tiebreaker (p2p/base/port.cc
        ComputeFoundation, random per connection since upstream #38485); static before."""
        if self.rules_version < RANDOM_FOUNDATION_FROM:
            text = f"{static_foundation_type_name(type_name)}{base_ip}{protocol}{relay_protocol}"
        else:
            text = f"{type_name}{base_ip}{protocol}{relay_protocol}{ident.tiebreaker}"
        return str(zlib.crc32(text.encode()))

    # --- candidates -------------------------------------------------------------------
    def _build(
        self, ident: GatherIdentity, net: NetworkPlan, *, foundation: str, protocol: str, priority: int,
        address: str, port: int, type_: str, raddr: tuple[str, int] | None, tcptype: str | None,
        url: str, relay_protocol: str | None, mid: str, mline: int,
    ) -> IceCandidate:
        """BuildCandidate grammar (B1): ufrag after generation; network-id/cost only when > 0."""
        parts = [f"candidate:{foundation} 1 {protocol} {priority} {address} {port} typ {type_}"]
        if raddr is not None:
            parts.append(f"raddr {raddr[0]} rport {raddr[1]}")
        if tcptype:
            parts.append(f"tcptype {tcptype}")
        parts.append(f"generation 0 ufrag {ident.ufrag}")
        if net.network_id > 0:
            parts.append(f"network-id {net.network_id}")
        if net.network_cost > 0:
            parts.append(f"network-cost {net.network_cost}")
        return IceCandidate(
            candidate=" ".join(parts), sdpMid=mid, sdpMLineIndex=mline, foundation=foundation,
            component="rtp", priority=priority,
            # Blink brackets IPv6 in the attribute, not in the string (capture S2).
            address=uri_host(address), protocol=protocol, port=port, type=type_, tcpType=tcptype,
            relatedAddress=None if raddr is None else uri_host(raddr[0]),
            relatedPort=None if raddr is None else raddr[1],
            usernameFragment=ident.ufrag, relayProtocol=relay_protocol, url=url,
        )

    def host_candidate(self, ident, net, port, mdns, mid, mline):
        if net.host_address is None:
            return None  # an any-address socket with no default address is not signalled
        ip = net.host_address
        prio = self.priority(TYPE_PREF_HOST_UDP, net, ip)
        address = self.mdns_name(ident, ip) if mdns and net.any_address else str(ip)
        found = self.foundation(ident, "host", net.bind_address, "udp")
        return self._build(
            ident, net, foundation=found, protocol="udp", priority=prio, address=address, port=port,
            type_="host", raddr=None, tcptype=None, url="", relay_protocol=None, mid=mid, mline=mline,
        )

    def tcp_active_candidate(self, ident, net, mdns, mid, mline):
        """TCP active host candidates on port 9, enumerated networks only (B1)."""
        if not net.tcp_active or net.host_address is None:
            return None
        ip = net.host_address
        prio = self.priority(TYPE_PREF_HOST_TCP, net, ip)
        found = self.foundation(ident, "host", str(ip), "tcp")
        return self._build(
            ident, net, foundation=found, protocol="tcp", priority=prio, address=str(ip), port=9,
            type_="host", raddr=None, tcptype="active", url="", relay_protocol=None, mid=mid, mline=mline,
        )

    def srflx_related(self, net: NetworkPlan, port: int, mdns: bool) -> tuple[str, int]:
        """raddr is masked to 0.0.0.0/:: rport 0 under mDNS obfuscation (B5, captures S3a/S7);
        otherwise the base: the default local address for an any-address socket [code]."""
        if mdns and net.any_address:
            return ("0.0.0.0" if net.family == 4 else "::", 0)
        base = net.host_address if net.host_address is not None else net.bind_address
        return (str(base), port)

    def srflx_candidate(self, ident, net, port, mapped, server, mdns, mid, mline):
        ip = parse_ip(mapped[0])
        prio = self.priority(TYPE_PREF_SRFLX, net, ip)
        found = self.foundation(ident, "srflx", net.bind_address, "udp")
        return self._build(
            ident, net, foundation=found, protocol="udp", priority=prio, address=str(ip), port=mapped[1],
            type_="srflx", raddr=self.srflx_related(net, port, mdns), tcptype=None,
            url=self.stun_url(server), relay_protocol=None, mid=mid, mline=mline,
        )

    def relay_candidate(self, ident, net, relayed, mapped, server, relay_preference, mid, mline):
        ip = parse_ip(relayed[0])
        proto = server.relay_protocol
        prio = self.priority(self.relay_type_pref[proto], net, ip, relay_pref=relay_preference)
        if proto == "udp":
            found = self.foundation(ident, "relay", net.bind_address, "udp", proto)
        else:
            found = self.stream_relay_foundation(relayed, proto)
        return self._build(
            ident, net, foundation=found, protocol="udp", priority=prio, address=str(ip), port=relayed[1],
            # Relay raddr is the TURN-mapped (public) address, not masked (B5, capture S8).
            type_="relay", raddr=(str(parse_ip(mapped[0])), mapped[1]), tcptype=None, url=self.turn_url(server),
            # Capture S8: relayProtocol is null for a UDP relay, "tcp" for TCP.
            relay_protocol=None if proto == "udp" else proto, mid=mid, mline=mline,
        )

    def stream_relay_foundation(self, relayed: tuple[str, int], proto: str) -> str:
        """A TURN/TCP (TLS) port computes its foundation before the connection's tiebreaker
        reaches it: the tiebreaker is 0, so the foundation is the same in every connection
        (1797656238 = CRC32("relay127.0.0.1udptcp0") in captures G_two_turn, P0-P3, R1, R1g).
        The base is the relayed address (TurnPort::OnAllocateSuccess passes it as the base):
        the conformance suite's remote server relaying from 203.0.113.2 gave 598655908 =
        CRC32("relay203.0.113.2udptcp0") in every run, not the network's address."""
        base = str(parse_ip(relayed[0]))
        if self.rules_version < RANDOM_FOUNDATION_FROM:
            return str(zlib.crc32(f"relay{base}udp{proto}".encode()))
        return str(zlib.crc32(f"relay{base}udp{proto}0".encode()))

    def relay_preferences(self, turn_count: int) -> list[int]:
        """N TURN configs: the first gets N, counting down (since Nov 2022; capture: single = 1);
        before, N-1 down to 0 (B2)."""
        top = turn_count if self.rules_version >= RELAY_PREF_FROM_N_FROM else turn_count - 1
        return list(range(top, top - turn_count, -1))

    # --- URLs and errors --------------------------------------------------------------
    @staticmethod
    def stun_url(server: IceServerUrl) -> str:
        return f"stun:{uri_host(server.host)}:{server.port}"

    @staticmethod
    def turn_url(server: IceServerUrl) -> str:
        transport = "udp" if server.relay_protocol == "udp" else "tcp"
        return f"{server.scheme}:{uri_host(server.host)}:{server.port}?transport={transport}"

    def _error(self, t, net, port, url, code, text, clear_address=False) -> CandidateErrorEvent:
        """Address redacted (0.0.0.x, [0:0:0:x:x:x:x:x]) with the socket's port; hostCandidate
        "address:port" (captures S5/S7). Port 0 (no socket yet): address and port null,
        hostCandidate "0.0.0.x:0". TURN over TCP to a private server: address cleared too,
        hostCandidate ":0" (p2p/base/turn_port.cc OnAllocateError; capture C)."""
        if clear_address:
            return CandidateErrorEvent(t=t, address=None, port=None, url=url, errorCode=code, errorText=text, hostCandidate=":0")
        address = redact(parse_ip(net.bind_address))
        if port == 0:
            return CandidateErrorEvent(
                t=t, address=None, port=None, url=url, errorCode=code, errorText=text, hostCandidate=f"{address}:0",
            )
        return CandidateErrorEvent(
            t=t, address=address, port=port, url=url, errorCode=code, errorText=text,
            hostCandidate=f"{address}:{port}",
        )

    @staticmethod
    def error_held_until_complete(server: IceServerUrl, resolved: str | None = None) -> bool:
        """Capture C: a TURN/TCP error for a private server reaches the page with "complete",
        address cleared (":0"); a public one (C2) fires at once."""
        return server.relay_protocol != "udp" and _server_is_private(server, resolved)

    def stun_error(self, t, net, port, server, kind, code=None, reason=None):
        if kind == "response":
            if code is None:
                code, reason = ERROR_TEXTS[("stun", "no_code")]
            else:
                # The page gets the ERROR-CODE's number only, and no event when it is 0
                # (captures S2_stun420: 420 -> 20; S2_stun500 and Sx_stun400: nothing).
                code %= 100
                if code == 0:
                    return None
            return self._error(t, net, port, self.stun_url(server), code, reason or "")
        code, text = ERROR_TEXTS[("stun", kind)]
        if kind == "timeout":
            text = stun_timeout_text(self.rules_version)
        return self._error(t, net, port, self.stun_url(server), code, text)

    def turn_error(self, t, net, port, server, kind, code=None, reason=None, resolved=None):
        base_code, text = ERROR_TEXTS[("turn", kind)]
        if kind == "unauthorized" and self.rules_version < OWN_UNAUTHORIZED_TEXT_FROM and reason:
            text = reason  # the server's phrase (coturn: "Unauthorized", no full stop)
        clear = self.error_held_until_complete(server, resolved)
        return self._error(t, net, port, self.turn_url(server), code or base_code, text, clear_address=clear)

    @staticmethod
    def turn_port_allowed(port: int) -> bool:
        return port >= 1024 or port in ALLOWED_LOW_TURN_PORTS

    @staticmethod
    def udp_port_blocked(port: int) -> bool:
        return port in RESTRICTED_PORTS

    # --- timers -----------------------------------------------------------------------
    def retransmit_schedule(self, rng: random.Random) -> RetransmitSchedule:
        """Send times and give-up time, nominal RTOs plus the timer slack seen in capture S5."""
        t, rto, offsets = 0.0, self.timers.rto_ms, [0.0]
        lo, hi = self.timers.timer_late_ms
        for _ in range(self.timers.sends):
            t += rto + rng.uniform(lo, hi)
            offsets.append(t)
            rto = min(rto * 2, self.timers.rto_cap_ms)
        # The last "send" slot is the give-up time: 9 sends, then one more RTO of waiting.
        return RetransmitSchedule(send_offsets_ms=tuple(offsets[:-1]), timeout_ms=offsets[-1])


def _default_address(interfaces: list[Interface], family: int) -> IPAddress | None:
    candidates = [i for i in interfaces if i.family == family and not i.address.is_loopback and not i.address.is_link_local]
    for i in candidates:
        if i.default:
            return i.address
    return candidates[0].address if candidates else None


def _server_is_private(server: IceServerUrl, resolved: str | None = None) -> bool:
    """Chrome checks the server's resolved address; an unresolved name is not private."""
    text = resolved if resolved is not None else server.host
    try:
        return is_private_ip(ipaddress.ip_address(text))
    except ValueError:
        return False

