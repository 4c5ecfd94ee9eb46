// icesim per-family table: the DOM-API details that differ between browser families.
//
// Facts from real captures (shared/captures, tests/data/chromium156, the API captures in
// tests/data/{chromium156,firefox}/api, tests/data/API_FACTS.md) are marked "capture"; the rest is read from Chromium/Gecko/WebKit sources or a guess
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
    offerKeys: ["sdp", "type"], // capture: createOffer resolves a plain Object, these own keys
    localDescriptionCached: true, // capture: pc.localDescription === pc.localDescription
    descriptionsThrowAfterClose: false,
    statsAfterClose: "peer-connection", // capture: only the peer-connection entry
    pcStatics: ["generateCertificate", "cancelDiagnosticLogging", "startDiagnosticLogging", "stopDiagnosticLogging"],
    dataChannelCloseEvents: ["closing", "close"], // capture: on pc.close()
    candidateJSONOmitsNull: true, // capture: a page-made candidate's toJSON drops null mid/index
    errorEventDefaults: { hostCandidate: "", address: null, port: null, url: "", errorText: "" }, // capture
    negotiationNeededWhileBusy: true, // capture: fires just before createOffer resolves
    candidateKeys: CANDIDATE_KEYS.concat(["relayProtocol", "url"]), // capture
    candidateJSONKeys: ["candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"], // capture
    iceEventHasUrl: false, // capture: Chromium 156 has no RTCPeerConnectionIceEvent.url
    errorKeys: ["address", "port", "hostCandidate", "url", "errorCode", "errorText"], // capture
    dataChannelBinaryType: "arraybuffer", // capture
    getStatsMs: 1, // guess: the report comes back from the signalling thread in about a ms
    statsIds: "chrome", // capture: "P", "T01", "D<n>"
    closedMessage: chromeClosed,
    setupThrowsMessage: "Failed to execute 'setLocalDescription' on 'RTCPeerConnection': Failed to set "
      + "local offer sdp: Failed to apply the description for m= section with mid='0': Failed to set up "
      + "data channel transport.", // guess
    wrongStateMessage: (kind, state) => "Failed to execute 'setLocalDescription' on 'RTCPeerConnection': "
      + "Failed to set local " + kind + " sdp: Called in wrong state: " + state, // libwebrtc GetSetDescriptionErrorMessage
    addIceCandidateNoRemoteMessage: "Failed to execute 'addIceCandidate' on 'RTCPeerConnection': "
      + "The remote description was null", // guess
    candidateNoMidMessage: "Failed to construct 'RTCIceCandidate': sdpMid and sdpMLineIndex are both null.", // capture
    errorEventArgsMessage: (n) => "Failed to construct 'RTCPeerConnectionIceErrorEvent': 2 arguments required, "
      + "but only " + n + " present.", // capture
    sessionDescriptionLength: 0, // capture
    // capture (API_FACTS.md "surface"): prototype members, in the browser's order
    protoOrder: {
      RTCPeerConnection: "localDescription currentLocalDescription pendingLocalDescription remoteDescription "
        + "currentRemoteDescription pendingRemoteDescription signalingState iceGatheringState iceConnectionState "
        + "connectionState canTrickleIceCandidates onnegotiationneeded onicecandidate onsignalingstatechange "
        + "oniceconnectionstatechange onconnectionstatechange onicegatheringstatechange onicecandidateerror ontrack "
        + "sctp ondatachannel onaddstream onremovestream addIceCandidate addStream addTrack addTransceiver close "
        + "createAnswer createDTMFSender createDataChannel createOffer getConfiguration getLocalStreams "
        + "getReceivers getRemoteStreams getSenders getStats getTransceivers removeStream removeTrack restartIce "
        + "setConfiguration setLocalDescription setRemoteDescription",
      RTCIceCandidate: "candidate sdpMid sdpMLineIndex foundation component priority address protocol port type "
        + "tcpType relatedAddress relatedPort usernameFragment relayProtocol url toJSON",
      RTCPeerConnectionIceEvent: "candidate",
      RTCPeerConnectionIceErrorEvent: "address port hostCandidate url errorCode errorText",
      RTCSessionDescription: "type sdp toJSON",
      RTCDataChannel: "label ordered maxPacketLifeTime maxRetransmits protocol negotiated id readyState "
        + "bufferedAmount bufferedAmountLowThreshold onopen onbufferedamountlow onerror onclosing onclose onmessage "
        + "binaryType reliable close send",
      RTCStatsReport: "size entries forEach get has keys values",
    },
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
  const firefoxClosed = () => "Peer connection is closed"; // capture (tests/data/firefox/api)
  const firefox = Object.assign({}, chrome, {
    name: "firefox",
    webkitAlias: false,
    nativeStyle: "firefox",
    performanceQuantumMs: 1, // capture: Firefox event times are whole ms
    statsTimestamp: (epochMs) => Math.floor(epochMs), // capture: integer ms
    offerKeys: ["type", "sdp"], // capture
    localDescriptionCached: false, // capture: a new RTCSessionDescription per read
    descriptionsThrowAfterClose: true, // capture: reading them after close() throws InvalidStateError
    statsAfterClose: "all", // capture: the full report
    pcStatics: ["generateCertificate"],
    dataChannelCloseEvents: ["close"], // capture
    candidateJSONOmitsNull: false, // guess
    errorEventDefaults: { address: null, port: null, url: "", errorText: "" }, // guess
    negotiationNeededWhileBusy: false, // capture: a new task after the chain empties (see icesim-peer)
    candidateKeys: CANDIDATE_KEYS, // capture: no relayProtocol, no url
    candidateJSONKeys: ["candidate", "sdpMLineIndex", "sdpMid", "usernameFragment"], // capture
    errorKeys: ["address", "port", "url", "errorCode", "errorText"], // capture: no hostCandidate
    dataChannelBinaryType: "arraybuffer", // capture: Firefox 153
    closedMessage: firefoxClosed,
    getStatsMs: 3, // capture: 2-25 ms
    statsIds: "firefox", // capture: "{uuid}" and 8 hex digits
    setupThrowsMessage: "setLocalDescription: Failed to apply local description", // guess
    wrongStateMessage: (kind, state) => "Cannot set local " + kind + " in state " + state, // guess
    addIceCandidateNoRemoteMessage: "No remoteDescription.", // guess
    candidateNoMidMessage: "Either sdpMid or sdpMLineIndex must be specified", // capture
    errorEventArgsMessage: (n) => "RTCPeerConnectionIceErrorEvent constructor: At least 2 arguments required, "
      + "but only " + n + " passed", // capture
    sessionDescriptionLength: 1, // capture
    protoOrder: {
      RTCPeerConnection: "setIdentityProvider getIdentityAssertion createOffer createAnswer setLocalDescription "
        + "setRemoteDescription addIceCandidate restartIce getConfiguration setConfiguration getLocalStreams "
        + "getRemoteStreams addStream addTrack removeTrack addTransceiver getSenders getReceivers getTransceivers "
        + "close getStats createDataChannel localDescription currentLocalDescription pendingLocalDescription "
        + "remoteDescription currentRemoteDescription pendingRemoteDescription signalingState "
        + "canTrickleIceCandidates iceGatheringState iceConnectionState connectionState peerIdentity idpLoginUrl "
        + "onnegotiationneeded onicecandidate onicecandidateerror onsignalingstatechange onaddstream onaddtrack "
        + "ontrack oniceconnectionstatechange onicegatheringstatechange onconnectionstatechange sctp ondatachannel",
      RTCIceCandidate: "toJSON candidate sdpMid sdpMLineIndex foundation component priority address protocol port "
        + "type tcpType relatedAddress relatedPort usernameFragment",
      RTCPeerConnectionIceEvent: "candidate",
      RTCPeerConnectionIceErrorEvent: "address port url errorCode errorText",
      RTCSessionDescription: "toJSON type sdp",
      RTCDataChannel: "close send label negotiated ordered maxPacketLifeTime maxRetransmits protocol id readyState "
        + "bufferedAmount bufferedAmountLowThreshold onopen onerror onclosing onclose onmessage onbufferedamountlow "
        + "binaryType",
      RTCStatsReport: "entries keys values forEach has get size",
    },
    sendNotOpenMessage: "RTCDataChannel.send: Sending data on a channel that is not open", // guess
    configuration(servers, config) {
      return {
        bundlePolicy: config.bundlePolicy || "balanced", // capture (getConfiguration)
        certificates: [],
        iceServers: servers.map((s) => { // capture: keys in alphabetical order
          const out = {};
          if (s.credential !== undefined) out.credential = s.credential;
          out.credentialType = "password";
          if (s.url !== undefined) out.url = s.url; // capture: the legacy key is kept
          out.urls = s.urls;
          if (s.username !== undefined) out.username = s.username;
          return out;
        }),
        iceTransportPolicy: config.iceTransportPolicy || "all",
        peerIdentity: null,
        rtcpMuxPolicy: config.rtcpMuxPolicy || "require",
      };
    },
  });
  // guess: WebKit shares Chromium's libwebrtc, not its bindings; until captured, Chromium's table.
  const safari = Object.assign({}, chrome, {
    name: "safari",
    webkitAlias: false, // guess: WebKit dropped the prefixed constructor
    pcStatics: ["generateCertificate"], // guess: the diagnostic-logging statics are Chromium's
  });
  return { chrome, firefox, safari }[name] || chrome;
}
