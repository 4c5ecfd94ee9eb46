"""webrtc-disabled-policy: Chrome's IP handling policy disable_non_proxied_udp."""

from . import firefox_patterns as ff
from ..model import Case, Endpoint, Expect, Network, Server

CASE = Case(
    name="webrtc-disabled-policy",
    summary="policy disable_non_proxied_udp (no TURN/TCP server): no candidates at all, no error",
    servers=(Server("stun", Endpoint.STUN),),
    network=Network(ip_policy="disable_non_proxied_udp"),
    # P3s: "gathering", then "complete" and null 99.4 / 99.6 ms later, nothing else.
    # Firefox has no IP handling policy: its nearest setting is the pref
    # media.peerconnection.ice.relay_only (captures pref_relay_only = policy_relay_stun);
    # Safari has none either: its nearest is WebRTC switched off (RTCPeerConnection undefined).
    dialect_networks={"firefox": Network(ice_transport_policy="relay"),
                      "safari": Network(peer_connection_disabled=True)},
    expected={"chrome": (Expect("gathering", t=0.0), Expect("complete", t=99.4), Expect("null", t=99.6)),
              # No "gathering" state at all: the marker, "complete" and null in one ms, 57-85 ms
              # after createOffer (pref_relay_only 57/57/58, policy_relay_stun 85/85/85). Not
              # timed: that is the page's createOffer latency (44-130 ms to "gathering" in the
              # other captures), no ICE timer.
              "firefox": ff.end(None),
              "safari": (Expect("exception", name="ReferenceError",
                                message="Can't find variable: RTCPeerConnection"),)},
    sources={"chrome": "tests/data/chromium156 P3s_policy_noudp_stun (profile pref "
                       "webrtc.ip_handling_policy = disable_non_proxied_udp); reference B7",
             "firefox": "tests/data/firefox pref_relay_only (pref media.peerconnection.ice.relay_only = "
                        "true; "
                        "policy_relay_stun: the same stream from iceTransportPolicy relay)",
             "safari": "source reading, not captured: Safari has no WebRTC IP handling policy; with WebRTC "
                       "switched off WebKit does not define RTCPeerConnection and JavaScriptCore throws "
                       "ReferenceError \"Can't find variable: RTCPeerConnection\""},
    cause="The browser runs with WebRTC IP handling policy disable_non_proxied_udp (an "
          "enterprise policy or an extension; Chromium 156 ignores the command-line "
          "--force-webrtc-ip-handling-policy, capture P3 shows): no UDP socket is opened, "
          "so there is no host candidate, no STUN binding and so no srflx and no error. Only a "
          "TURN server over TCP/TLS could give a (relay) candidate.",
    detector="Gathering completes with zero candidates and zero errors: WebRTC is present but "
             "neutered by policy. Common on managed corporate browsers and privacy extensions; in "
             "automation it is a deliberate leak-prevention setting, a bot signal when the rest "
             "of the profile claims a consumer browser.",
    dialect_notes={"firefox": (
        "Firefox has no IP handling policy. Run with its nearest pref, media.peerconnection.ice.relay_only "
        "= true: no candidates, no error, and not even a 'gathering' state: the '' marker, 'complete' and "
        "null ~60-85 ms after createOffer. media.peerconnection.ice.proxy_only (no proxy set) gives "
        "nothing at all; media.peerconnection.enabled = false makes `new RTCPeerConnection` throw "
        "ReferenceError 'RTCPeerConnection is not defined' (captures pref_proxy_only, pref_pc_disabled)."),
        "safari": (
        "Safari has no IP handling policy (source reading): its nearest setting switches WebRTC off, so "
        "the page's `new RTCPeerConnection` throws ReferenceError \"Can't find variable: RTCPeerConnection\".")},
)
