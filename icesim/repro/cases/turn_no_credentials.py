"""turn-no-credentials: a TURN entry without username/credential: the constructor throws."""

from ..model import Case, Endpoint, Expect, Server

CASE = Case(
    name="turn-no-credentials",
    summary="TURN without credentials: the RTCPeerConnection constructor throws InvalidAccessError, no event",
    servers=(Server("turn", Endpoint.FIXED, transport="udp", port=3478, username=None, credential=None),),
    expected={"chrome": (Expect(
        "exception", name="InvalidAccessError",
        message="Failed to construct 'RTCPeerConnection': Both username and credential are required "
                'when the URL scheme is "turn" or "turns".',
    ),),
              # Capture turn_nocred; without a credential: "... requires a credential" (source, not captured).
              "firefox": (Expect("exception", name="InvalidAccessError",
                                 message="PeerConnectionImpl.setConfiguration: TURN server requires a username"),),
              "safari": (Expect("exception", name="InvalidAccessError",
                                message="TURN/TURNS server requires both username and credential"),)},
    sources={"chrome": "tests/data/chromium156 H1_turn_nocredkeys (H2-H4: empty or partial credentials)",
             "firefox": "tests/data/firefox turn_nocred (constructor throws, no event)",
             "safari": "source reading, not captured: WebKit RTCPeerConnection::iceServersFromConfiguration "
                       "(a null username or credential; empty strings pass)"},
    cause="The page lists turn:HOST?transport=udp without username and credential. Chrome "
          "validates iceServers in the RTCPeerConnection constructor and throws "
          "InvalidAccessError: no gathering starts, no packet is sent, no event fires.",
    detector="Nothing reaches the ICE event handlers: the page's own try/catch sees the "
             "exception. A detector logging only icecandidateerror sees no 701 and no candidates.",
    dialect_notes={"firefox": "Firefox throws its own InvalidAccessError: 'PeerConnectionImpl.setConfiguration: "
                              "TURN server requires a username' (empty strings pass).",
                   "safari": "Safari (source reading): InvalidAccessError 'TURN/TURNS server requires both "
                             "username and credential' (empty strings pass)."},
    browser_note="'Missing TURN server credentials.' (401) exists in libwebrtc but never reaches a "
                 "page in Chromium 156: the constructor rejects the configuration first (captures "
                 "H1-H4). icesim runs the same constructor check.",
)
