"""Chrome's rules for what is gathered and signalled: IP handling policies x permission,
iceTransportPolicy, the candidate pool, the local description. Pure code, mixed into
ChromeDialect (the JSEP parts it shares are in transport_rules.py).

Facts from Chromium 156 captures (tests/data/chromium156, P*/R*/M*/Q*), the policy set through
the profile pref webrtc.ip_handling_policy (what the WebRtcIPHandling enterprise policy and
extensions set), and libwebrtc (p2p/client/basic_port_allocator.cc, pc/jsep_transport_controller.cc).
"""

from __future__ import annotations

from ..events import IceCandidate
from .base import GatherIdentity, GatherPolicy, MediaSection
from .chrome_sdp import chrome_local_description
from .transport_rules import ALL_TYPES, TransportRules


class ChromeTransportRules(TransportRules):
    """Mixin: policies, the pool and the local description, as Chrome applies them."""

    renders_sdp = True

    @staticmethod
    def constructor_error(servers):
        """Captures H1-H4 (constructor_rules.chrome_constructor_error)."""
        from .constructor_rules import chrome_constructor_error  # it imports chrome.py, which imports us

        return chrome_constructor_error(servers)

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
        if ip_policy == "default":
            return super().gather_policy(ip_policy, permission, mdns, ice_transport_policy)
        relay_only = ice_transport_policy == "relay"
        signalled = frozenset({"relay"}) if relay_only else ALL_TYPES
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

    def surface(self, cand: IceCandidate, policy: GatherPolicy, pooled: bool) -> IceCandidate | None:
        """As TransportRules.surface, and: pooled sessions are created for component 0, so
        their priorities end in `| (256 - 0)` (api/candidate.cc GetPriority ORs it in: Q1/Q2
        host 2113937152, srflx 1677729536, relay 50339584); the string still says component 1."""
        shown = super().surface(cand, policy, pooled)
        if shown is None or not pooled or shown.priority is None:
            return shown
        return self.with_tokens(shown, priority=(shown.priority & ~0xFF) | 0x100)

    def local_description(
        self, ident: GatherIdentity, sections: list[MediaSection], candidates: dict[str, list[IceCandidate]],
    ) -> str:
        return chrome_local_description(ident, sections, candidates)
