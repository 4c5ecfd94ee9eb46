"""The RTCPeerConnection a replayed page sees: availability modes, close(), handlers, errors, shape."""

from __future__ import annotations

import pytest
from js_helpers import fixture_doc, needs_node, replay, write_detector

pytestmark = needs_node

# Seed document 000's logic: ICE error or silence within 2 s means bot.
SEED_A = r"""
function checkWebRTCBehavior() {
  return new Promise((resolve) => {
    const pc = new RTCPeerConnection({ iceServers: [{ urls: "stun:stun.example.org:19302" }] });
    pc.onicecandidateerror = (event) => {
      resolve({ isBot: true, reason: "ICE_CANDIDATE_ERROR", errorCode: event.errorCode });
      pc.close();
    };
    pc.onicecandidate = (event) => {
      if (!event.candidate) { resolve({ isBot: false, reason: "ICE_SUCCESS" }); pc.close(); }
    };
    setTimeout(() => {
      if (pc.connectionState !== "closed") { resolve({ isBot: true, reason: "ICE_TIMEOUT" }); pc.close(); }
    }, 2000);
    pc.createDataChannel("");
    pc.createOffer().then((offer) => pc.setLocalDescription(offer))
      .catch((err) => resolve({ isBot: true, reason: "WEBRTC_SETUP_FAILED", name: err.name }));
  });
}
"""


def without_candidates(doc: dict) -> dict:
    doc["events"] = [e for e in doc["events"] if e["type"] != "icecandidate"]
    return doc


def test_seed_a_verdicts_per_availability_mode(tmp_path):
    docs = [
        fixture_doc("chrome_stun"),
        fixture_doc("chrome_701"),
        fixture_doc("chrome_stun", webrtc="missing_api", events=[]),
        without_candidates(fixture_doc("chrome_stun", webrtc="stubbed_callback")),
        fixture_doc("chrome_stun", webrtc="setup_throws", events=[]),
    ]
    results = replay(write_detector(tmp_path, SEED_A), docs)
    assert [r["status"] for r in results] == ["resolved", "resolved", "rejected", "resolved", "resolved"]
    ok, timeout, missing, stubbed, throws = (r["value"] for r in results)
    assert ok == {"isBot": False, "reason": "ICE_SUCCESS"}
    assert timeout == {"isBot": True, "reason": "ICE_TIMEOUT"}  # the 701 comes at 39.9 s, after the 2 s
    assert missing == {"name": "TypeError", "message": "RTCPeerConnection is not a constructor"}
    assert stubbed == {"isBot": True, "reason": "ICE_TIMEOUT"}
    assert throws == {"isBot": True, "reason": "WEBRTC_SETUP_FAILED", "name": "InvalidStateError"}
    assert results[0]["settled_ms"] == pytest.approx(docs[0]["events"][-1]["t"], abs=0.1)
    assert results[1]["settled_ms"] == 2000


TAMPER_CHECK = r"""
function tamper(callback) {
  const desc = Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, "onicecandidate");
  const native = /\{\s*\[native code\]\s*\}$/;
  const pc = new RTCPeerConnection();
  const seen = [];
  pc.onicecandidate = (e) => seen.push("handler");
  pc.addEventListener("icecandidate", () => seen.push("listener"));
  pc.onicegatheringstatechange = () => seen.push(pc.iceGatheringState);
  pc.createDataChannel("");
  pc.createOffer().then((o) => pc.setLocalDescription(o));
  setTimeout(() => callback({
    setterNative: native.test(Function.prototype.toString.call(desc.set)),
    getterNative: native.test(Function.prototype.toString.call(
      Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, "onicegatheringstatechange").set)),
    typeofApi: typeof RTCPeerConnection, seen,
  }), 1000);
}
"""


def test_stubbed_callback_swallows_the_handler_and_looks_tampered(tmp_path):
    docs = [without_candidates(fixture_doc("chrome_stun", webrtc="stubbed_callback")), fixture_doc("chrome_stun")]
    stubbed, normal = replay(write_detector(tmp_path, TAMPER_CHECK), docs)
    assert stubbed["value"] == {"setterNative": False, "getterNative": True, "typeofApi": "function",
                                "seen": ["gathering", "complete"]}
    assert normal["value"]["setterNative"] is True
    assert normal["value"]["seen"].count("handler") == normal["value"]["seen"].count("listener") == 4


MISSING = r"""
function missing() {
  return { inWindow: "RTCPeerConnection" in window, value: String(window.RTCPeerConnection),
           webkit: String(window.webkitRTCPeerConnection), candidate: typeof RTCIceCandidate,
           event: typeof RTCPeerConnectionIceEvent };
}
"""


def test_missing_api_leaves_the_name_undefined_and_the_rest_defined(tmp_path):
    (result,) = replay(write_detector(tmp_path, MISSING), [fixture_doc("chrome_stun", webrtc="missing_api", events=[])])
    assert result["status"] == "returned"
    assert result["value"] == {"inWindow": True, "value": "undefined", "webkit": "undefined",
                               "candidate": "function", "event": "function"}


CLOSE_EARLY = r"""
function closeEarly(callback) {
  const pc = new RTCPeerConnection();
  const seen = [];
  pc.addEventListener("icecandidate", (e) => {
    seen.push(e.candidate && e.candidate.type);
    pc.close();
  });
  pc.onicegatheringstatechange = () => seen.push("state:" + pc.iceGatheringState);
  pc.createDataChannel("");
  pc.createOffer().then((o) => pc.setLocalDescription(o));
  setTimeout(async () => {
    const out = { seen, signaling: pc.signalingState, connection: pc.connectionState, ice: pc.iceConnectionState };
    try { pc.createDataChannel("again"); } catch (e) { out.sync = [e.name, e.message, e.code]; }
    await pc.createOffer().catch((e) => { out.offer = [e.name, e.message]; });
    await pc.setLocalDescription().catch((e) => { out.sld = e.name; });
    out.stats = (await pc.getStats()).size;
    callback(out);
  }, 5000);
}
"""


def test_close_stops_the_replay_and_later_calls_fail(tmp_path):
    (result,) = replay(write_detector(tmp_path, CLOSE_EARLY), [fixture_doc("chrome_stun")])
    value = result["value"]
    assert value["seen"] == ["state:gathering", "srflx"]  # nothing after close()
    assert (value["signaling"], value["connection"], value["ice"]) == ("closed", "closed", "closed")
    closed = "The RTCPeerConnection's signalingState is 'closed'."
    assert value["sync"] == ["InvalidStateError",
                             f"Failed to execute 'createDataChannel' on 'RTCPeerConnection': {closed}", 11]
    assert value["offer"] == ["InvalidStateError", f"Failed to execute 'createOffer' on 'RTCPeerConnection': {closed}"]
    assert value["sld"] == "InvalidStateError"
    assert result["errors"] == []


THROWING_HANDLER = r"""
function throwing(callback) {
  const pc = new RTCPeerConnection();
  let listened = 0;
  let reported = 0;
  window.onerror = () => { reported += 1; };
  pc.onicecandidate = (e) => { throw new Error("boom " + (e.candidate ? e.candidate.type : "end")); };
  pc.addEventListener("icecandidate", () => { listened += 1; });
  setTimeout(() => { throw new RangeError("from a timer"); }, 10);
  queueMicrotask(() => { null.x; });
  Promise.reject(new Error("nobody catches this"));
  pc.createDataChannel("");
  pc.createOffer().then((o) => pc.setLocalDescription(o));
  pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") setTimeout(() => callback({ listened, reported }), 100); };
}
"""


def test_exceptions_in_handlers_are_reported_and_the_replay_goes_on(tmp_path):
    doc = fixture_doc("chrome_stun")
    (result,) = replay(write_detector(tmp_path, THROWING_HANDLER), [doc])
    candidates = [e for e in doc["events"] if e["type"] == "icecandidate"]
    assert result["status"] == "callback"
    # The listener after the throwing handler saw every candidate; onerror saw every throw but
    # the unhandled rejection (a browser reports that as an unhandledrejection event).
    assert result["value"] == {"listened": len(candidates), "reported": len(candidates) + 2}
    errors = result["errors"]
    assert "RangeError: from a timer" in errors
    assert any(e.startswith("TypeError: Cannot read properties of null") for e in errors)
    assert "Uncaught (in promise) Error: nobody catches this" in errors
    booms = [e for e in errors if e.startswith("Error: boom")]
    assert booms == [f"Error: boom {c['candidate']['type'] if c['candidate'] else 'end'}" for c in candidates]


HANDLER_ORDER = r"""
function order(callback) {
  const pc = new RTCPeerConnection();
  const calls = [];
  const rounds = [];
  let round = 0;
  const a = () => calls.push("A");
  const b = () => calls.push("B");
  pc.addEventListener("icecandidate", a);
  pc.onicecandidate = () => calls.push("H1");
  pc.addEventListener("icecandidate", b);
  pc.addEventListener("icecandidate", b);              // a duplicate is ignored
  pc.addEventListener("icecandidate", () => calls.push("once"), { once: true });
  pc.addEventListener("icecandidate", () => {
    rounds.push(calls.splice(0).join(","));
    round += 1;
    if (round === 1) pc.onicecandidate = () => calls.push("H2");    // keeps H1's position
    if (round === 2) { pc.onicecandidate = null; pc.onicecandidate = () => calls.push("H3"); }  // moves last
    if (round === 3) { pc.removeEventListener("icecandidate", a); rounds.push("typeof:" + typeof pc.onicecandidate); }
  });
  pc.createDataChannel("");
  pc.createOffer().then((o) => pc.setLocalDescription(o));
  setTimeout(() => callback(rounds), 3000);
}
"""


def test_event_handler_keeps_the_position_where_it_was_first_set(tmp_path):
    (result,) = replay(write_detector(tmp_path, HANDLER_ORDER), [fixture_doc("chrome_stun")])
    # Round 3: H3 now runs after the recording listener, so its call lands in round 4's line.
    assert result["value"] == ["A,H1,B,once", "A,H2,B", "A,B", "typeof:function", "H3,B"]


SHAPE = r"""
function shape(callback) {
  const pc = new RTCPeerConnection();
  const nativeText = (f) => Function.prototype.toString.call(f);
  const out = {
    tag: Object.prototype.toString.call(pc), instanceOfObject: pc instanceof Object,
    eventTarget: pc instanceof EventTarget, ownKeys: Object.getOwnPropertyNames(pc),
    ctor: nativeText(RTCPeerConnection), toStringItself: nativeText(Function.prototype.toString),
    getter: nativeText(Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, "iceGatheringState").get),
    lengths: [RTCPeerConnection.length, RTCIceCandidate.length, RTCPeerConnectionIceEvent.length,
              RTCPeerConnectionIceErrorEvent.length, RTCPeerConnection.prototype.createDataChannel.length],
    enumerable: Object.keys(RTCPeerConnection.prototype).includes("createOffer"),
    noPrototype: !("prototype" in RTCPeerConnection.prototype.createOffer), timer: nativeText(setTimeout),
    protoState: Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, "connectionState").get !== undefined,
    dateNow: Date.now(), origin: performance.timeOrigin, isDate: new Date() instanceof Date,
  };
  try { RTCPeerConnection.prototype.createOffer.call({}); } catch (e) { out.illegal = e.message; }
  try { new RTCDataChannel(); } catch (e) { out.dataChannelCtor = e.message; }
  const dc = pc.createDataChannel("chan", { ordered: false, protocol: "p" });
  out.channel = [dc.label, dc.ordered, dc.id, dc.readyState, dc.protocol, dc.negotiated, dc.binaryType,
                 dc.bufferedAmount, Object.prototype.toString.call(dc), dc instanceof EventTarget];
  pc.onicecandidate = (e) => {
    if (!e.candidate) return;
    out.event = [Object.prototype.toString.call(e), e instanceof Event, e.isTrusted, e.type, e.target === pc,
                 Object.getOwnPropertyNames(e), "url" in e];
    out.candidate = [Object.prototype.toString.call(e.candidate), Object.keys(e.candidate.toJSON()),
                     Object.getOwnPropertyNames(e.candidate), "relayProtocol" in e.candidate];
    pc.onicecandidate = null;
  };
  pc.createOffer().then((offer) => {
    out.offer = [Object.prototype.toString.call(offer), Object.keys(offer.toJSON ? offer.toJSON() : offer)];
    return pc.setLocalDescription(offer);
  });
  setTimeout(() => callback(out), 1000);
}
"""


def test_interfaces_look_native_and_belong_to_the_page_realm(tmp_path):
    (chrome, firefox) = replay(write_detector(tmp_path, SHAPE),
                               [fixture_doc("chrome_stun"), fixture_doc("firefox_stun")])
    value = chrome["value"]
    assert value["tag"] == "[object RTCPeerConnection]"
    assert value["instanceOfObject"] and value["eventTarget"] and value["ownKeys"] == []
    assert value["ctor"] == "function RTCPeerConnection() { [native code] }"
    assert value["toStringItself"] == "function toString() { [native code] }"
    assert value["getter"] == "function get iceGatheringState() { [native code] }"
    assert value["timer"] == "function setTimeout() { [native code] }"
    assert value["lengths"] == [0, 0, 1, 2, 1]
    assert value["enumerable"] and value["noPrototype"] and value["protoState"]
    assert value["dateNow"] == value["origin"] and value["isDate"]
    assert value["illegal"] == "Illegal invocation"
    assert value["dataChannelCtor"] == "Illegal constructor"
    assert value["channel"] == ["chan", False, None, "connecting", "p", False, "arraybuffer", 0,
                                "[object RTCDataChannel]", True]
    assert value["event"] == ["[object RTCPeerConnectionIceEvent]", True, True, "icecandidate", True,
                              ["isTrusted"], False]
    assert value["candidate"] == ["[object RTCIceCandidate]", ["candidate", "sdpMid", "sdpMLineIndex",
                                  "usernameFragment"], [], True]
    # createOffer resolves a plain Object in both browsers (captures), own keys in their order.
    assert value["offer"] == ["[object Object]", ["sdp", "type"]]
    # Firefox: natives print on three lines, createOffer resolves a plain object, the candidate
    # has no relayProtocol/url and toJSON orders sdpMLineIndex first (captures).
    ff = firefox["value"]
    assert ff["ctor"] == "function RTCPeerConnection() {\n    [native code]\n}"
    assert ff["offer"] == ["[object Object]", ["type", "sdp"]]
    assert ff["candidate"] == ["[object RTCIceCandidate]", ["candidate", "sdpMLineIndex", "sdpMid",
                               "usernameFragment"], [], False]
    assert ff["channel"][6] == "arraybuffer"


NATIVE_REALM_PAGE = r"""
import { installIcesim } from %(module)s;
const doc = JSON.parse(process.argv[2]);
const replay = installIcesim(globalThis, doc);   // real timers, the realm's own Event/EventTarget
const pc = new RTCPeerConnection();
const seen = [];
pc.onicecandidate = (e) => seen.push(e.candidate ? e.candidate.port : null);
pc.addEventListener("icegatheringstatechange", (e) => seen.push(pc.iceGatheringState + ":" + (e instanceof Event)));
pc.createDataChannel("");
pc.createOffer().then((offer) => pc.setLocalDescription(offer));
await replay.done;
console.log(JSON.stringify({ seen, tag: Object.prototype.toString.call(pc), eventTarget: pc instanceof EventTarget }));
"""


def test_module_in_a_realm_with_its_own_event_target_and_real_timers(tmp_path):
    # What a page gets (the realm's Event/EventTarget, real timers): Node's main realm stands in
    # for the browser. Events due at the same time still arrive in document order.
    import json
    import subprocess
    from js_helpers import NODE, ROOT
    doc = fixture_doc("chrome_stun")
    cands = [e for e in doc["events"] if e["type"] == "icecandidate" and e["candidate"]]
    for i, event in enumerate(cands):
        event["t"] = cands[0]["t"]
        event["candidate"]["port"] = 40000 + i
    script = tmp_path / "page.mjs"
    script.write_text(NATIVE_REALM_PAGE % {"module": json.dumps((ROOT / "icesim/js/icesim-webrtc.mjs").as_uri())})
    proc = subprocess.run([NODE, str(script), json.dumps(doc)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)
    assert value["seen"] == ["gathering:true"] + [40000 + i for i in range(len(cands))] + ["complete:true", None]
    assert value["tag"] == "[object RTCPeerConnection]" and value["eventTarget"] is True
