"""Chrome's rules for what is gathered and signalled: IP handling policies x permission,
iceTransportPolicy, transports per bundle policy, the candidate pool. Pure code, mixed into
ChromeDialect; another dialect implements the same methods (see base.Dialect).

Facts from Chromium 156 captures (tests/data/chromium156, P*/R*/M*/Q*), policy set through
the profile pref webrtc.ip_handling_policy (what the WebRtcIPHandling enterprise policy and
extensions set), and libwebrtc (p2p/client/basic_port_allocator.cc, pc/jsep_transport_controller.cc).
"""

from __future__ import annotations

import dataclasses

from ..events import IceCandidate
from .base import GatherIdentity, GatherPolicy, MediaSection, TransportPlan
from .chrome_sdp import chrome_local_description

ALL_TYPES = frozenset({"host", "srflx", "prflx", "relay"})


class ChromeTransportRules:
    """Mixin: policies, transports and the local description, as Chrome applies them."""

    def gather_policy(self, ip_policy: str, permission: bool, mdns: bool, ice_transport_policy: str) -> GatherPolicy:
        """Port allocator flags per policy (Chrome's WebRTC IP handling; captures P0-P3, P1g-P3g):
        - default: enumerated real IPs with permission, else any-address with mDNS (as before);
        - default_public_and_private_interfaces: any-address, raw default IPs, srflx raddr =
          host ip:port, whatever the permission (P1, P1g);
        - default_public_interface_only: no host candidate, srflx raddr 0.0.0.0 rport 0,
          relays as usual (P2, P2g);
        - disable_non_proxied_udp: no UDP at all: only TURN over TCP/TLS relays; with STUN only,
          no candidate and no error (P3, P3s, P3g).
        iceTransportPolicy relay: everything is still gathered (STUN errors still fire: R1, R2)
        but only relay candidates are signalled, raddr 0.0.0.0 rport 0 (R1, R1g)."""
        signalled = frozenset({"relay"}) if ice_transport_policy == "relay" else ALL_TYPES
        relay_only = ice_transport_policy == "relay"
        if ip_policy == "default":
            return GatherPolicy(enumerate=permission, mdns=mdns and not permission, host=True, udp=True,
                                signalled=signalled, mask_related=relay_only)
        if ip_policy == "default_public_and_private_interfaces":
            return GatherPolicy(enumerate=False, mdns=False, host=True, udp=True,
                                signalled=signalled, mask_related=relay_only)
        if ip_policy == "default_public_interface_only":
            return GatherPolicy(enumerate=False, mdns=True, host=False, udp=True,
                                signalled=signalled, mask_related=relay_only)
        if ip_policy == "disable_non_proxied_udp":
            return GatherPolicy(enumerate=False, mdns=True, host=False, udp=False,
                                signalled=signalled, mask_related=relay_only)
        raise ValueError(f"unknown IP handling policy {ip_policy!r}")

    @staticmethod
    def media_sections(media: tuple[str, ...], bundle_policy: str) -> list[MediaSection]:
        """m-lines in offer order with mids "0", "1"...; every policy offers a=group:BUNDLE.
        Initial offer: balanced and max-compat give every m-line its own transport (M1, M3);
        max-bundle gathers only for the first, the others carry no candidates (M2)."""
        sections = []
        for i, kind in enumerate(media):
            mid = str(i)
            own = bundle_policy != "max-bundle" or i == 0
            sections.append(MediaSection(kind=kind, mid=mid, transport_mid=mid if own else None))
        return sections

    @staticmethod
    def transports(sections: list[MediaSection], pool_size: int) -> list[TransportPlan]:
        """One transport per m-line that has its own; the first `pool_size` take a pooled
        session (PortAllocator::TakePooledSession, one per transport: Q2 with pool 1 and three
        transports pools mid 0 only). Extra pooled sessions are never surfaced."""
        plans: list[TransportPlan] = []
        for section in sections:
            if section.transport_mid == section.mid:
                index = len(plans)
                plans.append(TransportPlan(mid=section.mid, mline=int(section.mid), pooled=index < pool_size))
        return plans

    @staticmethod
    def surface(cand: IceCandidate, policy: GatherPolicy, pooled: bool) -> IceCandidate | None:
        """The candidate as the page gets it, or None when the allocator does not signal it.

        Pooled sessions are created for component 0, so their priorities end in
        `| (256 - 0)` (api/candidate.cc GetPriority ORs it in: Q1/Q2 host 2113937152, srflx
        1677729536, relay 50339584); the string still says component 1. Under the relay-only
        filter raddr/rport are zeroed (BasicPortAllocatorSession SanitizeRelatedAddress: R1)."""
        if cand.type not in policy.signalled or (cand.type == "host" and not policy.host):
            return None
        tokens = cand.candidate.split(" ")
        changes: dict[str, object] = {}
        if pooled and cand.priority is not None:
            priority = (cand.priority & ~0xFF) | 0x100
            tokens[3] = str(priority)
            changes["priority"] = priority
        if policy.mask_related and "raddr" in tokens:
            i = tokens.index("raddr")
            zero = "::" if ":" in (cand.address or "") else "0.0.0.0"
            tokens[i + 1], tokens[i + 3] = zero, "0"
            changes.update(relatedAddress=zero if zero == "0.0.0.0" else "[::]", relatedPort=0)
        if not changes:
            return cand
        return dataclasses.replace(cand, candidate=" ".join(tokens), **changes)  # type: ignore[arg-type]

    @staticmethod
    def local_description(
        ident: GatherIdentity, sections: list[MediaSection], candidates: dict[str, list[IceCandidate]],
    ) -> str:
        return chrome_local_description(ident, sections, candidates)
