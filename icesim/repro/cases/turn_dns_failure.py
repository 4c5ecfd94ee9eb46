"""turn-dns-failure: the UDP TURN server's name does not resolve."""

from ..model import Case, Endpoint, Server
from .chrome_patterns import end, gathering, hosts, stun_error4, stun_error6

STUN_LOOKUP = "STUN host lookup received error."
TURN_LOOKUP = "TURN host lookup received error."
TURN_URL = "turn:{s0}?transport=udp"
TURN_ERRORS_MS = 57.1
HOST4, HOST6 = hosts()

CASE = Case(
    name="turn-dns-failure",
    summary="the TURN host name does not resolve: 'TURN host lookup received error.' (and the STUN lookup 701s)",
    servers=(Server("turn", Endpoint.CLOSED, transport="udp", name="nx.test", name_resolves=False),),
    expected={"chrome": (
        gathering(), HOST4, stun_error4(None, 701, STUN_LOOKUP), HOST6, stun_error6(None, 701, STUN_LOOKUP),
        # At the relay phase (R_turn_nx: +57.1 and +57.2 ms). The two TURN ports (one per socket
        # family) fail independently: the capture's IPv4-first is one sample, not a rule.
        stun_error4(TURN_ERRORS_MS, 701, TURN_LOOKUP, url=TURN_URL, order_free=True),
        stun_error6(TURN_ERRORS_MS, 701, TURN_LOOKUP, url=TURN_URL, order_free=True),
        *end(116.5),  # R_turn_nx
    )},
    sources={"chrome": "tests/data/chromium156 R_turn_nx (captured for this case; reference B6)"},
    cause="turn:nx.test:3478?transport=udp is NXDOMAIN (an in-process resolver rule). The UDP "
          "TURN server is also used as a STUN server, so each socket family first reports the "
          "STUN lookup error, then at the relay phase (+50 ms) the TURN port's lookup fails too.",
    detector="Four lookup 701s (stun: and turn: URLs, IPv4 and IPv6) and no relay: the page's "
             "TURN name cannot be resolved from that client. Not a UDP problem: no packet was sent.",
)
