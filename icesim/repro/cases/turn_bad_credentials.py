"""turn-bad-credentials: coturn rejects the page's password (401)."""

from . import firefox_patterns as ff
from . import safari_patterns as sf
from ...events import ABSENT
from ..model import Case, Endpoint, Expect, Server
from .chrome_patterns import QUIET_COMPLETE_MS, SRFLX_PRIORITY, end, gathering, hosts, stun_error4

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    Expect("srflx", priority=sf.SRFLX4_PRIORITY, url=ABSENT, order_free=True),
    sf.error4(76.9, 401, "Unauthorized.", url="turn:{s0}?transport=udp"),
    *sf.end(QUIET_COMPLETE_MS),
)

CASE = Case(
    name="turn-bad-credentials",
    summary="wrong TURN password: 401 'Unauthorized.' from coturn (the srflx still comes through)",
    servers=(Server("turn", Endpoint.COTURN, transport="udp", credential="wrong"),),
    expected={"safari": SAFARI, "chrome": (
        gathering(), *hosts(),
        Expect("srflx", url="stun:{s0}", priority=SRFLX_PRIORITY, order_free=True),
        stun_error4(76.9, 401, "Unauthorized.", url="turn:{s0}?transport=udp"),
        *end(QUIET_COMPLETE_MS),
    ),
        # The 401 (two loopback round trips) and the TCP hosts come in the same ms (turn_badcred:
        # all at +1.0, Firefox's timer resolution): their order is not a rule.
        "firefox": (ff.gathering(), *ff.hosts(), ff.error(1.0, 401, "turn:{s0}", order_free=True), *ff.end(1.0)),
    },
    sources={"safari": "source reading, not captured: libwebrtc turn_port.cc: 401 'Unauthorized.' after "
                       "the credentialed retry, the STUN srflx from the same server (reference B6, as "
                       "Chrome S7)",
             "chrome": "shared/captures S7_chromium_turn_udp_badcred",
             "firefox": 'tests/data/firefox turn_badcred (errorText "", and no srflx either)'},
    cause="coturn (real, on loopback) challenges the unsigned Allocate with 401, Chrome retries "
          "signed with the wrong password and coturn answers 401 again. Chrome's own text is "
          "'Unauthorized.' (not the server's reason phrase). The same server still answers the "
          "STUN binding, so the srflx is there.",
    detector="A 401 with a srflx: the network is fine and UDP reaches the server; the page's TURN "
             "credentials are wrong or expired (often stale time-limited credentials). It says "
             "nothing about the client being a bot.",
    dialect_notes={"firefox": (
        'Firefox: 401 with errorText "" and url turn:HOST:PORT, and no srflx either.'
    )},
)
