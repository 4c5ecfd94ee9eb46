// Benchmark of the replay runner: sessions per second, and the wall time of one 40 s session.
//
//   node --experimental-vm-modules --no-warnings icesim/js/replay-bench.mjs [SESSIONS]
//
// Prints two lines and exits 1 when a 40 s session (a 701 after 39.9 s of browser time) takes a
// second or more of wall time: the virtual clock must not wait for browser time.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RUNNER = path.join(HERE, "replay-runner.mjs");
const sessions = Number(process.argv[2] || 1000);

// Seed document 000's logic (ICE error or silence within 2 s means bot), waiting for the error.
const DETECTOR = `
function detect(callback) {
  const pc = new RTCPeerConnection({ iceServers: [{ urls: "stun:stun.example.org:3478" }] });
  const ips = new Set();
  pc.onicecandidateerror = (e) => callback({ error: e.errorCode, ips, t: performance.now() });
  pc.onicecandidate = (e) => {
    if (!e.candidate) { callback({ ips, t: performance.now() }); return; }
    const m = /([0-9]{1,3}(\\.[0-9]{1,3}){3})/.exec(e.candidate.candidate);
    if (m) ips.add(m[1]);
  };
  pc.createDataChannel("");
  pc.createOffer().then((o) => pc.setLocalDescription(o));
}`;

function candidate(address, port, type, priority) {
  return { candidate: `candidate:1 1 udp ${priority} ${address} ${port} typ ${type} generation 0 ufrag bnch network-cost 999`,
    sdpMid: "0", sdpMLineIndex: 0, foundation: "1", component: "rtp", priority, address, protocol: "udp", port,
    type, tcpType: null, relatedAddress: type === "host" ? null : "0.0.0.0", relatedPort: type === "host" ? null : 0,
    usernameFragment: "bnch", relayProtocol: null, url: type === "host" ? "" : "stun:stun.example.org:3478" };
}

function documentFor(index, dead) {
  const events = [{ type: "icegatheringstatechange", t: 21.3, state: "gathering" },
    { type: "icecandidate", t: 24.0, candidate: candidate("4d3c2b1a-0000-4000-8000-000000000001.local", 50000, "host", 2113937151) }];
  if (dead) {
    events.push({ type: "icecandidateerror", t: 39895.8, address: "0.0.0.x", port: 50000, url: "stun:stun.example.org:3478",
      errorCode: 701, errorText: "STUN binding request timed out.", hostCandidate: "0.0.0.x:50000" });
    events.push({ type: "icegatheringstatechange", t: 39899.2, state: "complete" }, { type: "icecandidate", t: 39900.2, candidate: null });
  } else {
    events.push({ type: "icecandidate", t: 40.5, candidate: candidate("203.0.113.50", 50000, "srflx", 1677729535) },
      { type: "icegatheringstatechange", t: 144.0, state: "complete" }, { type: "icecandidate", t: 145.0, candidate: null });
  }
  return { schema: "icesim.replay/1", session_id: `bench-${index}`, label: null, scenario: null, profile: null,
    browser: "chrome@156", family: "chrome", user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0",
    web_address: "203.0.113.50", webrtc: "available",
    offer_sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:bnch\r\na=mid:0\r\n",
    offer_ms: 12.6, sld_ms: 0.4, events, local_descriptions: [], stats: [] };
}

function run(docs, dir) {
  const detector = path.join(dir, "detector.js");
  fs.writeFileSync(detector, DETECTOR);
  const input = [JSON.stringify({ detector }), ...docs.map((d) => JSON.stringify(d))].join("\n") + "\n";
  const started = performance.now();
  const proc = spawnSync(process.execPath, ["--experimental-vm-modules", "--no-warnings", RUNNER],
    { input, encoding: "utf8", env: { ...process.env, ICESIM_RUNNER_STATS: "1" }, maxBuffer: 1 << 30 });
  const wallMs = performance.now() - started;
  if (proc.status !== 0) throw new Error(`runner exited ${proc.status}: ${proc.stderr}`);
  return { wallMs, results: proc.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line)), stats: proc.stderr.trim() };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ijs-bench-"));
try {
  const empty = run([], dir); // node start-up and detector check, subtracted below
  const single = run([documentFor(0, true)], dir);
  const [one] = single.results;
  const fortyMs = single.wallMs - empty.wallMs;
  console.log(`40 s session: settled at ${one.settled_ms} ms of browser time in ${fortyMs.toFixed(1)} ms of wall time`);
  const many = run(Array.from({ length: sessions }, (_, i) => documentFor(i, i % 2 === 0)), dir);
  console.log(many.stats.replace(/^runner: /, "throughput: "));
  if (!(one.settled_ms > 39000) || fortyMs >= 1000) {
    console.error("FAIL: a 40 s session must replay in under 1 s of wall time");
    process.exit(1);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
