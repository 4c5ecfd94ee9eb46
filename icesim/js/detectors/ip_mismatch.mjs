/*
 * ip_mismatch.mjs - icesim detector (b): "the address WebRTC reveals differs from the one the web
 * server saw".
 *
 * Written for icesim from the logic of seeds 001 and 002 (RTCPeerConnectionIceEvent,
 * RTCPeerConnection: "A mismatch between the IP seen by the server from the HTTP request and the
 * IP revealed by WebRTC is a strong signal of proxy usage"). It harvests the IPv4 and IPv6
 * addresses from the candidate strings (mDNS .local names and the masked 0.0.0.0 / :: left out),
 * waits for gathering to complete (the null candidate or iceGatheringState "complete"; at most
 * 3 s), keeps the public ones and compares them with page.webAddress, the address the web server
 * saw. Only addresses of the web address's family are compared: a dual-stack person reveals an
 * IPv6 address next to the IPv4 one the server saw, and that is no proxy. Verdicts
 * {isBot, reason, ips, publicIps, webAddress}:
 *   - a public address of the web address's family equals it      -> human, IP_MATCH
 *   - public addresses of that family, none equal to it           -> bot,   IP_MISMATCH
 *   - public addresses, but none of the web address's family      -> human, NO_COMPARABLE_IP
 *   - no public address (UDP blocked, stubbed callback, policy)   -> human, NO_PUBLIC_IP (no evidence)
 *   - page.webAddress missing                                     -> human, NO_WEB_ADDRESS
 *   - RTCPeerConnection is not a function                         -> bot,   WEBRTC_MISSING
 *   - the constructor, createOffer or SLD fails                   -> bot,   WEBRTC_SETUP_FAILED
 * Documentation ranges (198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) count as public: icesim's
 * datasets draw public addresses from them.
 *
 * An ES module: the default export is called as detectIpMismatch(callback, page) by
 * `icesim replay` and the --serve page (callback unused; page.iceServers, when given, replaces
 * the STUN server); it returns a promise.
 */

const GATHER_WAIT_MS = 3000;
// A name that resolves nowhere (.test, RFC 6761): in a replay the recorded servers answer; on a
// real page pass page.iceServers. No detector here names a real public server.
const DEFAULT_ICE_SERVERS = [{ urls: "stun:stun.icesim.test:3478" }];
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEXTET = /^[0-9a-f]{1,4}$/i;

/** The 8 hextets of an IPv6 address as numbers, or null when `text` is not one. */
function ipv6Hextets(text) {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const sides = [];
  for (const [h, half] of halves.entries()) {
    const side = [];
    const parts = half === "" ? [] : half.split(":");
    for (const [i, part] of parts.entries()) {
      const v4 = h === halves.length - 1 && i === parts.length - 1 && IPV4.test(part);
      if (v4) {
        const [a, b, c, d] = part.split(".").map(Number);
        side.push((a << 8) | b, (c << 8) | d);
      } else if (HEXTET.test(part)) {
        side.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    sides.push(side);
  }
  if (sides.length === 1) return sides[0].length === 8 ? sides[0] : null;
  const missing = 8 - sides[0].length - sides[1].length;
  return missing >= 1 ? [...sides[0], ...new Array(missing).fill(0), ...sides[1]] : null;
}

/** {family, text, key} for an IP address (key: a canonical form for comparing), else null. */
function parseIp(token) {
  const text = token.replace(/^\[|\]$/g, "");
  if (IPV4.test(text)) return { family: 4, text, key: text, bytes: text.split(".").map(Number) };
  if (!text.includes(":")) return null;
  const hextets = ipv6Hextets(text);
  if (hextets === null) return null;
  return { family: 6, text: text.toLowerCase(), key: hextets.map((x) => x.toString(16)).join(":"), hextets };
}

function isPublic(ip) {
  if (ip.family === 4) {
    const [a, b] = ip.bytes;
    return !(a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || a >= 224);
  }
  const [first] = ip.hextets;
  const unspecifiedOrLoopback = ip.hextets.slice(0, 7).every((x) => x === 0);
  return !(unspecifiedOrLoopback || (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00);
}

/** The IP addresses named in one candidate line (address, raddr), masked ones left out. */
export function addressesInCandidate(line) {
  const found = [];
  for (const token of line.split(/\s+/)) {
    const ip = parseIp(token);
    if (ip !== null && ip.key !== "0.0.0.0" && ip.key !== "0:0:0:0:0:0:0:0") found.push(ip);
  }
  return found;
}

/** The verdict for the harvested addresses against the web server's view. */
export function compareWithWebAddress(harvested, webAddress) {
  const ips = [...new Set(harvested.map((ip) => ip.text))];
  const publicIps = [...new Set(harvested.filter(isPublic).map((ip) => ip.text))];
  const base = { ips, publicIps, webAddress: webAddress ?? null };
  if (publicIps.length === 0) return { isBot: false, reason: "NO_PUBLIC_IP", ...base };
  const web = webAddress ? parseIp(String(webAddress)) : null;
  if (web === null) return { isBot: false, reason: "NO_WEB_ADDRESS", ...base };
  const comparable = harvested.filter((ip) => isPublic(ip) && ip.family === web.family);
  if (comparable.length === 0) return { isBot: false, reason: "NO_COMPARABLE_IP", ...base };
  if (comparable.some((ip) => ip.key === web.key)) return { isBot: false, reason: "IP_MATCH", ...base };
  return { isBot: true, reason: "IP_MISMATCH", ...base };
}

export default function detectIpMismatch(callback, page) {
  const webAddress = page ? page.webAddress : null;
  const iceServers = (page && page.iceServers) || DEFAULT_ICE_SERVERS;
  return new Promise((resolve) => {
    const harvested = [];
    let settled = false;
    let pc = null;
    let timer = null;

    const finish = (verdict) => {
      if (settled) return;
      settled = true;
      if (timer !== null) clearTimeout(timer);
      if (pc !== null) {
        try { pc.close(); } catch { /* already closed */ }
      }
      resolve(verdict);
    };
    const compare = () => finish(compareWithWebAddress(harvested, webAddress));
    const setupFailed = (err) =>
      finish({ isBot: true, reason: "WEBRTC_SETUP_FAILED", error: (err && err.name) || String(err), ips: [] });

    if (typeof globalThis.RTCPeerConnection !== "function") {
      finish({ isBot: true, reason: "WEBRTC_MISSING", ips: [] });
      return;
    }
    try {
      pc = new globalThis.RTCPeerConnection({ iceServers });
    } catch (err) {
      setupFailed(err);
      return;
    }
    pc.onicecandidate = (event) => {
      if (!event.candidate) {
        compare();
      } else if (event.candidate.candidate) {
        harvested.push(...addressesInCandidate(event.candidate.candidate));
      }
    };
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === "complete") compare();
    };
    timer = setTimeout(compare, GATHER_WAIT_MS);
    try {
      pc.createDataChannel("");
      pc.createOffer().then((offer) => pc.setLocalDescription(offer)).catch(setupFailed);
    } catch (err) {
      setupFailed(err);
    }
  });
}
