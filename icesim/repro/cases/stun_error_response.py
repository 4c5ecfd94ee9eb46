"""stun-error-response: the STUN server answers the binding with an error (420 here)."""

from . import safari_patterns as sf
from . import firefox_patterns as ff
from ..model import Case, Endpoint, Server
from .chrome_patterns import QUIET_COMPLETE_MS, end, gathering, hosts, stun_error4

# Safari: source reading, not captured (safari_patterns).
SAFARI = (
    sf.gathering(),
    *sf.hosts(),
    sf.error4(25.0, 20, "Unknown Attribute", order_free=True),
    *sf.end(QUIET_COMPLETE_MS),
)

CASE = Case(
    name="stun-error-response",
    summary="the STUN server answers 420 Unknown Attribute: errorCode 20 (code % 100), reason verbatim",
    servers=(Server("stun", Endpoint.STUN_ERROR),),
    stun_error=(420, "Unknown Attribute"),
    # The IPv4 socket's answer races the IPv6 mDNS host (S7: even a srflx comes before the hosts).
    expected={"chrome": (gathering(), *hosts(), stun_error4(25.0, 20, "Unknown Attribute", order_free=True),
                         *end(QUIET_COMPLETE_MS)),
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(0.0, 420, "stun:{s0}"), *ff.end(0.0)),
              "safari": SAFARI},
    sources={"firefox": "tests/data/firefox stun_420 (all in the ms of 'gathering'; one request, no repeat)",
             "safari": "source reading, not captured: libwebrtc stun_port.cc passes attr->number() (code "
                       "% 100) and the reason phrase (as Chrome S2_stun420)",
             "chrome": "tests/data/chromium156 S2_stun420 (and Sx_stun401: 401 -> 1)"},
    cause="The server is reachable and answers every binding with an Error Response 420 "
          "(the embedded server, told to). Chrome 156 passes the code to the page as code % 100 "
          "(20, not 420) with the server's reason phrase verbatim, one RTT after the request; "
          "while the page listens it re-sends the binding every 10 s and the error fires again.",
    detector="A small errorCode (1-99) with a server's reason phrase: the client reached a STUN "
             "server that refused it. The network is fine; the server (or something answering "
             "for it) is misconfigured.",
    dialect_notes={"firefox": "Firefox reports the STUN code itself (420), errorText empty, once (no re-send)."},
    browser_note="The issue expects the STUN code itself (420, or 500); Chromium 156 reports "
                 "code % 100, and a 500 (or 400) gives no event at all: see stun-error-response-500.",
)
