"""stun-udp-blocked: a firewall silently drops UDP to the STUN server."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ..model import Case, Endpoint, Network, Server
from .chrome_patterns import STUN_TIMEOUT_MS, end, gathering, hosts, stun_timeout

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    sf.error4(STUN_TIMEOUT_MS, 701, "STUN binding request timed out."),
    *sf.end(STUN_TIMEOUT_MS + 3.9),
)

CASE = Case(
    name="stun-udp-blocked",
    summary="UDP to the STUN server silently dropped: one 701 'STUN binding request timed out.' after ~40 s",
    servers=(Server("stun", Endpoint.STUN),),
    network=Network(block_udp_to_servers=True),
    expected={"safari": SAFARI,
              "chrome": (gathering(), *hosts(), stun_timeout(), *end(STUN_TIMEOUT_MS + 3.9)),
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(ff.TIMEOUT_MS, 701, "stun:{s0}"),
                          *ff.end(ff.TIMEOUT_MS + 2.0))},
    sources={"safari": "source reading, not captured: libwebrtc stun_port.cc (timeout text, 9 sends ~39.9"
                       " s as Chrome S5); WebKit: enumerated default networks, redacted socket address "
                       "(reference C)",
             "chrome": "shared/captures S5_chromium_stun_udp_dropped (iptables DROP)",
             "firefox": "shared/captures F5b_firefox_stun_udp_dropped_nat (UDP dropped at the router)"},
    cause="The STUN server is up, but every binding request to it is dropped on the way (here "
          "in-process by FaultyNet; in the wild a firewall or a UDP-less proxy). Chrome sends 9 "
          "requests (RTO 250 ms doubling, capped at 8 s) and gives up ~39.9 s after the first.",
    detector="No srflx and one 701 on the IPv4 socket after ~40 s: UDP to that server does not get "
             "through. The IPv6 socket stays silent (an IPv4-literal server is skipped there). "
             "Alone this is a UDP-filtering network or a dead server, not yet a bot.",
    dialect_notes={"firefox": (
        'Firefox: 7 sends (RTO 100 ms doubling), the 701 after ~11.1 s, errorText "", address and'
        ' port null.'
    )},
)
