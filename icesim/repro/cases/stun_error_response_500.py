"""stun-error-response-500: the STUN server answers 500; Chrome fires nothing."""

from ..model import Case, Endpoint, Server
from .chrome_patterns import QUIET_COMPLETE_MS, end, gathering, hosts

CASE = Case(
    name="stun-error-response-500",
    summary="the STUN server answers 500 Server Error: no event at all (500 % 100 = 0), no srflx",
    servers=(Server("stun", Endpoint.STUN_ERROR),),
    stun_error=(500, "Server Error"),
    expected={"chrome": (gathering(), *hosts(), *end(QUIET_COMPLETE_MS))},
    sources={"chrome": "tests/data/chromium156 S2_stun500 (and Sx_stun400)"},
    cause="The server answers every binding with Error Response 500. Chromium 156 computes the "
          "page's errorCode as code % 100 = 0 and fires no icecandidateerror for 0.",
    detector="Host candidates, no srflx, no error: looks like a page with no STUN server or a "
             "server that never answered in time. Nothing in the stream points at the 500.",
    browser_note="As named in the issue ('error code e.g. 500') the event does not exist in Chromium 156.",
)
