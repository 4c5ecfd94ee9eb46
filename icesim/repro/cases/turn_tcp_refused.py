"""turn-tcp-refused: TURN over TCP, the connection is refused."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ..model import Case, Endpoint, Server
from .chrome_patterns import end, gathering, hosts, turn_tcp_refused

HELD_MS = 131.6  # capture C: the error 0-0.2 ms before "complete", 131.6 ms after "gathering"

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    sf.no_address_error(HELD_MS, 701, "Failed to establish connection", "turn:{s0}?transport=tcp"),
    *sf.end(HELD_MS),
)

CASE = Case(
    name="turn-tcp-refused",
    summary="TURN/TCP connection refused: one 701 'Failed to establish connection', address null, held until complete",
    servers=(Server("turn", Endpoint.CLOSED, transport="tcp"),),
    expected={"safari": SAFARI, "chrome": (gathering(), *hosts(), turn_tcp_refused(HELD_MS), *end(HELD_MS)),
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(19.0, 701, "turn:{s0}?transport=tcp"), *ff.end(21.0))},
    sources={"safari": "source reading, not captured: libwebrtc turn_port.cc: 'Failed to establish "
                       "connection', no local address (as Chrome C, without hostCandidate)",
             "chrome": "tests/data/chromium156 C_turntcp_closed, _2, _3 (a closed port on 127.0.0.1)",
             "firefox": "tests/data/firefox turn_tcp_closed"},
    cause="The TURN server's TCP port is closed: the kernel answers the SYN with RST (for real, "
          "on loopback). Chrome reports 'Failed to establish connection' (no full stop). For a "
          "private server (loopback, RFC 1918) it clears address and port (hostCandidate ':0') "
          "and delivers the error with 'complete'; a public server's comes at once as '0.0.0.x:0'.",
    detector="A TURN/TCP 701 with a null address: the client could not open TCP to the TURN "
             "server (a firewall rejecting, a dead server, or a page pointing at a private "
             "address). Without a UDP 701 next to it, UDP itself may be fine.",
)
