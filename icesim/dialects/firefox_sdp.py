"""Firefox's localDescription SDP after gathering (pure: no sockets), for a data-channel
offer: the form every Firefox 153 ESR capture shows (shared/captures F1/F3d/F5b/F8c,
tests/data/firefox/*: `sdp`). Audio/video m-lines (codecs, extensions) were not captured.

Session: `o=mozilla...THIS_IS_SDPARTA-99.0 <63-bit id> 0 IN IP4 0.0.0.0`, then a=sendrecv,
the fingerprint, BUNDLE, trickle, msid-semantic. Per m-line: m=/c= from the default candidate,
the `a=candidate` lines in the order they were signalled, `a=end-of-candidates` once the m-line's
"" marker was signalled, the credentials, mid, setup, SCTP.
"""

from __future__ import annotations

import hashlib
import ipaddress

from ..events import IceCandidate
from .base import GatherIdentity, MediaSection

# The default candidate (m=/c=): a relay, else a srflx, else a host showing its IP; IPv4 only;
# otherwise port 9 and 0.0.0.0 (F8c/two_turn: the UDP relay; F3d, stun_name, gum_stun: the
# srflx; nomdns_stun: the raw host; F1, stun_v6: 9 / 0.0.0.0).
_DEFAULT_RANK = {"relay": 3, "srflx": 2, "host": 1}


def default_destination(candidates: list[IceCandidate]) -> tuple[str, int]:
    best: tuple[int, int, str, int] | None = None
    for cand in candidates:
        if not cand.candidate or cand.address is None or cand.port is None or cand.protocol != "udp":
            continue
        try:
            ip = ipaddress.ip_address(cand.address)
        except ValueError:
            continue  # an mDNS name
        if ip.version != 4:
            continue
        key = (_DEFAULT_RANK.get(cand.type or "", 0), cand.priority or 0, str(ip), cand.port)
        if best is None or key[:2] > best[:2]:
            best = key
    return ("0.0.0.0", 9) if best is None else (best[2], best[3])


def firefox_local_description(
    ident: GatherIdentity, sections: list[MediaSection], candidates: dict[str, list[IceCandidate]],
) -> str:
    """Data m-lines only: the engine refuses others up front (FirefoxDialect.sdp_unsupported)."""
    # Stable per connection, no draw from the identity RNG: derived from its secrets.
    session_id = ident.tiebreaker >> 1
    digest = hashlib.sha256(f"{ident.ufrag}{ident.pwd}{ident.tiebreaker}".encode()).digest()
    fingerprint = ":".join(f"{b:02X}" for b in digest)
    lines = [
        "v=0", f"o=mozilla...THIS_IS_SDPARTA-99.0 {session_id} 0 IN IP4 0.0.0.0", "s=-", "t=0 0",
        "a=sendrecv", f"a=fingerprint:sha-256 {fingerprint}",
        "a=group:BUNDLE " + " ".join(s.mid for s in sections), "a=ice-options:trickle", "a=msid-semantic:WMS *",
    ]
    for section in sections:
        own = candidates.get(section.transport_mid or "", []) if section.transport_mid else []
        address, port = default_destination(own)
        lines += [f"m=application {port} UDP/DTLS/SCTP webrtc-datachannel", f"c=IN IP4 {address}"]
        lines += [f"a={c.candidate}" for c in own if c.candidate]
        lines.append("a=sendrecv")
        if any(not c.candidate for c in own):
            lines.append("a=end-of-candidates")
        lines += [f"a=ice-pwd:{ident.pwd}", f"a=ice-ufrag:{ident.ufrag}", f"a=mid:{section.mid}", "a=setup:actpass",
                  "a=sctp-port:5000", "a=max-message-size:1073741823"]
    return "\r\n".join(lines) + "\r\n"
