"""proxy-udp-blocked: a bot behind a proxy that passes TCP only."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ...events import ABSENT
from ..model import Case, Endpoint, Expect, Network, Server
from .chrome_patterns import STUN_TIMEOUT_MS, TURN_TIMEOUT_MS, end, gathering, hosts, stun_error4, stun_timeout

RELAY_TCP_PRIORITY = 16785407  # relay over TCP, second of two TURN servers (G_two_turn)
# Safari: type 1 (relay TCP), local preference (126 << 8 | 30) + 1, the second of two TURN
# servers (reference B2), on the rank-126 IPv4 network [source reading only].
SAFARI_RELAY_TCP_PRIORITY = 25042943

CASE = Case(
    name="proxy-udp-blocked",
    summary="behind a TCP-only proxy: host candidates, a TURN/TCP relay, and every UDP server times out (701s)",
    servers=(Server("turn", Endpoint.COTURN, transport="udp"), Server("turn", Endpoint.COTURN, transport="tcp")),
    network=Network(block_udp_all=True),
    expected={"chrome": (
        gathering(), *hosts(),
        Expect("relay-tcp", t=61.6, url="turn:{s1}?transport=tcp", priority=RELAY_TCP_PRIORITY),
        stun_timeout(),
        stun_error4(TURN_TIMEOUT_MS, 701, "TURN allocate request timed out.", url="turn:{s0}?transport=udp"),
        *end(TURN_TIMEOUT_MS + 0.1),
    ),
        # Capture proxy_udp_blocked: the TCP relay (string says UDP, no relayProtocol) at +84 ms,
        # ONE 701 for the TURN/UDP URL (no ?transport) at +11108, the end 1 ms later.
        "firefox": (ff.gathering(), *ff.hosts(), Expect("relay", t=84.0, priority=ff.RELAY_TCP_PRIORITY, url=ABSENT),
                    ff.error(11108.0, 701, "turn:{s0}"), *ff.end(11109.0)),
        "safari": (
            sf.gathering(), *sf.hosts(),
            Expect("relay", t=61.6, priority=SAFARI_RELAY_TCP_PRIORITY, url=ABSENT),
            sf.error4(STUN_TIMEOUT_MS, 701, "STUN binding request timed out."),
            sf.error4(TURN_TIMEOUT_MS, 701, "TURN allocate request timed out.", url="turn:{s0}?transport=udp"),
            *sf.end(TURN_TIMEOUT_MS + 0.1),
        )},
    sources={"chrome": "tests/data/chromium156 X2_proxy_udp_blocked (captured for this case: coturn, "
                       "nftables dropping all UDP in the page's namespace); G_two_turn, D_turnudp_dropped",
             "firefox": "tests/data/firefox proxy_udp_blocked (captured for this case: coturn, the router "
                        "namespace dropping all UDP from the page)",
             "safari": "source reading, not captured: libwebrtc as Chrome (relay over TCP, STUN then TURN"
                       " 701 of the UDP server); "
                       "WebKit: no relayProtocol, enumerated networks (reference B2, C)"},
    cause="Every UDP datagram leaving the page is dropped (FaultyNet), TCP passes: the page's "
          "TURN/TCP allocation on coturn succeeds (a relay candidate with relayProtocol 'tcp'), "
          "while the same server over UDP, used as STUN and as TURN, times out: the STUN 701 at "
          "~39.9 s, the TURN 701 ~62 ms later.",
    detector="A TCP relay with no srflx and UDP 701s at ~40 s: UDP is blocked but TCP reaches the "
             "TURN server, the signature of a TCP-only proxy or VPN (typical for bots run through "
             "HTTP/SOCKS proxies). Compare the relay's server-side peer address with the HTTP "
             "client IP.",
    dialect_notes={"firefox": (
        "Firefox: the TCP relay after ~84 ms and ONE 701 (turn: without ?transport) after ~11.1 s: "
        "Firefox uses no TURN server as a STUN server. A firewall on the page's own machine (nft "
        "output drop) fails sendto instead, and Firefox fires that 701 at once (capture "
        "proxy_udp_blocked_localdrop).")},
)
