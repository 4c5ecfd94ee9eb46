// icesim per-family table: the DOM-API details that differ between browser families.
//
// Facts from real captures (shared/captures, tests/data/chromium156, the cap helper's API
// captures) are marked "capture"; the rest is read from Chromium/Gecko/WebKit sources or a guess
// (marked "guess"). Self-contained like the other icesim-*.mjs parts.

export function icesimFamily(name) {
  const CANDIDATE_KEYS = ["candidate", "sdpMid", "sdpMLineIndex", "foundation", "component", "priority",
    "address", "protocol", "port", "type", "tcpType", "relatedAddress", "relatedPort", "usernameFragment"];
  const chromeClosed = (iface, method) => "Failed to execute '" + method + "' on '" + iface
    + "': The RTCPeerConnection's signalingState is 'closed'."; // Blink kSignalingStateClosedMessage
  const chrome = {
    name: "chrome",
    webkitAlias: true,
    nativeStyle: "chrome",
    performanceQuantumMs: 0.1, // Blink coarsens performance.now() to 100 us without isolation
    statsTimestamp: (epochMs) => Math.round(epochMs * 100) / 100, // capture: 1795345756300.68
    offerIsDescription: true, // guess: Blink resolves createOffer with an RTCSessionDescription
    negotiationNeededWhileBusy: true, // capture: fires just before createOffer resolves
    candidateKeys: CANDIDATE_KEYS.concat(["relayProtocol", "url"]), // capture
    candidateToJSONFirst: false, // capture: toJSON after the attributes
    candidateJSONKeys: ["candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"], // capture
    iceEventHasUrl: false, // capture: Chromium 156 has no RTCPeerConnectionIceEvent.url
    errorKeys: ["address", "port", "hostCandidate", "url", "errorCode", "errorText"], // capture
    descriptionToJSONFirst: false, // guess
    dataChannelBinaryType: "arraybuffer", // guess: Chromium's default since the spec change
    getStatsMs: 1, // guess: the report comes back from the signalling thread in about a ms
    closedMessage: chromeClosed,
    setupThrowsMessage: "Failed to execute 'setLocalDescription' on 'RTCPeerConnection': Failed to set "
      + "local offer sdp: Failed to apply the description for m= section with mid='0': Failed to set up "
      + "data channel transport.", // guess
    wrongStateMessage: (kind, state) => "Failed to execute 'setLocalDescription' on 'RTCPeerConnection': "
      + "Failed to set local " + kind + " sdp: Called in wrong state: " + state, // libwebrtc GetSetDescriptionErrorMessage
    addIceCandidateNoRemoteMessage: "Failed to execute 'addIceCandidate' on 'RTCPeerConnection': "
      + "The remote description was null", // guess
    configTypeMessage: "Failed to construct 'RTCPeerConnection': The provided value is not of type 'RTCConfiguration'.",
    urlsMissingMessage: "Failed to construct 'RTCPeerConnection': Failed to read the 'urls' property from "
      + "'RTCIceServer': Required member is undefined.",
    badUrlMessage: (url) => "Failed to construct 'RTCPeerConnection': '" + url + "' is not a valid URL.", // guess
    turnNoCredentialsMessage: "Failed to construct 'RTCPeerConnection': Both username and credential are "
      + "required when the URL scheme is \"turn\" or \"turns\".", // capture (H1)
    turnEmptyCredentialsMessage: "Failed to construct 'RTCPeerConnection': ICE server parsing failed: "
      + "TURN server with empty username or password", // capture (H4)
    candidateNoMidMessage: "Failed to construct 'RTCIceCandidate': sdpMid and sdpMLineIndex are both null.",
    illegalConstructor: "Illegal constructor",
    sendNotOpenMessage: "Failed to execute 'send' on 'RTCDataChannel': RTCDataChannel.readyState is not 'open'",
    configuration(servers, config) {
      return {
        alwaysNegotiateDataChannels: false, // capture (getConfiguration)
        bundlePolicy: config.bundlePolicy || "balanced",
        certificates: [],
        encodedInsertableStreams: false,
        iceCandidatePoolSize: config.iceCandidatePoolSize || 0,
        iceServers: servers.map((s) => ({ credential: s.credential || "", urls: s.urls, username: s.username || "" })),
        iceTransportPolicy: config.iceTransportPolicy || "all",
        rtcpMuxPolicy: config.rtcpMuxPolicy || "require",
      };
    },
  };
  const firefoxClosed = () => "Peer connection is closed"; // capture (cap helper, firefox/api)
  const firefox = Object.assign({}, chrome, {
    name: "firefox",
    webkitAlias: false,
    nativeStyle: "firefox",
    performanceQuantumMs: 1, // capture: Firefox event times are whole ms
    statsTimestamp: (epochMs) => Math.floor(epochMs), // capture: integer ms
    offerIsDescription: false, // capture: createOffer resolves a plain Object {type, sdp}
    negotiationNeededWhileBusy: false, // capture: no negotiationneeded when createOffer follows at once
    candidateKeys: CANDIDATE_KEYS, // capture: no relayProtocol, no url
    candidateToJSONFirst: true, // capture
    candidateJSONKeys: ["candidate", "sdpMLineIndex", "sdpMid", "usernameFragment"], // capture
    errorKeys: ["address", "port", "url", "errorCode", "errorText"], // capture: no hostCandidate
    descriptionToJSONFirst: true, // capture: [toJSON, type, sdp]
    dataChannelBinaryType: "blob", // guess: Gecko's default
    closedMessage: firefoxClosed,
    setupThrowsMessage: "setLocalDescription: Failed to apply local description", // guess
    wrongStateMessage: (kind, state) => "Cannot set local " + kind + " in state " + state, // guess
    addIceCandidateNoRemoteMessage: "No remoteDescription.", // guess
    configTypeMessage: "RTCPeerConnection constructor: Value can't be converted to a dictionary.", // guess
    urlsMissingMessage: "RTCPeerConnection constructor: Missing required 'urls' member of RTCIceServer.", // guess
    badUrlMessage: (url) => url + " is not a valid URL", // guess
    turnNoCredentialsMessage: "RTCPeerConnection constructor passed invalid RTCConfiguration - "
      + "missing credential", // guess
    turnEmptyCredentialsMessage: "RTCPeerConnection constructor passed invalid RTCConfiguration - "
      + "missing credential", // guess
    candidateNoMidMessage: "RTCIceCandidate constructor: Either sdpMid or sdpMLineIndex must be set", // guess
    sendNotOpenMessage: "RTCDataChannel.send: Sending data on a channel that is not open", // guess
    configuration(servers, config) {
      return {
        bundlePolicy: config.bundlePolicy || "balanced", // capture (getConfiguration)
        certificates: [],
        iceServers: servers.map((s) => {
          const out = { credentialType: "password", urls: s.urls };
          if (s.username !== undefined) out.username = s.username;
          if (s.credential !== undefined) out.credential = s.credential;
          return out;
        }),
        iceTransportPolicy: config.iceTransportPolicy || "all",
        peerIdentity: null,
        rtcpMuxPolicy: config.rtcpMuxPolicy || "require",
      };
    },
  });
  // guess: WebKit shares Chromium's libwebrtc, not its bindings; until captured, Chromium's table.
  const safari = Object.assign({}, chrome, { name: "safari" });
  return { chrome, firefox, safari }[name] || chrome;
}
