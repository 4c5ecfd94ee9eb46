/*
 * ice_error_or_silence.js - icesim detector (a): "an ICE error, or silence within 2 s, means bot".
 *
 * Written for icesim from the logic of seed 000 (window.RTCPeerConnectionIceErrorEvent, its
 * sample checkWebRTCBehavior): a real browser on an ordinary network finishes gathering quickly,
 * while a proxy that drops UDP leaves the page with an icecandidateerror (701) or with nothing
 * at all. What it flags, as {isBot, reason, ...}:
 *   - an icecandidateerror before anything else        -> bot,   ICE_CANDIDATE_ERROR (+ errorCode, errorText, url)
 *   - the null candidate (gathering complete)          -> human, ICE_SUCCESS
 *   - neither within 2 s of the call                   -> bot,   ICE_TIMEOUT
 *   - the constructor, createOffer or SLD fails        -> bot,   WEBRTC_SETUP_FAILED (+ error: the exception's name)
 *   - RTCPeerConnection is not a function              -> bot,   WEBRTC_MISSING
 * Known blind spots (what `icesim replay` shows on a dataset): a person behind a firewall that
 * drops UDP (701 only after ~40 s: ICE_TIMEOUT), a benign IPv6 host-lookup 701, a gather slower
 * than 2 s, and a stubbed onicecandidate (the null candidate never arrives: ICE_TIMEOUT).
 *
 * A classic script: one global function, called as detectIceErrorOrSilence(callback, page) by
 * `icesim replay --export detectIceErrorOrSilence` and the --serve page; it ignores both
 * arguments (page.iceServers, when given, replaces the STUN server) and returns a promise.
 */
function detectIceErrorOrSilence(callback, page) {
  var SILENCE_MS = 2000;
  // A name that resolves nowhere (.test, RFC 6761): in a replay the recorded servers answer; on a
  // real page pass page.iceServers. No detector here names a real public server.
  var iceServers = (page && page.iceServers) || [{ urls: "stun:stun.icesim.test:3478" }];

  return new Promise(function (resolve) {
    var settled = false;
    var pc = null;
    var timer = null;

    function finish(verdict) {
      if (settled) return;
      settled = true;
      if (timer !== null) clearTimeout(timer);
      if (pc !== null) {
        try { pc.close(); } catch (ignored) { /* already closed */ }
      }
      resolve(verdict);
    }

    function setupFailed(err) {
      finish({ isBot: true, reason: "WEBRTC_SETUP_FAILED", error: (err && err.name) || String(err) });
    }

    if (typeof RTCPeerConnection !== "function") {
      finish({ isBot: true, reason: "WEBRTC_MISSING" });
      return;
    }
    try {
      pc = new RTCPeerConnection({ iceServers: iceServers });
    } catch (err) {
      setupFailed(err);
      return;
    }
    pc.onicecandidateerror = function (event) {
      finish({
        isBot: true, reason: "ICE_CANDIDATE_ERROR",
        errorCode: event.errorCode, errorText: event.errorText, url: event.url,
      });
    };
    pc.onicecandidate = function (event) {
      if (!event.candidate) finish({ isBot: false, reason: "ICE_SUCCESS" });
    };
    timer = setTimeout(function () { finish({ isBot: true, reason: "ICE_TIMEOUT" }); }, SILENCE_MS);
    try {
      pc.createDataChannel("");
      pc.createOffer()
        .then(function (offer) { return pc.setLocalDescription(offer); })
        .catch(setupFailed);
    } catch (err) {
      setupFailed(err);
    }
  });
}
