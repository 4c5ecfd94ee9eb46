"""Firefox (nICEr + PeerConnectionImpl) as a page sees it: strings, priorities, foundations,
errors, the end of gathering. Sources: shared/captures F1/F3d/F5b/F8c and README, our Firefox
153 ESR captures in tests/data/firefox (named below), nICEr's ice_candidate.c for the priority
formula. Where a rule rests on source reading only, the comment says [code].
"""

from __future__ import annotations

import dataclasses
import random
import uuid

from ..addresses import uri_host
from ..config import IceServerUrl, Interface, IPAddress
from ..events import ABSENT, CandidateErrorEvent, CandidateEvent, GatheringStateChange, IceCandidate
from .base import GatherIdentity, GatherPolicy, NetworkPlan, RetransmitSchedule
from .constructor_rules import firefox_constructor_error
from .firefox_sdp import firefox_local_description
from .firefox_timers import FirefoxTimers
from .transport_rules import TransportRules

CURRENT_FIREFOX = 153  # the ESR the captures were made with

# nICEr type preferences (ice_reg.h defaults as Firefox sets them): host UDP 126, host TCP 125,
# srflx 100, relayed UDP 5, relayed over TCP 0 (turn_tcp: 8265727 = 0<<24 | 126<<16 | 31<<8 | 255).
TYPE_PREF = {("host", "udp"): 126, ("host", "tcp"): 125, ("srflx", "udp"): 100, ("relay", "udp"): 5, ("relay", "tcp"): 0}
# direction priority of a TCP active host candidate (nr_ice_candidate_compute_priority).
TCP_ACTIVE_DIRECTION = 6
# Firefox's interface prioritizer: ethernet before wifi before mobile before the rest, VPNs
# last, then IPv6 before IPv4, then the "name:address" key [code] (nr_interface_prioritizer).
ADAPTER_RANK = {"ethernet": 1, "wifi": 2, "cellular": 3}

# TURN errors: the server's code (turn_badcred: 401), 701 when unreachable; errorText is
# always "" and address/port null (shared captures README, F5b, every tests/data/firefox error).
TURN_CODES = {"unauthorized": 401, "mismatch": 437, "alternate_failed": 300}


class FirefoxDialect(TransportRules):
    """nICEr's per-interface gathering with Firefox's host obfuscation."""

    name = "firefox"
    srflx_from_turn = True  # F8c: srflx and relay from the one Allocate (no separate binding)
    renders_sdp = True  # data-channel offers (firefox_sdp.py)
    constructor_error = staticmethod(firefox_constructor_error)

    def __init__(self, version: int = CURRENT_FIREFOX, timers: FirefoxTimers | None = None) -> None:
        self.version = version
        self.timers = timers or FirefoxTimers()

    # --- identity ---------------------------------------------------------------------
    def new_identity(self, rng: random.Random) -> GatherIdentity:
        """ufrag 8 and pwd 32 lowercase hex chars (every capture's a=ice-ufrag / a=ice-pwd)."""
        return GatherIdentity(
            ufrag=f"{rng.getrandbits(32):08x}", pwd=f"{rng.getrandbits(128):032x}",
            tiebreaker=rng.getrandbits(64), rng=rng,
        )

    def mdns_name(self, ident: GatherIdentity, ip: IPAddress) -> str:
        """One UUIDv4 name per address per connection: the UDP and TCP hosts of an address share
        it, the IPv4 and IPv6 addresses differ (F1; every capture)."""
        key = str(ip)
        if key not in ident.mdns_names:
            ident.mdns_names[key] = f"{uuid.UUID(int=ident.rng.getrandbits(128), version=4)}.local"
        return ident.mdns_names[key]

    # --- socket model -----------------------------------------------------------------
    def plan_networks(self, interfaces: list[Interface], permission: bool) -> list[NetworkPlan]:
        """One socket per interface address, bound to it. Without camera/mic permission only the
        default route's address of each family (PeerConnectionImpl GetPrefDefaultAddressOnly)
        [code]; the captures' one-interface namespace shows both families' default addresses.
        Sockets in enumeration order (IPv4 first: foundations 0 = IPv4 host, F3d)."""
        usable = [i for i in interfaces if i.adapter_type != "loopback" and not i.address.is_loopback
                  and not i.address.is_link_local]
        if not permission:
            usable = [i for i in (_default_of(usable, 4), _default_of(usable, 6)) if i is not None]
        ranked = sorted(usable, key=lambda i: (
            i.adapter_type == "vpn", ADAPTER_RANK.get(i.adapter_type, 4), -i.address.version, f"{i.name}:{i.address}",
        ))
        return [
            NetworkPlan(
                key=f"{iface.name}%{iface.address}", family=iface.family, bind_address=str(iface.address),
                host_address=iface.address, adapter_type=iface.adapter_type, network_id=0, network_cost=0,
                # 127 for the first, counting down (F1: IPv6 2122252543, IPv4 2122187007).
                preference=127 - ranked.index(iface), any_address=False, tcp_active=True,
            )
            for iface in usable
        ]

    @staticmethod
    def stun_servers(servers: list[IceServerUrl]) -> list[IceServerUrl]:
        """Only stun: URLs get a binding; a TURN server's srflx comes from its Allocate (F8c)."""
        return [s for s in servers if s.scheme == "stun"]

    @staticmethod
    def relay_preferences(turn_count: int) -> list[int]:
        return [0] * turn_count  # nICEr has none; the server id sets relay priorities (prepare)

    @staticmethod
    def turn_port_allowed(port: int) -> bool:
        return True

    @staticmethod
    def udp_port_blocked(port: int) -> bool:
        return False

    @staticmethod
    def error_held_until_complete(server: IceServerUrl, resolved: str | None = None) -> bool:
        return False

    @staticmethod
    def obfuscates_hosts(mdns: bool, permission: bool) -> bool:
        """mDNS names even with getUserMedia granted (capture gum_stun); off only by pref."""
        return mdns

    @staticmethod
    def srflx_equal_to_host_emitted(mdns: bool) -> bool:
        """Kept while hosts are obfuscated (stun_name, gum_stun); pruned as redundant when the
        host shows its IP (nomdns_stun)."""
        return mdns

    # --- creation order: foundations, server ids, pacing -------------------------------------
    def prepare(
        self, ident: GatherIdentity, plans: list[NetworkPlan], servers: list[IceServerUrl],
        policy: GatherPolicy | None = None,
    ) -> None:
        """nICEr creates every candidate up front (nr_ice_component_initialize): per socket the
        UDP host, a srflx per STUN server, a srflx + relay per TURN/UDP server; then per socket
        the TCP active host and a relay per TURN/TCP server. A foundation is the index of the
        first (type, base, server address) seen, taken even when the candidate later fails (F5b,
        stun_loopback). Servers get ids: STUN URLs first, then each TURN server counted among
        the TURN servers of its transport, a TURN/UDP one after the STUN URLs, a TURN/TCP one
        from 0 (two_stun_turn: the TURN/UDP relay has stun priority 31 - 2; two_turn: TURN/UDP
        and TURN/TCP both 31; conformance suite, mixed: STUN + TURN/UDP + TURN/TCP gives the
        TCP relay 31, 8265727). An IP literal of the other family
        creates nothing (F3d, stun_v6); a name does (stun_name: the IPv6 srflx holds foundation 3)."""
        # iceTransportPolicy relay: nICEr creates relay candidates only, so only they take
        # foundations and the STUN URLs get no ids (conformance suite, relay_only: TURN/UDP
        # relay foundation 0 and stun priority 31, TURN/TCP relay foundation 1).
        relay_only = policy is not None and policy.signalled == frozenset({"relay"})
        stuns = [] if relay_only else [s for s in servers if s.scheme == "stun"]
        turns = [s for s in servers if s.is_turn]
        for n, server in enumerate(stuns):
            ident.server_ids.setdefault(server, n)
        for transport in ("udp", "tcp"):
            same = [s for s in turns if (s.relay_protocol == "udp") == (transport == "udp")]
            for n, server in enumerate(same):
                ident.server_ids.setdefault(server, (len(stuns) if transport == "udp" else 0) + n)

        def take(key: tuple) -> None:
            if key[0] == "relay" or not relay_only:
                ident.foundations.setdefault(key, len(ident.foundations))

        def pace(net: NetworkPlan, server: IceServerUrl) -> None:
            ident.start_slots.setdefault((net.key, server), len(ident.start_slots))

        for net in plans:
            take(("host", net.bind_address, "udp", None))
            for server in stuns:
                if _family_fits(server, net):
                    take(("srflx", net.bind_address, "udp", _server_key(server)))
                    pace(net, server)
            for server in turns:
                if server.relay_protocol == "udp" and _family_fits(server, net):
                    take(("srflx", net.bind_address, "udp", _server_key(server)))
                    take(("relay", net.bind_address, "udp", _server_key(server)))
                    pace(net, server)
        for net in plans:
            if net.tcp_active:
                take(("host", net.bind_address, "tcp", None))
            for server in turns:
                if server.relay_protocol != "udp" and _family_fits(server, net):
                    take(("relay", net.bind_address, "tcp", _server_key(server)))

    def gather_policy(self, ip_policy: str, permission: bool, mdns: bool, ice_transport_policy: str) -> GatherPolicy:
        """JSEP's relay filter, but a relay keeps raddr = its own address (conformance suite,
        relay_only: Firefox never zeroes it as Chrome does)."""
        policy = super().gather_policy(ip_policy, permission, mdns, ice_transport_policy)
        return dataclasses.replace(policy, mask_related=False)

    @staticmethod
    def skips_gathering_state(policy: GatherPolicy, turn_servers: list) -> bool:
        """Relay only (iceTransportPolicy relay or the pref relay_only) with no TURN server: nICEr
        has nothing to gather (no host, no srflx under relay only), and the page sees no
        "gathering" state, only the "" marker, "complete" and null, 57-85 ms after createOffer
        whether or not the STUN server answers (captures policy_relay_stun, pref_relay_only)."""
        return policy.signalled == frozenset({"relay"}) and not turn_servers

    def start_offset_ms(self, ident: GatherIdentity, net: NetworkPlan, server: IceServerUrl) -> float:
        if server.is_turn and server.relay_protocol != "udp":
            with_udp_turn = any(s.is_turn and s.relay_protocol == "udp" for s in ident.server_ids)
            lo, hi = self.timers.tcp_turn_after_udp_turn_start_ms if with_udp_turn else self.timers.tcp_turn_start_ms
            return (lo + hi) / 2
        return self.timers.first_start_ms + ident.start_slots.get((net.key, server), 0) * self.timers.pacing_ms

    def _foundation(self, ident: GatherIdentity, key: tuple) -> str:
        return str(ident.foundations.setdefault(key, len(ident.foundations)))

    @staticmethod
    def priority(type_pref: int, net: NetworkPlan, stun_priority: int = 0, direction: int = 0) -> int:
        """(type << 24) | (interface << 16) | (direction << 13) | (stun << 8) | (256 - component)
        (nr_ice_candidate_compute_priority)."""
        return (type_pref << 24) | (net.preference << 16) | (direction << 13) | (stun_priority << 8) | 255

    def _stun_priority(self, ident: GatherIdentity, server: IceServerUrl) -> int:
        return max(31 - ident.server_ids.get(server, 0), 0)

    # --- candidates -------------------------------------------------------------------
    def _build(self, ident, *, foundation, protocol, priority, address, port, type_, raddr, tcptype, mid, mline):
        """`candidate:<index> 1 UDP|TCP <prio> <addr> <port> typ <type> [raddr .. rport ..]
        [tcptype ..]`: no generation, ufrag or network fields; relayProtocol and url do not
        exist in Firefox (absent, not null); IPv6 unbracketed in the attribute (stun_v6)."""
        text = f"candidate:{foundation} 1 {protocol.upper()} {priority} {address} {port} typ {type_}"
        if raddr is not None:
            text += f" raddr {raddr[0]} rport {raddr[1]}"
        if tcptype:
            text += f" tcptype {tcptype}"
        return IceCandidate(
            candidate=text, sdpMid=mid, sdpMLineIndex=mline, foundation=foundation, component="rtp",
            priority=priority, address=address, protocol=protocol, port=port, type=type_, tcpType=tcptype,
            relatedAddress=None if raddr is None else raddr[0], relatedPort=None if raddr is None else raddr[1],
            usernameFragment=ident.ufrag, relayProtocol=ABSENT, url=ABSENT,
        )

    def _host_address(self, ident: GatherIdentity, net: NetworkPlan, mdns: bool) -> str:
        assert net.host_address is not None
        return self.mdns_name(ident, net.host_address) if mdns else str(net.host_address)

    def host_candidate(self, ident, net, port, mdns, mid, mline):
        if net.host_address is None:
            return None
        return self._build(
            ident, foundation=self._foundation(ident, ("host", net.bind_address, "udp", None)), protocol="udp",
            priority=self.priority(TYPE_PREF[("host", "udp")], net), address=self._host_address(ident, net, mdns),
            port=port, type_="host", raddr=None, tcptype=None, mid=mid, mline=mline,
        )

    def tcp_active_candidate(self, ident, net, mdns, mid, mline):
        """On port 9, every interface, mDNS names too (F1)."""
        if not net.tcp_active or net.host_address is None:
            return None
        return self._build(
            ident, foundation=self._foundation(ident, ("host", net.bind_address, "tcp", None)), protocol="tcp",
            priority=self.priority(TYPE_PREF[("host", "tcp")], net, direction=TCP_ACTIVE_DIRECTION),
            address=self._host_address(ident, net, mdns), port=9, type_="host", raddr=None, tcptype="active",
            mid=mid, mline=mline,
        )

    def srflx_candidate(self, ident, net, port, mapped, server, mdns, mid, mline):
        """raddr 0.0.0.0 rport 0 while obfuscating, IPv6 too (stun_v6); else the base [code]."""
        raddr = ("0.0.0.0", 0) if mdns else (str(net.host_address or net.bind_address), port)
        return self._build(
            ident, foundation=self._foundation(ident, ("srflx", net.bind_address, "udp", _server_key(server))),
            protocol="udp", priority=self.priority(TYPE_PREF[("srflx", "udp")], net, self._stun_priority(ident, server)),
            address=mapped[0], port=mapped[1], type_="srflx", raddr=raddr, tcptype=None, mid=mid, mline=mline,
        )

    def relay_candidate(self, ident, net, relayed, mapped, server, relay_preference, mid, mline):
        """raddr/rport = the relay address itself (F8c); over TCP the string still says UDP
        with relayed-TCP priority (turn_tcp)."""
        proto = "udp" if server.relay_protocol == "udp" else "tcp"
        return self._build(
            ident, foundation=self._foundation(ident, ("relay", net.bind_address, proto, _server_key(server))),
            protocol="udp", priority=self.priority(TYPE_PREF[("relay", proto)], net, self._stun_priority(ident, server)),
            address=relayed[0], port=relayed[1], type_="relay", raddr=(relayed[0], relayed[1]), tcptype=None,
            mid=mid, mline=mline,
        )

    # --- URLs and errors --------------------------------------------------------------
    @staticmethod
    def server_url(server: IceServerUrl) -> str:
        """`stun:H:P`, `turn:H:P` (no ?transport=udp), `turn:H:P?transport=tcp` (F5b,
        turn_badcred, turn_tcp_closed)."""
        query = "?transport=tcp" if server.is_turn and server.transport == "tcp" else ""
        return f"{server.scheme}:{uri_host(server.host)}:{server.port}{query}"

    def _error(self, t: float, server: IceServerUrl, code: int) -> CandidateErrorEvent:
        return CandidateErrorEvent(t=t, address=None, port=None, url=self.server_url(server), errorCode=code, errorText="")

    def refused_server_error(self, server, t_gathering, rng) -> CandidateErrorEvent | None:
        """A loopback server is refused before gathering starts, no packet sent, one 701 per URL
        in the same ms as "gathering" (captures README; stun_loopback, turn_loopback).
        Names are not checked here [code: only literals are known before resolution]."""
        if server.host_literal is not None and server.host_literal.is_loopback:
            return self._error(t_gathering, server, 701)
        return None

    def stun_error(self, t, net, port, server, kind, code=None, reason=None):
        """701 for a failed lookup (stun_nx: one per family) or a timeout (F5b); an error
        response gives its code if 4xx (stun_420), else 65535 (stun_500)."""
        if kind == "response":
            return self._error(t, server, _response_code(code))
        return self._error(t, server, 701)

    def turn_error(self, t, net, port, server, kind, code=None, reason=None, resolved=None):
        """401 (turn_badcred), 701 when unreachable (turn_udp_dropped, turn_tcp_closed); other
        error responses as a STUN binding's [inferred from stun_420 / stun_500]."""
        if kind == "other":
            return self._error(t, server, _response_code(code))
        return self._error(t, server, TURN_CODES.get(kind, 701))

    # --- timers and the end ----------------------------------------------------------------
    def retransmit_schedule(self, rng: random.Random) -> RetransmitSchedule:
        """RTO 100 ms doubling, 7 sends, give up ~11.1 s after the first (F5b)."""
        t, rto, offsets = 0.0, self.timers.rto_ms, [0.0]
        lo, hi = self.timers.timer_late_ms
        for _ in range(self.timers.sends - 1):
            t += rto + rng.uniform(lo, hi)
            offsets.append(t)
            rto *= 2
        return RetransmitSchedule(send_offsets_ms=tuple(offsets), timeout_ms=self.timers.give_up_ms + rng.uniform(lo, hi))

    def transport_done_events(self, ident, t, mid, mline) -> list:
        """A "" end-of-candidates candidate per m-line whose gathering is over (sdpMid,
        sdpMLineIndex, ufrag; every other attribute null) (F1, F3d, F5b, F8c; one per m-line:
        reference C and the a=end-of-candidates of each m-line in the captures' SDP)."""
        marker = IceCandidate(candidate="", sdpMid=mid, sdpMLineIndex=mline, usernameFragment=ident.ufrag,
                              relayProtocol=ABSENT, url=ABSENT)
        return [CandidateEvent(t=t, candidate=marker)]

    def completion_events(self, ident, t, jitter, mid, mline) -> list:
        """After the last marker: "complete", then the null candidate."""
        t_complete = t + jitter(self.timers.complete_after_marker_ms)
        t_null = t_complete + jitter(self.timers.null_after_complete_ms)
        return [GatheringStateChange(t=t_complete, state="complete"), CandidateEvent(t=t_null, candidate=None)]

    @staticmethod
    def sdp_unsupported(media: tuple[str, ...]) -> str | None:
        if any(kind != "data" for kind in media):
            return "Firefox's SDP is modelled for a data channel only (audio/video were not captured)"
        return None

    def local_description(self, ident, sections, candidates) -> str:
        return firefox_local_description(ident, sections, candidates)


def _response_code(code: int | None) -> int:
    """Only a 4xx ERROR-CODE reaches the page; anything else reads as 65535 (stun_500)."""
    return code if code is not None and 400 <= code < 500 else 65535


def _default_of(interfaces: list[Interface], family: int) -> Interface | None:
    same = [i for i in interfaces if i.family == family]
    return next((i for i in same if i.default), same[0] if same else None)


def _family_fits(server: IceServerUrl, net: NetworkPlan) -> bool:
    return server.host_literal is None or server.host_literal.version == net.family


def _server_key(server: IceServerUrl) -> tuple[str, int, str]:
    """nICEr compares the server's transport address, not the URL: a STUN and a TURN/UDP server
    at the same address share the srflx foundation (two_stun_turn)."""
    return (server.host.lower(), server.port, "udp" if server.relay_protocol == "udp" or not server.is_turn else "tcp")
