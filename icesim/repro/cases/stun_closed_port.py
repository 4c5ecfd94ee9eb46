"""stun-closed-port: nothing listens on the STUN port; the host answers ICMP port unreachable."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ..model import Case, Endpoint, Server
from .chrome_patterns import STUN_TIMEOUT_MS, end, gathering, hosts, stun_timeout

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    sf.error4(STUN_TIMEOUT_MS, 701, "STUN binding request timed out."),
    *sf.end(STUN_TIMEOUT_MS + 3.9),
)

CASE = Case(
    name="stun-closed-port",
    summary="nothing listens on the STUN port (ICMP port unreachable): the same 701 timeout after ~40 s",
    servers=(Server("stun", Endpoint.CLOSED),),
    expected={"safari": SAFARI,
              "chrome": (gathering(), *hosts(), stun_timeout(), *end(STUN_TIMEOUT_MS + 3.9)),
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(11124.0, 701, "stun:{s0}"),
                          *ff.end(11125.0))},
    sources={"safari": "source reading, not captured: libwebrtc ignores ICMP unreachable on the UDP "
                       "socket (as Chrome S5); WebKit networks and redaction (reference C)",
             "chrome": "shared/captures S5 + README: 'Dropped or ICMP-refused STUN ... ICMP "
                       "port-unreachable is ignored'",
             "firefox": "tests/data/firefox stun_closed (ICMP port unreachable from the server's "
                        "namespace: ignored too, the 701 after ~11.1 s)"},
    cause="The server's address is up but no process listens on the port: the kernel answers each "
          "binding with ICMP port unreachable (for real, on loopback). Chrome's unconnected UDP "
          "socket ignores ICMP, retransmits all 9 times and gives up ~39.9 s later.",
    detector="Indistinguishable from stun-udp-blocked in the page: a 701 'STUN binding request "
             "timed out.' at ~40 s and no srflx. A detector cannot tell a closed port from a "
             "firewall; it should check its own STUN server's health before blaming the client.",
)
