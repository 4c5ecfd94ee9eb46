"""JSEP rules every dialect shares unless it knows better: m-lines and transports per bundle
policy, the candidate filter of iceTransportPolicy relay, and no IP handling policy but the
default. ChromeTransportRules refines them from Chromium captures; Firefox and Safari inherit
these until captured (their transports per bundle policy are JSEP's, not yet checked against
a capture of theirs)."""

from __future__ import annotations

import dataclasses

from ..config import ConfigError
from ..events import IceCandidate
from .base import GatherIdentity, GatherPolicy, MediaSection, TransportPlan

ALL_TYPES = frozenset({"host", "srflx", "prflx", "relay"})


class TransportRules:
    """Mixin for a dialect: needs `name` and `obfuscates_hosts(mdns, permission)`."""

    name: str
    # Whether `local_description` renders this browser's SDP (--sdp).
    renders_sdp = False

    def obfuscates_hosts(self, mdns: bool, permission: bool) -> bool:
        raise NotImplementedError  # the dialect's own rule

    @staticmethod
    def skips_gathering_state(policy: GatherPolicy, turn_servers: list) -> bool:
        """True when the connection goes straight to "complete" without a "gathering" state."""
        return False

    def gather_policy(self, ip_policy: str, permission: bool, mdns: bool, ice_transport_policy: str) -> GatherPolicy:
        if ip_policy != "default":
            raise ConfigError("--policy", ip_policy, f"IP handling policies are Chrome's; {self.name} has only default")
        relay_only = ice_transport_policy == "relay"
        return GatherPolicy(
            enumerate=permission, mdns=self.obfuscates_hosts(mdns, permission), host=True, udp=True,
            signalled=frozenset({"relay"}) if relay_only else ALL_TYPES, mask_related=relay_only,
        )

    @staticmethod
    def media_sections(media: tuple[str, ...], bundle_policy: str) -> list[MediaSection]:
        """m-lines in offer order with mids "0", "1"...; balanced and max-compat give every
        m-line its own transport in the initial offer, max-bundle only the first (JSEP 4.1.1;
        Chromium captures M1-M3)."""
        return [
            MediaSection(kind=kind, mid=str(i), transport_mid=str(i) if bundle_policy != "max-bundle" or i == 0 else None)
            for i, kind in enumerate(media)
        ]

    @staticmethod
    def transports(sections: list[MediaSection], pool_size: int) -> list[TransportPlan]:
        """One transport per m-line that has its own; the first `pool_size` take a pooled
        session (one per transport: Chromium capture Q2, pool 1 and three transports, pools
        mid 0 only). Extra pooled sessions are never surfaced."""
        plans: list[TransportPlan] = []
        for section in sections:
            if section.transport_mid == section.mid:
                plans.append(TransportPlan(mid=section.mid, mline=int(section.mid), pooled=len(plans) < pool_size))
        return plans

    def surface(self, cand: IceCandidate, policy: GatherPolicy, pooled: bool) -> IceCandidate | None:
        """The candidate as the page gets it, or None when the allocator does not signal it
        (candidate filter, host candidates off); relay-only zeroes the related address."""
        if cand.type not in policy.signalled or (cand.type == "host" and not policy.host):
            return None
        if not policy.mask_related or cand.relatedAddress is None:
            return cand
        return self.with_tokens(cand, mask_related=True)

    @staticmethod
    def with_tokens(cand: IceCandidate, priority: int | None = None, mask_related: bool = False) -> IceCandidate:
        """The candidate with its string and attributes rewritten (libwebrtc/nICEr grammar: the
        priority is the 4th token, `raddr X rport Y` follow the type)."""
        tokens = cand.candidate.split(" ")
        changes: dict[str, object] = {}
        if priority is not None:
            tokens[3] = str(priority)
            changes["priority"] = priority
        if mask_related and "raddr" in tokens:
            i = tokens.index("raddr")
            v6 = ":" in (cand.address or "")
            tokens[i + 1], tokens[i + 3] = ("::" if v6 else "0.0.0.0"), "0"
            changes.update(relatedAddress="[::]" if v6 else "0.0.0.0", relatedPort=0)
        return dataclasses.replace(cand, candidate=" ".join(tokens), **changes)  # type: ignore[arg-type]

    def sdp_unsupported(self, media: tuple[str, ...]) -> str | None:
        """Why `local_description` cannot render these m-lines (None: it can)."""
        return None

    def local_description(
        self, ident: GatherIdentity, sections: list[MediaSection], candidates: dict[str, list[IceCandidate]],
    ) -> str:
        raise ConfigError("--sdp", self.name, "the local description is not modelled for this browser yet")
