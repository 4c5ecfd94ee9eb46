"""Safari (WebKit + its libwebrtc) as a page sees it. No Safari runs here to capture, so every
rule that differs from Chrome rests on source reading (shared/reference/browser-ice.md C,
WebKit's RTCPeerConnection / LibWebRTC provider) and is marked [source reading only]. What
Safari shares with Chrome (libwebrtc's candidate grammar, priorities, STUN/TURN error texts and
timers) is inherited from ChromeDialect.
"""

from __future__ import annotations

import dataclasses
import uuid

from ..addresses import uri_host
from ..config import IceServerUrl, Interface, IPAddress
from ..events import ABSENT, CandidateErrorEvent, CandidateEvent, GatheringStateChange
from .base import GatherIdentity, NetworkPlan
from .chrome import RESTRICTED_PORTS, ChromeDialect
from .constructor_rules import safari_constructor_error
from .transport_rules import TransportRules

CURRENT_SAFARI = 26
# The refused-URL error events queued by the constructor reach the page at its first await:
# right after createOffer() is called (t0) [source reading only].
URL_REFUSED_T_MS = 0.3


class SafariDialect(ChromeDialect):
    name = "safari"
    # Chrome's IP handling policies, pool priorities and SDP form are Chrome's, not WebKit's:
    # only the shared JSEP rules apply (no capture of Safari to say more).
    renders_sdp = False
    gather_policy = TransportRules.gather_policy
    surface = TransportRules.surface
    constructor_error = staticmethod(safari_constructor_error)

    def __init__(self, version: int = CURRENT_SAFARI) -> None:
        # WebKit ships a recent libwebrtc: Chrome 156's libwebrtc rules [source reading only].
        super().__init__()
        self.version = version

    def mdns_name(self, ident: GatherIdentity, ip: IPAddress) -> str:
        """A fresh name per registration: WebKit's mDNS register hands out a new UUID each time
        a host candidate is registered, never reusing one for the same IP [source reading only]."""
        return f"{uuid.UUID(int=ident.rng.getrandbits(128), version=4)}.local"

    def plan_networks(self, interfaces: list[Interface], permission: bool) -> list[NetworkPlan]:
        """Only the networks holding the default IPv4/IPv6 address, enumerated with their real
        network-id and cost and ranks 127/126; all of them once capture is granted (WebKit
        enables enumerating every interface then); no TCP candidates while hosts are
        obfuscated [source reading only]."""
        plans = self._enumerated_networks(interfaces)
        if permission:
            return plans
        keep = {_default_key(interfaces, 4), _default_key(interfaces, 6)}
        chosen = [p for p in plans if p.key in keep]
        ranked = sorted(chosen, key=lambda p: -p.preference)
        return [dataclasses.replace(p, preference=127 - ranked.index(p), tcp_active=False) for p in chosen]

    def host_candidate(self, ident, net, port, mdns, mid, mline):
        cand = super().host_candidate(ident, net, port, False, mid, mline)
        if cand is None or not mdns:
            return self._webkit_attributes(cand)
        name = self.mdns_name(ident, net.host_address)
        return self._webkit_attributes(dataclasses.replace(
            cand, candidate=cand.candidate.replace(f" {net.host_address} ", f" {name} ", 1), address=name,
        ))

    def tcp_active_candidate(self, ident, net, mdns, mid, mline):
        return self._webkit_attributes(super().tcp_active_candidate(ident, net, mdns, mid, mline))

    def srflx_related(self, net: NetworkPlan, port: int, mdns: bool) -> tuple[str, int]:
        """Masked whenever hosts are obfuscated (the sockets are not any-address ones here)."""
        if mdns:
            return ("0.0.0.0" if net.family == 4 else "::", 0)
        return super().srflx_related(net, port, mdns)

    def srflx_candidate(self, ident, net, port, mapped, server, mdns, mid, mline):
        return self._webkit_attributes(super().srflx_candidate(ident, net, port, mapped, server, mdns, mid, mline))

    def relay_candidate(self, ident, net, relayed, mapped, server, relay_preference, mid, mline):
        return self._webkit_attributes(
            super().relay_candidate(ident, net, relayed, mapped, server, relay_preference, mid, mline))

    @staticmethod
    def _webkit_attributes(cand):
        """WebKit's RTCIceCandidate has no relayProtocol or url attribute [source reading only]."""
        if cand is None:
            return None
        return dataclasses.replace(cand, relayProtocol=ABSENT, url=ABSENT)

    # --- errors ---------------------------------------------------------------------------
    def _error(self, t, net, port, url, code, text, clear_address=False) -> CandidateErrorEvent:
        """libwebrtc's codes and texts; no Chrome-only hostCandidate attribute [source reading only]."""
        return dataclasses.replace(super()._error(t, net, port, url, code, text, clear_address), hostCandidate=ABSENT)

    def refused_server_error(self, server: IceServerUrl, t_gathering: float, rng) -> CandidateErrorEvent | None:
        """WebKit drops server URLs whose host ends in ".local" or whose port is on the fetch
        spec's blocked list, and queues a 701 "URL is not allowed" with null address/port from
        the constructor: the page sees it right after its first await, before "gathering",
        in the order of the configuration [source reading only]."""
        if not (server.host.lower().rstrip(".").endswith(".local") or server.port in RESTRICTED_PORTS):
            return None
        query = f"?transport={server.transport}" if server.transport else ""
        return CandidateErrorEvent(
            t=min(URL_REFUSED_T_MS, t_gathering), address=None, port=None,
            url=f"{server.scheme}:{uri_host(server.host)}:{server.port}{query}", errorCode=701,
            errorText="URL is not allowed",
        )

    def completion_events(self, ident, t, jitter, mid, mline) -> list:
        """The null candidate BEFORE "complete": WebKit dispatches the end-of-gathering
        candidate first, then updates the state [source reading only]."""
        t_complete = t + jitter(self.timers.null_after_complete_ms)
        return [CandidateEvent(t=t, candidate=None), GatheringStateChange(t=t_complete, state="complete")]


def _default_key(interfaces: list[Interface], family: int) -> str | None:
    same = [i for i in interfaces if i.family == family and i.adapter_type != "loopback"
            and not i.address.is_loopback and not i.address.is_link_local]
    iface = next((i for i in same if i.default), same[0] if same else None)
    return None if iface is None else f"{iface.name}%{iface.address}"
