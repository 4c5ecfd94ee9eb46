"""webrtc-disabled-policy: Chrome's IP handling policy disable_non_proxied_udp."""

from ..model import Case, Endpoint, Expect, Network, Server

CASE = Case(
    name="webrtc-disabled-policy",
    summary="policy disable_non_proxied_udp (no TURN/TCP server): no candidates at all, no error",
    servers=(Server("stun", Endpoint.STUN),),
    network=Network(policy_no_udp=True),
    expected={"chrome": (Expect("gathering", t=0.0), Expect("complete"), Expect("null"))},
    sources={"chrome": "reference B7 (disable_non_proxied_udp: only TCP/TLS TURN; with no TURN "
                       "server, no candidates at all); no capture of it yet"},
    cause="The browser runs with WebRTC IP handling policy disable_non_proxied_udp (enterprise "
          "policy, an extension, or --force-webrtc-ip-handling-policy): no UDP socket is opened, "
          "so there is no host candidate, no STUN binding and so no srflx and no error. Only a "
          "TURN server over TCP/TLS could give a (relay) candidate.",
    detector="Gathering completes with zero candidates and zero errors: WebRTC is present but "
             "neutered by policy. Common on managed corporate browsers and privacy extensions; in "
             "automation it is a deliberate leak-prevention setting, a bot signal when the rest "
             "of the profile claims a consumer browser.",
)
