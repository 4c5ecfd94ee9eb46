"""proxy-udp-blocked: a bot behind a proxy that passes TCP only."""

from ..model import Case, Endpoint, Expect, Network, Server
from .chrome_patterns import TURN_TIMEOUT_MS, end, gathering, hosts, stun_error4, stun_timeout

RELAY_TCP_PRIORITY = 16785407  # relay over TCP, second of two TURN servers (G_two_turn)

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
    )},
    sources={"chrome": "tests/data/chromium156 X2_proxy_udp_blocked (captured for this case: coturn, "
                       "nftables dropping all UDP in the page's namespace); G_two_turn, D_turnudp_dropped"},
    cause="Every UDP datagram leaving the page is dropped (FaultyNet), TCP passes: the page's "
          "TURN/TCP allocation on coturn succeeds (a relay candidate with relayProtocol 'tcp'), "
          "while the same server over UDP, used as STUN and as TURN, times out: the STUN 701 at "
          "~39.9 s, the TURN 701 ~62 ms later.",
    detector="A TCP relay with no srflx and UDP 701s at ~40 s: UDP is blocked but TCP reaches the "
             "TURN server, the signature of a TCP-only proxy or VPN (typical for bots run through "
             "HTTP/SOCKS proxies). Compare the relay's server-side peer address with the HTTP "
             "client IP.",
)
