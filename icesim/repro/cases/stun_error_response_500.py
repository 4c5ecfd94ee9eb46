"""stun-error-response-500: the STUN server answers 500; Chrome fires nothing."""

from . import safari_patterns as sf
from . import firefox_patterns as ff
from ..model import Case, Endpoint, Server
from .chrome_patterns import QUIET_COMPLETE_MS, end, gathering, hosts

# Safari: source reading, not captured (safari_patterns).
SAFARI = (sf.gathering(), *sf.hosts(), *sf.end(QUIET_COMPLETE_MS))

CASE = Case(
    name="stun-error-response-500",
    summary="the STUN server answers 500 Server Error: no event at all (500 % 100 = 0), no srflx",
    servers=(Server("stun", Endpoint.STUN_ERROR),),
    stun_error=(500, "Server Error"),
    expected={"chrome": (gathering(), *hosts(), *end(QUIET_COMPLETE_MS)),
              "firefox": (ff.gathering(), *ff.hosts(), ff.error(4.0, 65535, "stun:{s0}"), *ff.end(6.0)),
              "safari": SAFARI},
    sources={"firefox": "tests/data/firefox stun_500 (the error 4 ms after 'gathering')",
             "safari": "source reading, not captured: libwebrtc stun_port.cc: number() of 500 is 0 = "
                       "STUN_ERROR_NOT_AN_ERROR, no event (as Chrome S2_stun500)",
             "chrome": "tests/data/chromium156 S2_stun500 (and Sx_stun400)"},
    cause="The server answers every binding with Error Response 500. Chromium 156 computes the "
          "page's errorCode as code % 100 = 0 and fires no icecandidateerror for 0.",
    detector="Host candidates, no srflx, no error: looks like a page with no STUN server or a "
             "server that never answered in time. Nothing in the stream points at the 500.",
    dialect_notes={"firefox": "Firefox does fire: errorCode 65535 (any non-4xx code), errorText empty."},
    browser_note="As named in the issue ('error code e.g. 500') the event does not exist in Chromium 156.",
)
