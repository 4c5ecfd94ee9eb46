"""corporate-firewall: a person on a network that allows only TCP 443 out."""

from ..model import Case, Endpoint, Network, Server
from .chrome_patterns import STUN_TIMEOUT_MS, end, gathering, hosts, stun_timeout, turn_tcp_refused

COMPLETE_MS = STUN_TIMEOUT_MS + 3.9  # S5: complete ~4 ms after the STUN 701

CASE = Case(
    name="corporate-firewall",
    summary="a network that allows only TCP 443 out: STUN 701 after ~40 s, TURN/TCP refused, no srflx",
    servers=(Server("stun", Endpoint.STUN), Server("turn", Endpoint.CLOSED, transport="tcp")),
    network=Network(block_udp_all=True),
    expected={"chrome": (
        gathering(), *hosts(),
        stun_timeout(),
        turn_tcp_refused(COMPLETE_MS, url="turn:{s1}?transport=tcp"),
        *end(COMPLETE_MS),
    )},
    sources={"chrome": "tests/data/chromium156 X3_corporate_firewall (captured for this case: all UDP "
                       "dropped by nftables, TURN/TCP to a closed port); S5, C_turntcp_closed"},
    cause="The firewall drops all outgoing UDP (FaultyNet) and rejects TCP to any port but 443 "
          "(the page's TURN/TCP server on 3478 answers RST: a closed port, for real). The STUN "
          "binding times out after ~39.9 s; the TURN/TCP error, for a private server, is held "
          "and fires right before 'complete'.",
    detector="Host candidates only, a STUN 701 at ~40 s and a TURN/TCP 701: no path out but the "
             "web port. Typical for a person at work, not a bot; a TURN server on TCP/TLS 443 "
             "would have given this client a relay.",
)
