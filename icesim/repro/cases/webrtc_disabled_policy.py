"""webrtc-disabled-policy: Chrome's IP handling policy disable_non_proxied_udp."""

from ..model import Case, Endpoint, Expect, Network, Server

CASE = Case(
    name="webrtc-disabled-policy",
    summary="policy disable_non_proxied_udp (no TURN/TCP server): no candidates at all, no error",
    servers=(Server("stun", Endpoint.STUN),),
    network=Network(ip_policy="disable_non_proxied_udp"),
    # P3s: "gathering", then "complete" and null 99.4 / 99.6 ms later, nothing else.
    expected={"chrome": (Expect("gathering", t=0.0), Expect("complete", t=99.4), Expect("null", t=99.6))},
    sources={"chrome": "tests/data/chromium156 P3s_policy_noudp_stun (profile pref "
                       "webrtc.ip_handling_policy = disable_non_proxied_udp); reference B7"},
    cause="The browser runs with WebRTC IP handling policy disable_non_proxied_udp (an "
          "enterprise policy or an extension; Chromium 156 ignores the command-line "
          "--force-webrtc-ip-handling-policy, capture P3 shows): no UDP socket is opened, "
          "so there is no host candidate, no STUN binding and so no srflx and no error. Only a "
          "TURN server over TCP/TLS could give a (relay) candidate.",
    detector="Gathering completes with zero candidates and zero errors: WebRTC is present but "
             "neutered by policy. Common on managed corporate browsers and privacy extensions; in "
             "automation it is a deliberate leak-prevention setting, a bot signal when the rest "
             "of the profile claims a consumer browser.",
)
