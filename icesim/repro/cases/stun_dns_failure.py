"""stun-dns-failure: the STUN server's name does not resolve at all."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ..model import Case, Endpoint, Expect, Server
from .chrome_patterns import QUIET_COMPLETE_MS, end, gathering, hosts, stun_error4, stun_error6

LOOKUP = "STUN host lookup received error."
HOST4, HOST6 = hosts()

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    sf.error4(None, 701, LOOKUP, order_free=True),
    sf.error6(None, 701, LOOKUP, order_free=True),
    *sf.end(QUIET_COMPLETE_MS),
)

CASE = Case(
    name="stun-dns-failure",
    summary="the STUN host name does not resolve: one 701 'STUN host lookup received error.' per socket family",
    servers=(Server("stun", Endpoint.STUN, name="nx.test", name_resolves=False),),
    expected={"safari": SAFARI,
              "chrome": (gathering(), HOST4, stun_error4(None, 701, LOOKUP), HOST6, stun_error6(None, 701, LOOKUP),
                         *end(QUIET_COMPLETE_MS)),
              # One 701 per family, both at +9 ms; the "" marker at +10, complete and null at +13.
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(9.0, 701, "stun:{s0}"), ff.error(9.0, 701, "stun:{s0}"),
                          Expect("end-of-candidates", t=10.0), *ff.end(13.0)[1:])},
    sources={"safari": "source reading, not captured: libwebrtc stun_port.cc: one lookup 701 per socket "
                       "family (reference B6, as Chrome E_nx)",
             "chrome": "tests/data/chromium156 E_nx, E_nx_2 (--host-resolver-rules MAP nx.test ~NOTFOUND)",
             "firefox": "tests/data/firefox stun_nx"},
    cause="The name in stun:nx.test:3478 is NXDOMAIN (an in-process resolver rule, like "
          "Chromium's --host-resolver-rules). Each socket family asks once and fails at once: "
          "no packet is ever sent to a server.",
    detector="Two host-lookup 701s within milliseconds, IPv4 and IPv6, each right after its own "
             "host candidate, and no srflx: the page's STUN name cannot be resolved from that "
             "client (a DNS-filtering network, an offline resolver, or a typo in the page).",
)
