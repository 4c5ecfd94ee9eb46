"""corporate-firewall: a person on a network that allows only TCP 443 out."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
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
    ),
        # Capture corporate_firewall: the TURN/TCP reset's 701 at +34 ms, the STUN 701 at +11104.
        "firefox": (ff.gathering(), *ff.hosts(), ff.error(34.0, 701, "turn:{s1}?transport=tcp"),
                    ff.error(11104.0, 701, "stun:{s0}"), *ff.end(11105.0)),
        "safari": (
            sf.gathering(), *sf.hosts(),
            sf.error4(STUN_TIMEOUT_MS, 701, "STUN binding request timed out."),
            sf.no_address_error(COMPLETE_MS, 701, "Failed to establish connection", "turn:{s1}?transport=tcp"),
            *sf.end(COMPLETE_MS),
        )},
    sources={"chrome": "tests/data/chromium156 X3_corporate_firewall (captured for this case: all UDP "
                       "dropped by nftables, TURN/TCP to a closed port); S5, C_turntcp_closed",
             "firefox": "tests/data/firefox corporate_firewall (captured for this case: the router namespace "
                        "drops UDP and resets TCP to any port but 443)",
             "safari": "source reading, not captured: libwebrtc as Chrome (STUN timeout, TURN/TCP error "
                       "held until "
                       "complete); WebKit: no hostCandidate, redacted socket address (reference B6, C)"},
    cause="The firewall drops all outgoing UDP (FaultyNet) and rejects TCP to any port but 443 "
          "(the page's TURN/TCP server on 3478 answers RST: a closed port, for real). The STUN "
          "binding times out after ~39.9 s; the TURN/TCP error, for a private server, is held "
          "and fires right before 'complete'.",
    detector="Host candidates only, a STUN 701 at ~40 s and a TURN/TCP 701: no path out but the "
             "web port. Typical for a person at work, not a bot; a TURN server on TCP/TLS 443 "
             "would have given this client a relay.",
    dialect_notes={"firefox": (
        "Firefox: the TURN/TCP 701 comes first (~34 ms: Firefox holds no TCP error until the end), "
        "the STUN 701 after ~11.1 s, errorText empty. A firewall on the page's own machine fails "
        "sendto instead: the STUN 701 at once (capture corporate_firewall_localdrop)."),
        "safari": "Safari (source reading): Chrome's stream with the errors' address the redacted "
                  "IPv4 of the default network, no hostCandidate, and the null candidate before 'complete'."},
)
