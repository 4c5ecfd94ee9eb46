"""turn-disallowed-port: a TURN server on a port below 1024 (22 here)."""

from . import safari_patterns as sf
from ..model import Case, Endpoint, Expect, Server
from .chrome_patterns import QUIET_COMPLETE_MS
from .chrome_patterns import STUN_TIMEOUT_MS, end, gathering, hosts, stun_timeout

CASE = Case(
    name="turn-disallowed-port",
    summary="TURN on port 22: no TURN port, no 500 event; the STUN binding to 22 is never sent (701 timeout)",
    servers=(Server("turn", Endpoint.FIXED, transport="udp", port=22),),
    expected={"chrome": (gathering(), *hosts(), stun_timeout(), *end(STUN_TIMEOUT_MS + 0.2)),
              "firefox": (Expect("exception", name="SyntaxError", message=(
                  "PeerConnectionImpl.setConfiguration: 'turn:{s0}?transport=udp' uses a port that is blocked")),),
              # WebKit drops the URL in the constructor and queues a 701 that reaches the page before
              # "gathering"; nothing is sent to the server, so no STUN 701 either.
              "safari": (sf.no_address_error(None, 701, "URL is not allowed", "turn:{s0}?transport=udp"),
                         sf.gathering(), *sf.hosts(), *sf.end(QUIET_COMPLETE_MS))},
    sources={"chrome": "tests/data/chromium156 S1_turnudp_port22, S1b_turnudp_port22_sink, Sx_stun_ports_probe",
             "firefox": "tests/data/firefox turn_port22 (constructor throws SyntaxError, no event)",
             "safari": "source reading, not captured: WebKit RTCPeerConnection (blocked-port URLs dropped"
                       " with "
                       "a 701 'URL is not allowed'; reference C)"},
    cause="turn:127.0.0.1:22?transport=udp. Chrome creates no TURN port below 1024 (other than "
          "53, 80, 443): no Allocate, no event. The same server used as STUN server is on "
          "Chromium's restricted-port list, so the binding is dropped before it is sent and the "
          "page sees the ordinary 701 timeout after ~39.9 s. Nothing leaves the socket (icesim "
          "drops it in the same place).",
    detector="One STUN 701 at ~40 s on stun:HOST:22 and nothing for the turn: URL: the page's "
             "TURN port is refused by the browser itself. The client's network is not at fault.",
    dialect_notes={"firefox": "Firefox refuses the whole configuration: the constructor throws SyntaxError "
                              "\"PeerConnectionImpl.setConfiguration: 'URL' uses a port that is blocked\"; no event.",
                   "safari": "Safari (source reading): the URL is dropped with an immediate 701 'URL is not "
                             "allowed' (address and port null) before 'gathering'; gathering goes on without it."},
    browser_note="The issue's 500 'Attempt to start allocation to a disallowed port.' appears in "
                 "no Chromium 156 capture: the port is refused before any Allocate is sent.",
)
