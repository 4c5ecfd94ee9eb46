"""turn-dns-failure: the UDP TURN server's name does not resolve."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ..model import Case, Endpoint, Server
from .chrome_patterns import end, gathering, hosts, stun_error4, stun_error6

STUN_LOOKUP = "STUN host lookup received error."
TURN_LOOKUP = "TURN host lookup received error."
TURN_URL = "turn:{s0}?transport=udp"
TURN_ERRORS_MS = 60.0
HOST4, HOST6 = hosts()

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    sf.error4(None, 701, STUN_LOOKUP, order_free=True),
    sf.error6(None, 701, STUN_LOOKUP, order_free=True),
    sf.error4(TURN_ERRORS_MS, 701, TURN_LOOKUP, url=TURN_URL, order_free=True),
    sf.error6(TURN_ERRORS_MS, 701, TURN_LOOKUP, url=TURN_URL, order_free=True),
    *sf.end(121.0),
)

CASE = Case(
    name="turn-dns-failure",
    summary="the TURN host name does not resolve: 'TURN host lookup received error.' (and the STUN lookup 701s)",
    servers=(Server("turn", Endpoint.CLOSED, transport="udp", name="nx.test", name_resolves=False),),
    expected={"safari": SAFARI, "chrome": (
        gathering(), HOST4, stun_error4(None, 701, STUN_LOOKUP), HOST6, stun_error6(None, 701, STUN_LOOKUP),
        # At the relay phase (X1_turn_nx: +63.0 and +63.1 ms; an earlier run +57.1). The two TURN
        # ports (one per socket family) fail independently: IPv4 first in both runs, not a rule.
        stun_error4(TURN_ERRORS_MS, 701, TURN_LOOKUP, url=TURN_URL, order_free=True),
        stun_error6(TURN_ERRORS_MS, 701, TURN_LOOKUP, url=TURN_URL, order_free=True),
        *end(121.0),  # X1_turn_nx: +125.3 (an earlier run +116.5)
    ),
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(22.0, 701, "turn:{s0}"),
                          ff.error(22.0, 701, "turn:{s0}"), *ff.end(25.0))},
    sources={"safari": "source reading, not captured: libwebrtc: STUN then TURN lookup 701s per family "
                       "(reference B6, as Chrome X1_turn_nx)",
             "chrome": "tests/data/chromium156 X1_turn_nx (captured for this case; reference B6)",
             "firefox": "tests/data/firefox turn_nx"},
    cause="turn:nx.test:3478?transport=udp is NXDOMAIN (an in-process resolver rule). The UDP "
          "TURN server is also used as a STUN server, so each socket family first reports the "
          "STUN lookup error, then at the relay phase (+50 ms) the TURN port's lookup fails too.",
    detector="Four lookup 701s (stun: and turn: URLs, IPv4 and IPv6) and no relay: the page's "
             "TURN name cannot be resolved from that client. Not a UDP problem: no packet was sent.",
    dialect_notes={"firefox": (
        "Firefox: two TURN lookup 701s only (no STUN ones: it does not use a TURN server as "
        "STUN), errorText \"\", url without ?transport=udp."
    )},
)
