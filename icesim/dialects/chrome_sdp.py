"""Chrome's localDescription SDP after gathering completes (pure: no sockets).

Form as Chromium 156 writes it (captures S1-S8 in shared/captures and M1-M6, P1-P3, R1, Q2
in tests/data/chromium156): the session lines, `a=group:BUNDLE` over every mid (all bundle
policies), then per m-line the m=/c= lines from the default candidate, `a=rtcp:9` for RTP
m-lines, the transport's `a=candidate` lines in the order they were signalled (no `ufrag`,
no `a=end-of-candidates`), the shared ICE credentials, fingerprint, setup and mid, then the
m-line's codec/extension body, which the page's offer settles (recvonly transceivers as
offerToReceiveAudio/Video make them, and a data channel).
"""

from __future__ import annotations

import functools
import ipaddress
import random
from importlib import resources

from ..events import IceCandidate
from .base import GatherIdentity, MediaSection

_M_KIND = {"audio": "audio", "video": "video", "data": "application"}

# webrtc_sdp.cc GetCandidatePreferenceFromType: the default destination prefers relay over
# srflx over host (captures S8, M4: the relay's port; S2: the raw host's).
_DEFAULT_PREFERENCE = {"host": 1, "srflx": 2, "prflx": 2, "relay": 3}


@functools.lru_cache(maxsize=None)
def media_body(kind: str) -> tuple[str, tuple[str, ...]]:
    """(m= line tail after the port, attribute lines after a=mid) of Chromium 156's offer for
    this kind (captured M1: Debian's Chromium build; Google Chrome lists the same codecs)."""
    text = resources.files("icesim").joinpath(f"dialects/sdp/chrome156_{kind}.sdp").read_text(encoding="ascii")
    first, *body = text.splitlines()
    return first, tuple(body)


def default_destination(candidates: list[IceCandidate]) -> tuple[str, str, int]:
    """(address type, address, port) for the m=/c= lines: libwebrtc's UpdateConnectionAddress
    (pc/jsep_session_description.cc) run over the m-line's candidates in the order they came.
    UDP only; a candidate replaces the current one unless it is no more preferred (relay 3 >
    srflx 2 > host 1) in the same family, or is IPv6 while the current one is IPv4. An mDNS
    name has no family: it can replace anything, and if it ends up chosen the line gets the
    dummy IN IP4 0.0.0.0 port 9 (captures S3a/S7/M2/M8: a srflx followed by a .local host
    gives port 9; M1/S3d: hosts first, then the srflx, gives the srflx's port)."""
    address, port, hostname = "0.0.0.0", 9, False
    best_pref, best_family = 0, 0
    for cand in candidates:
        if cand.protocol != "udp" or cand.address is None or cand.port is None:
            continue
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(cand.address.strip("[]"))
        except ValueError:
            ip = None  # an mDNS name
        pref = _DEFAULT_PREFERENCE.get(cand.type or "", 0)
        family = 0 if ip is None else ip.version
        if (pref <= best_pref and family == best_family) or (best_family == 4 and family == 6):
            continue
        best_pref, best_family = pref, family
        address, port, hostname = ("" if ip is None else str(ip)), cand.port, ip is None
    if hostname or not address:
        return ("IP4", "0.0.0.0", 9)
    return ("IP6" if ":" in address else "IP4", address, port)


def sdp_candidate_line(cand: IceCandidate) -> str:
    """`a=candidate:` as in SDP: the page's string without `ufrag X` (captures README)."""
    tokens = cand.candidate.split(" ")
    if "ufrag" in tokens:
        i = tokens.index("ufrag")
        del tokens[i : i + 2]
    return "a=" + " ".join(tokens)


def session_values(ident: GatherIdentity) -> tuple[int, str]:
    """The o= session id (63 random bits) and the DTLS certificate's SHA-256 fingerprint. Drawn
    from the identity's tiebreaker so a seed reproduces them without shifting the identity's
    own random stream (mDNS names)."""
    rng = random.Random(ident.tiebreaker)
    session_id = rng.getrandbits(63)
    fingerprint = ":".join(f"{b:02X}" for b in rng.getrandbits(256).to_bytes(32, "big"))
    return session_id, fingerprint


def chrome_local_description(
    ident: GatherIdentity, sections: list[MediaSection], candidates: dict[str, list[IceCandidate]],
) -> str:
    session_id, fingerprint = session_values(ident)
    lines = [
        "v=0",
        f"o=- {session_id} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE " + " ".join(s.mid for s in sections),
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS",
    ]
    for section in sections:
        own = candidates.get(section.transport_mid or "", []) if section.transport_mid == section.mid else []
        addr_type, address, port = default_destination(own)
        proto, body = media_body(section.kind)
        lines.append(f"m={_M_KIND[section.kind]} {port} {proto}")
        lines.append(f"c=IN {addr_type} {address}")
        if section.kind != "data":
            lines.append("a=rtcp:9 IN IP4 0.0.0.0")  # rtcp-mux: always the dummy (capture M1)
        lines += [sdp_candidate_line(c) for c in own]
        lines += [
            f"a=ice-ufrag:{ident.ufrag}",
            f"a=ice-pwd:{ident.pwd}",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {fingerprint}",
            "a=setup:actpass",
            f"a=mid:{section.mid}",
            *body,
        ]
    return "\r\n".join(lines) + "\r\n"
