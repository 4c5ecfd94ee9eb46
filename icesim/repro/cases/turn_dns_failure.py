"""turn-dns-failure: the UDP TURN server's name does not resolve."""

from ..model import Case, Endpoint, Server
from .chrome_patterns import QUIET_COMPLETE_MS, end, gathering, hosts, stun_error4, stun_error6

STUN_LOOKUP = "STUN host lookup received error."
TURN_LOOKUP = "TURN host lookup received error."
TURN_URL = "turn:{s0}?transport=udp"
HOST4, HOST6 = hosts()

CASE = Case(
    name="turn-dns-failure",
    summary="the TURN host name does not resolve: 'TURN host lookup received error.' (and the STUN lookup 701s)",
    servers=(Server("turn", Endpoint.CLOSED, transport="udp", name="nx.test", name_resolves=False),),
    expected={"chrome": (
        gathering(), HOST4, stun_error4(None, 701, STUN_LOOKUP), HOST6, stun_error6(None, 701, STUN_LOOKUP),
        # The two TURN ports (one per socket family) fail independently: no order between them.
        stun_error4(None, 701, TURN_LOOKUP, url=TURN_URL, order_free=True),
        stun_error6(None, 701, TURN_LOOKUP, url=TURN_URL, order_free=True),
        *end(QUIET_COMPLETE_MS),
    )},
    sources={"chrome": "reference B6 (TURN 701 texts; every UDP TURN server is also a STUN server) "
                       "with the lookup timing of tests/data/chromium156 E_nx; no TURN capture of it yet"},
    cause="turn:nx.test:3478?transport=udp is NXDOMAIN (an in-process resolver rule). The UDP "
          "TURN server is also used as a STUN server, so each socket family first reports the "
          "STUN lookup error, then at the relay phase (+50 ms) the TURN port's lookup fails too.",
    detector="Four lookup 701s (stun: and turn: URLs, IPv4 and IPv6) and no relay: the page's "
             "TURN name cannot be resolved from that client. Not a UDP problem: no packet was sent.",
)
