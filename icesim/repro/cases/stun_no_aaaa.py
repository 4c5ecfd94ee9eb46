"""stun-no-aaaa: the STUN name has an A record only; the IPv6 socket's benign 701."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ...events import ABSENT
from ..model import Case, Endpoint, Expect, Server
from .chrome_patterns import QUIET_COMPLETE_MS, SRFLX_PRIORITY, end, gathering, hosts, stun_error6

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    sf.error6(None, 701, "STUN host lookup received error.", order_free=True),
    Expect("srflx", priority=sf.SRFLX4_PRIORITY, url=ABSENT, order_free=True),
    *sf.end(QUIET_COMPLETE_MS),
)

CASE = Case(
    name="stun-no-aaaa",
    summary="the STUN name has an A record only: the benign IPv6 host-lookup 701 while IPv4 gets its srflx",
    servers=(Server("stun", Endpoint.STUN, name="stun.test"),),
    expected={"safari": SAFARI, "chrome": (
        gathering(), *hosts(),
        stun_error6(None, 701, "STUN host lookup received error.", order_free=True),
        Expect("srflx", url="stun:{s0}", priority=SRFLX_PRIORITY, order_free=True),
        *end(QUIET_COMPLETE_MS),
    ),
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(20.0, 701, "stun:{s0}"),
                          Expect("srflx", t=21.0, order_free=True), *ff.end(21.0))},
    sources={"safari": "source reading, not captured: libwebrtc: the IPv6 socket's lookup 701 while the "
                       "IPv4 one gets its srflx (reference B6, E); srflx priority from B2",
             "chrome": "tests/data/chromium156 F_stuntest (stun.test -> 127.0.0.1, no AAAA); reference E",
             "firefox": "tests/data/firefox stun_name"},
    cause="stun.test resolves to an IPv4 address only. The IPv4 socket gets its srflx from the "
          "(real, embedded) STUN server; the IPv6 socket finds no AAAA record and reports a "
          "host-lookup 701 at once.",
    detector="Benign: the most common 701 on the web (a host with an IPv6 stack and an "
             "IPv4-only STUN name, as many public STUN names are). A srflx next to it "
             "means WebRTC works; a detector must not flag this as a proxy or a bot.",
)
