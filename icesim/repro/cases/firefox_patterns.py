"""Firefox ESR 153 event patterns the cases share, as its captures show them
(shared/captures F5b; tests/data/firefox). Times are ms of browser time after "gathering".

Firefox's errors carry errorText "", address and port null and no hostCandidate attribute;
TURN URLs lose `?transport=udp`. Every stream: two UDP hosts and two TCP active hosts (mDNS
names, so no family shows), then the "" end-of-candidates marker, "complete", null."""

from __future__ import annotations

from ...events import ABSENT
from ..model import Expect

UDP_HOST_PRIORITIES = (2122187007, 2122252543)  # interface preference 126, 127 (F1, stun_nx)
TCP_HOST_PRIORITIES = (2105458943, 2105524479)
RELAY_TCP_PRIORITY = 8265727  # a relay over TCP: string says UDP (turn_tcp, proxy_udp_blocked)
# A dropped binding or allocate: 7 sends, the 701 ~11.10 s after "gathering" (F5b 11101, turn_udp_dropped 11102).
TIMEOUT_MS = 11101.0


def gathering() -> Expect:
    return Expect("gathering", t=0.0)


def hosts() -> tuple[Expect, ...]:
    return (*(Expect("host-udp", priority=p, url=ABSENT) for p in UDP_HOST_PRIORITIES),
            *(Expect("host-tcp", priority=p, url=ABSENT) for p in TCP_HOST_PRIORITIES))


def error(t: float | None, code: int, url: str, **kw) -> Expect:
    return Expect("error", t=t, errorCode=code, errorText="", url=url, address=None, port=None,
                  hostCandidate=ABSENT, **kw)


def end(t: float | None) -> tuple[Expect, Expect, Expect]:
    """The "" marker, then "complete", then null (F1, F5b: within ~3 ms)."""
    return (Expect("end-of-candidates", t=t), Expect("complete", t=t), Expect("null", t=t))
