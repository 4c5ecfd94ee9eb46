"""Chrome 156 event patterns the cases share, each as the captures show it.

Times are ms of browser time after "gathering" (captures: shared/captures S5, S7;
tests/data/chromium156 C, D, E, F, G, S1, S2). Any-address sockets: errors carry the
redacted wildcard address and the socket's host port (captures README)."""

from __future__ import annotations

from ..model import Expect

ANY4 = "0.0.0.x"
ANY6 = "[0:0:0:x:x:x:x:x]"
HOST4_PRIORITY = 2113937151  # mDNS / any-address IPv4 host (S1, S5)
HOST6_PRIORITY = 2113939711  # any-address global IPv6 host (chromium156 README)
SRFLX_PRIORITY = 1677729535  # any-address srflx (S3a, S7)

# A dropped or ICMP-refused STUN binding: 9 sends, the 701 ~39.89 s after "gathering"
# (S5 39889.0, D 39894.1, S1_turnudp_port22 39907.3); complete ~4 ms later (S5 39892.9).
STUN_TIMEOUT_MS = 39890.0
# The TURN allocate 701 of the same unreachable UDP server follows 61.6 ms later (D 39955.7).
TURN_TIMEOUT_MS = 39955.7
# "complete" when nothing is pending: 118-147 ms (F 118.1, S2_stun500 119.4, E 140.8, S2_stun420 146.5).
QUIET_COMPLETE_MS = 130.0


def gathering() -> Expect:
    return Expect("gathering", t=0.0)


def hosts() -> tuple[Expect, Expect]:
    """The two mDNS host candidates of the any-address sockets (IPv4, IPv6)."""
    return (Expect("host4", priority=HOST4_PRIORITY, url=""), Expect("host6", priority=HOST6_PRIORITY, url=""))


def end(t: float | None) -> tuple[Expect, Expect]:
    """'complete' then the null candidate, within a millisecond of it (every capture)."""
    return (Expect("complete", t=t), Expect("null", t=t))


def stun_error4(t: float | None, code: int, text: str, url: str = "stun:{s0}", **kw) -> Expect:
    """An error of the IPv4 any-address socket: "0.0.0.x", its host port."""
    return Expect("error", t=t, errorCode=code, errorText=text, url=url, address=ANY4, port="{P4}",
                  hostCandidate=ANY4 + ":{P4}", **kw)


def stun_error6(t: float | None, code: int, text: str, url: str = "stun:{s0}", **kw) -> Expect:
    """An error of the IPv6 any-address socket: "[0:0:0:x:x:x:x:x]", its host port."""
    return Expect("error", t=t, errorCode=code, errorText=text, url=url, address=ANY6, port="{P6}",
                  hostCandidate=ANY6 + ":{P6}", **kw)


def stun_timeout(url: str = "stun:{s0}") -> Expect:
    return stun_error4(STUN_TIMEOUT_MS, 701, "STUN binding request timed out.", url)


def turn_tcp_refused(t: float | None, url: str = "turn:{s0}?transport=tcp") -> Expect:
    """TURN/TCP to a private server, connection refused (capture C): address and port null,
    hostCandidate ":0", held until "complete" and fired right before it."""
    return Expect("error", t=t, errorCode=701, errorText="Failed to establish connection", url=url,
                  address=None, port=None, hostCandidate=":0")
