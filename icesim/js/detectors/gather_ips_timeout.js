/*
 * gather_ips_timeout.js - icesim detector (c): "gather IP addresses for 1 s, reject when none".
 *
 * Written for icesim from the logic of seed 002 (window.RTCPeerConnection, its sample
 * getWebRTCIPs): collect the IP addresses in the candidate strings for one second; a page that
 * finds none has WebRTC disabled, blocked or tampered with. What it settles with:
 *   - resolves a Set of the IP addresses found (IPv4 and IPv6 in the candidate strings, the
 *     masked 0.0.0.0 / :: and mDNS .local names left out), as soon as gathering completes with
 *     at least one, else when the 1 s timer fires with at least one;
 *   - rejects new Error("WebRTC IP gathering timed out.") when the timer finds none (UDP
 *     blocked: only an mDNS host; a stubbed onicecandidate; gathering slower than 1 s);
 *   - rejects with the exception when setting up fails (RTCPeerConnection missing: a TypeError;
 *     createOffer/setLocalDescription rejecting).
 * A verdict for a matrix: rejected = flagged.
 *
 * A classic script that is also a CommonJS module: gatherWebRtcIps is a global function and,
 * where `module` exists, module.exports. Called as gatherWebRtcIps(callback, page) (both
 * ignored, but page.iceServers replaces the STUN server when given).
 */
function gatherWebRtcIps(callback, page) {
  var GATHER_MS = 1000;
  // A name that resolves nowhere (.test, RFC 6761): in a replay the recorded servers answer; on a
  // real page pass page.iceServers. No detector here names a real public server.
  var iceServers = (page && page.iceServers) || [{ urls: "stun:stun.icesim.test:3478" }];
  var IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  var HEXTET = /^[0-9a-f]{1,4}$/i;

  function isIpv6(token) {
    var halves = token.split("::");
    if (halves.length > 2) return false;
    var groups = [];
    for (var h = 0; h < halves.length; h++) {
      var parts = halves[h] === "" ? [] : halves[h].split(":");
      for (var i = 0; i < parts.length; i++) {
        var last = h === halves.length - 1 && i === parts.length - 1;
        if (last && IPV4.test(parts[i])) { groups.push("0", "0"); continue; }
        if (!HEXTET.test(parts[i])) return false;
        groups.push(parts[i]);
      }
    }
    return halves.length === 2 ? groups.length < 8 : groups.length === 8;
  }

  function addressesIn(candidateLine) {
    var found = [];
    var tokens = candidateLine.split(/\s+/);
    for (var i = 0; i < tokens.length; i++) {
      var token = tokens[i].replace(/^\[|\]$/g, "");
      if (token === "0.0.0.0" || token === "::") continue;  // Chrome's masked raddr
      if (IPV4.test(token) || (token.indexOf(":") >= 0 && isIpv6(token))) found.push(token.toLowerCase());
    }
    return found;
  }

  return new Promise(function (resolve, reject) {
    var ips = new Set();
    var pc = null;
    var settled = false;

    function settle(fn, value) {
      if (settled) return;
      settled = true;
      if (pc !== null) {
        try { pc.close(); } catch (ignored) { /* already closed */ }
      }
      fn(value);
    }

    try {
      pc = new RTCPeerConnection({ iceServers: iceServers });
      pc.onicecandidate = function (event) {
        if (!event || !event.candidate || !event.candidate.candidate) {
          if (!event || !event.candidate) {  // the null candidate: gathering is complete
            if (ips.size > 0) settle(resolve, ips);
          }
          return;
        }
        addressesIn(event.candidate.candidate).forEach(function (ip) { ips.add(ip); });
      };
      pc.createDataChannel("");
      pc.createOffer()
        .then(function (offer) { return pc.setLocalDescription(offer); })
        .catch(function (err) { settle(reject, err); });
      setTimeout(function () {
        if (ips.size > 0) settle(resolve, ips);
        else settle(reject, new Error("WebRTC IP gathering timed out."));
      }, GATHER_MS);
    } catch (err) {
      settle(reject, err);  // RTCPeerConnection missing (TypeError) or its constructor threw
    }
  });
}

if (typeof module === "object" && module !== null && typeof module.exports === "object") {
  module.exports = gatherWebRtcIps;
}
