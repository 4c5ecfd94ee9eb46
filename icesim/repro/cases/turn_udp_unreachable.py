"""turn-udp-unreachable: a UDP TURN server that never answers: two 701s."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ..model import Case, Endpoint, Server
from .chrome_patterns import STUN_TIMEOUT_MS, TURN_TIMEOUT_MS, end, gathering, hosts, stun_error4, stun_timeout

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    sf.error4(STUN_TIMEOUT_MS, 701, "STUN binding request timed out."),
    sf.error4(TURN_TIMEOUT_MS, 701, "TURN allocate request timed out.", url="turn:{s0}?transport=udp"),
    *sf.end(TURN_TIMEOUT_MS + 0.1),
)

CASE = Case(
    name="turn-udp-unreachable",
    summary="UDP TURN server unreachable: two 701s, the STUN binding timeout then the TURN allocate timeout",
    servers=(Server("turn", Endpoint.CLOSED, transport="udp"),),
    expected={"safari": SAFARI, "chrome": (
        gathering(), *hosts(),
        stun_timeout(),
        stun_error4(TURN_TIMEOUT_MS, 701, "TURN allocate request timed out.", url="turn:{s0}?transport=udp"),
        *end(TURN_TIMEOUT_MS + 0.1),
    ),
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(11102.0, 701, "turn:{s0}"), *ff.end(11103.0))},
    sources={"safari": "source reading, not captured: libwebrtc uses every UDP TURN server as a STUN "
                       "server too: two 701s (reference B6, as Chrome D)",
             "chrome": "tests/data/chromium156 D_turnudp_dropped; shared/captures README",
             "firefox": "tests/data/firefox turn_udp_dropped (one 701: no STUN one, unlike Chrome)"},
    cause="Nothing answers at the TURN server's address (a closed port here: real ICMP port "
          "unreachable, which Chrome ignores). Chrome also uses every UDP TURN server as a STUN "
          "server, so the STUN binding times out first (~39.9 s), then the TURN Allocate, which "
          "started 50 ms later at the relay phase, ~62 ms after it.",
    detector="Two 701s ~60 ms apart, stun: then turn:, same host port, no srflx and no relay: "
             "UDP to the TURN server does not get through (UDP-blocking network or dead server). "
             "The pair is the fingerprint of a UDP TURN server, not of two failures.",
    dialect_notes={"firefox": (
        'Firefox: ONE 701 (turn: URL without ?transport=udp) after ~11.1 s; Firefox does not use '
        'a TURN server as a STUN server, so there is no STUN 701.'
    )},
)
