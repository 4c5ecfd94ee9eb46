"""Safari event patterns the cases share: SOURCE READING, NOT CAPTURED (no Safari runs here).

What each rests on: Safari gathers with WebKit's own libwebrtc, so codes, texts, URL forms and
timers are libwebrtc's (reference B6; the values are Chrome 156's captures of the same code).
WebKit differs (reference C; icesim/dialects/safari.py): it gathers on the networks holding the
default IPv4/IPv6 address, enumerated (ranks 127/126, not any-address sockets), so an error's
address is that socket's real address redacted by libwebrtc (HostAsSensitiveURIString:
"198.51.100.x", "[2001:db8:5:x:x:x:x:x]") with its port; no hostCandidate, relayProtocol or url
attribute; the null candidate BEFORE "complete"; no TCP host candidates while obfuscating."""

from __future__ import annotations

from ...events import ABSENT
from ..model import Expect

# Reference B2: (126 << 24) | (((rank << 8) | precedence) << 8) | 255, the global IPv6 network
# ranked first (precedence 40 > 30): IPv6 rank 127, IPv4 rank 126.
HOST4_PRIORITY = 2122194687
HOST6_PRIORITY = 2122262783
SRFLX4_PRIORITY = 1685987071  # srflx (100) on the rank-126 IPv4 network
REDACTED4 = "198.51.100.x"  # the page machine's eth0 198.51.100.2 (runner.CASE_INTERFACES)
REDACTED6 = "[2001:db8:5:x:x:x:x:x]"  # its 2001:db8:5::2


def gathering() -> Expect:
    return Expect("gathering", t=0.0)


def hosts() -> tuple[Expect, Expect]:
    """The two mDNS hosts; which network's socket signals first is not settled by the source."""
    return (Expect("host4", priority=HOST4_PRIORITY, url=ABSENT, order_free=True),
            Expect("host6", priority=HOST6_PRIORITY, url=ABSENT, order_free=True))


def end(t: float | None) -> tuple[Expect, Expect]:
    """The null candidate, then "complete" (WebKit dispatches the candidate first)."""
    return (Expect("null", t=t), Expect("complete", t=t))


def error4(t: float | None, code: int, text: str, url: str = "stun:{s0}", **kw) -> Expect:
    """An error of the IPv4 network's socket: its redacted address and port."""
    return Expect("error", t=t, errorCode=code, errorText=text, url=url, address=REDACTED4, port="{P4}",
                  hostCandidate=ABSENT, **kw)


def error6(t: float | None, code: int, text: str, url: str = "stun:{s0}", **kw) -> Expect:
    return Expect("error", t=t, errorCode=code, errorText=text, url=url, address=REDACTED6, port="{P6}",
                  hostCandidate=ABSENT, **kw)


def no_address_error(t: float | None, code: int, text: str, url: str, **kw) -> Expect:
    """An error libwebrtc reports without a local address (TURN/TCP never connected, or a URL
    WebKit refused before gathering): address and port null."""
    return Expect("error", t=t, errorCode=code, errorText=text, url=url, address=None, port=None,
                  hostCandidate=ABSENT, **kw)
