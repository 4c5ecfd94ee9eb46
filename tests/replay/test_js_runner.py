"""replay-runner.mjs: detector kinds, how a session settles, job errors, JSON-safe values, speed."""

from __future__ import annotations

import json
import time

import pytest
from js_helpers import fixture_doc, needs_node, replay, run_node, write_detector

pytestmark = needs_node

FIRST_CANDIDATE_TYPE = """
  const pc = new RTCPeerConnection();
  pc.createDataChannel("");
  pc.createOffer().then((o) => pc.setLocalDescription(o));
"""


@pytest.mark.parametrize("name, source, export", [
    ("esm.mjs", "export default function (cb, page) { return Promise.resolve(page.webAddress); }", None),
    ("named.js", "import { helper } from './helper.mjs';\n"
                 "export function detect(cb, page) { return helper(page.webAddress); }", "detect"),
    ("cjs.js", "module.exports = function (cb, page) { cb(page.webAddress); };", None),
    ("cjs_named.cjs", "exports.detect = (cb, page) => page.webAddress;", "detect"),
    ("classic.js", "function helper(x) { return x; }\nfunction detect(cb, page) { cb(helper(page.webAddress)); }",
     "detect"),
    ("single.js", "function detect(cb, page) { setTimeout(() => cb(page.webAddress), 10); }", None),
])
def test_detector_kinds(tmp_path, name, source, export):
    (tmp_path / "helper.mjs").write_text("export const helper = async (x) => x;")
    detector = write_detector(tmp_path, source, name)
    job = {"export": export} if export else {}
    (result,) = replay(detector, [fixture_doc("chrome_stun")], **job)
    assert result["value"] == "203.0.113.7"
    assert result["status"] in ("resolved", "callback", "returned")
    assert result["errors"] == []


SETTLE = r"""
function settle(callback, page) {
  const mode = page.sessionId;
  if (mode === "callback") setTimeout(() => callback({ via: "callback" }), 5);
  if (mode === "resolved") return new Promise((r) => setTimeout(() => r(7), 5));
  if (mode === "rejected") return Promise.reject(new TypeError("nope"));
  if (mode === "returned") return 0;
  if (mode === "threw") throw new RangeError("sync");
  if (mode === "first-wins") { callback("callback first"); return Promise.resolve("late"); }
  if (mode === "idle") { """ + FIRST_CANDIDATE_TYPE + r""" return; }
  if (mode === "forever") { setInterval(() => {}, 1000); return new Promise(() => {}); }
}
"""


def test_how_a_session_settles(tmp_path):
    modes = ["callback", "resolved", "rejected", "returned", "threw", "first-wins", "idle", "forever"]
    docs = [fixture_doc("chrome_stun", session_id=m) for m in modes]
    results = {r["session_id"]: r for r in replay(write_detector(tmp_path, SETTLE), docs, max_ms=30000)}
    assert {m: results[m]["status"] for m in modes} == {
        "callback": "callback", "resolved": "resolved", "rejected": "rejected", "returned": "returned",
        "threw": "threw", "first-wins": "callback", "idle": "unsettled", "forever": "unsettled"}
    assert results["callback"]["value"] == {"via": "callback"} and results["callback"]["settled_ms"] == 5
    assert results["resolved"]["value"] == 7
    assert results["rejected"]["value"] == {"name": "TypeError", "message": "nope"}
    assert results["returned"]["value"] == 0 and results["returned"]["settled_ms"] == 0
    assert results["threw"]["value"] == {"name": "RangeError", "message": "sync"}
    assert results["first-wins"]["value"] == "callback first"
    # Nothing left to run once the replay ended: unsettled at the last event's time.
    last = fixture_doc("chrome_stun")["events"][-1]["t"]
    assert results["idle"]["settled_ms"] == pytest.approx(last, abs=0.1)
    # A page that keeps a timer alive is cut at max_ms of browser time.
    assert results["forever"]["settled_ms"] == 30000


def test_top_level_failure_is_reported_per_session(tmp_path):
    detector = write_detector(tmp_path, "function detect() { return 1; }\nundefinedThing();")
    (result,) = replay(detector, [fixture_doc("chrome_stun")], export="detect")
    assert result["status"] == "threw"
    assert result["value"] == {"name": "ReferenceError", "message": "undefinedThing is not defined"}


@pytest.mark.parametrize("name, source, line", [
    ("bad.js", "function detect() {\n  return 1 +;\n}\n", 2),
    ("bad.mjs", "export default function () {\n\n  let x = ;\n}\n", 3),
    ("bad_esm.js", "import { a } from './a.mjs';\nexport function d() {\n  return a +;\n}\n", 3),
])
def test_a_syntax_error_fails_the_job_with_one_line(tmp_path, name, source, line):
    detector = write_detector(tmp_path, source, name)
    proc = run_node({"detector": str(detector)}, [fixture_doc("chrome_stun")])
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"detector: {detector}:{line}: ")
    assert "Unexpected token" in lines[0]


def test_a_missing_export_fails_the_job_naming_the_functions(tmp_path):
    detector = write_detector(tmp_path, "function alpha() {}\nfunction beta() {}\n")
    proc = run_node({"detector": str(detector), "export": "gamma"}, [fixture_doc("chrome_stun")])
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f'detector: {detector}: no function "gamma"; functions found: alpha, beta'
    proc = run_node({"detector": str(detector)}, [])
    assert proc.returncode == 2
    assert "functions found: alpha, beta; pass --export NAME" in proc.stderr


def test_bad_job_and_document_lines(tmp_path):
    detector = write_detector(tmp_path, "function detect() { return 1; }")
    proc = run_node({"detector": str(detector), "clock": "fast"}, [])
    assert proc.returncode == 2 and proc.stderr.strip() == 'runner: job: "clock" must be "virtual" or "real", got "fast"'
    proc = run_node({"detector": str(tmp_path / "nope.js")}, [])
    assert proc.returncode == 2 and proc.stderr.startswith("detector: ") and "cannot read" in proc.stderr
    # A broken document line still yields its result line, in order.
    import subprocess
    from js_helpers import NODE, RUNNER
    lines = [json.dumps({"detector": str(detector)}), "{not json", json.dumps(fixture_doc("chrome_stun"))]
    proc = subprocess.run([NODE, "--experimental-vm-modules", "--no-warnings", str(RUNNER)],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["status"] for r in results] == ["threw", "returned"]


VALUES = r"""
function values(callback) {
  const cyclic = { name: "loop" };
  cyclic.self = cyclic;
  callback({
    set: new Set(["10.0.0.1", "203.0.113.7"]), map: new Map([["a", 1], ["b", new Set([2])]]),
    error: new DOMException("gone", "InvalidStateError"), cyclic, big: 12345678901234567890n,
    fn: function named() {}, undef: undefined, nan: NaN, date: new Date(0), nested: [undefined, () => 1],
    candidate: new RTCIceCandidate({ candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host", sdpMid: "0" }),
  });
}
"""


def test_values_are_made_json_safe(tmp_path):
    (result,) = replay(write_detector(tmp_path, VALUES), [fixture_doc("chrome_stun")])
    assert result["value"] == {
        "set": ["10.0.0.1", "203.0.113.7"], "map": {"a": 1, "b": [2]},
        "error": {"name": "InvalidStateError", "message": "gone"},
        "cyclic": {"name": "loop", "self": "[Circular]"}, "big": "12345678901234567890",
        "nan": None, "date": "1970-01-01T00:00:00.000Z", "nested": [None, None],
        # Chromium's toJSON of a page-made candidate: no null sdpMLineIndex, "" ufrag (capture).
        "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "usernameFragment": ""},
    }


CONSOLE = r"""
function talk(callback, page) {
  console.log("Found IP:", "10.0.0.1");
  console.warn("Potential Bot Detected:", { isBot: true });
  for (let i = 0; i < 10; i++) console.log("line", i);
  let pinged = 0;
  window.addEventListener("ping", () => pinged++);
  window.dispatchEvent(new Event("ping"));
  callback(navigator.userAgent === page.userAgent && window === globalThis && self === window && pinged === 1
           && window instanceof EventTarget && Object.prototype.toString.call(window) === "[object Window]");
}
"""


def test_console_is_captured_up_to_the_limit(tmp_path):
    (result,) = replay(write_detector(tmp_path, CONSOLE), [fixture_doc("chrome_stun")], console=3)
    assert result["value"] is True
    assert result["console"] == ["Found IP: 10.0.0.1", "warn: Potential Bot Detected: { isBot: true }", "line 0"]


TIMERS = r"""
function timers(callback) {
  const order = [];
  setTimeout(() => order.push("b@" + performance.now()), 10);
  setTimeout(() => {
    order.push("a@" + performance.now());
    setTimeout(() => order.push("c@" + performance.now()), 0);   // after b, already due at 10
  }, 10);
  clearTimeout(987654);                                          // unknown id: no-op
  const cancelled = setTimeout(() => order.push("never"), 5);
  clearTimeout(cancelled);
  let ticks = 0;
  const interval = setInterval(() => { if (++ticks === 3) clearInterval(interval); }, 100);
  let depth = 0;
  const nest = () => { if (++depth < 8) setTimeout(nest, 0); else order.push("nested@" + performance.now()); };
  setTimeout(nest, 0);
  setTimeout(() => callback({ order, ticks, t: performance.now(), now: Date.now() - performance.timeOrigin }), 1000);
}
"""


def test_virtual_timers_follow_html_rules(tmp_path):
    (result,) = replay(write_detector(tmp_path, TIMERS), [fixture_doc("chrome_stun")])
    value = result["value"]
    # Nested zero timers are clamped to 4 ms from the 5th level on (HTML timer steps).
    # b and a are due at 10 in creation order; c, created at 10 with 0 ms, runs after them; the
    # nested chain runs at 0 five times, then 4 ms apart: its 8th call is at 12.
    assert value["order"] == ["b@10", "a@10", "c@10", "nested@12"]
    assert value["ticks"] == 3 and value["t"] == 1000 and value["now"] == 1000


def test_a_40_second_session_replays_in_virtual_time(tmp_path):
    doc = fixture_doc("chrome_701")
    source = r"""
    function waitForError(callback) {
      const pc = new RTCPeerConnection();
      pc.onicecandidateerror = (e) => callback({ code: e.errorCode, text: e.errorText, t: performance.now() });
      pc.createDataChannel("");
      pc.createOffer().then((o) => pc.setLocalDescription(o));
    }"""
    started = time.perf_counter()
    (result,) = replay(write_detector(tmp_path, source), [doc])
    wall = time.perf_counter() - started
    error = next(e for e in doc["events"] if e["type"] == "icecandidateerror")
    assert result["value"] == {"code": 701, "text": "STUN binding request timed out.",
                               "t": pytest.approx(error["t"], abs=0.1)}
    assert result["settled_ms"] > 39000
    print(f"\n40 s session: {wall * 1000:.0f} ms of wall time including node start-up")


def test_real_clock_mode_runs_the_same_timeline(tmp_path):
    detector = write_detector(tmp_path, "function d(cb) {" + FIRST_CANDIDATE_TYPE
                              + "pc.onicecandidate = (e) => { if (!e.candidate) cb(performance.now()); }; }")
    doc = fixture_doc("chrome_stun")
    started = time.perf_counter()
    (result,) = replay(detector, [doc], clock="real")
    wall_ms = (time.perf_counter() - started) * 1000
    assert result["status"] == "callback"
    assert result["value"] == pytest.approx(doc["events"][-1]["t"], abs=0.1)
    assert wall_ms >= doc["events"][-1]["t"]  # it really waited


def test_the_benchmark_runs_and_prints_its_figures():
    import subprocess
    from js_helpers import NODE, ROOT
    proc = subprocess.run([NODE, "--experimental-vm-modules", "--no-warnings", str(ROOT / "icesim/js/replay-bench.mjs"),
                           "20"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.strip().splitlines()
    assert first.startswith("40 s session: settled at 39895.8 ms of browser time in ")
    assert second.startswith("throughput: 20 sessions in ")
    print("\n" + proc.stdout)


STACKS = r"""
function stacks(callback) {
  const out = {};
  const pc = new RTCPeerConnection();
  pc.onicecandidate = function onCandidate() { if (!out.handler) out.handler = new Error("in handler").stack; };
  setTimeout(function later() { out.timer = new Error("in timer").stack; }, 5);
  try { RTCPeerConnection.prototype.createOffer.call({}); } catch (e) { out.illegal = e.stack; }
  try { new RTCPeerConnection(5); } catch (e) { out.config = e.stack; }
  pc.createDataChannel("");
  pc.createOffer().then((o) => pc.setLocalDescription(o));
  setTimeout(() => callback(out), 1000);
}
"""


def test_stacks_show_only_the_page_frames(tmp_path):
    detector = write_detector(tmp_path, STACKS)
    (result,) = replay(detector, [fixture_doc("chrome_stun")])
    value = result["value"]
    # As in a browser: no frame of the WebRTC implementation, the timers or the event dispatch.
    assert value == {
        "illegal": f"TypeError: Illegal invocation\n    at stacks ({detector}:7:49)",
        "config": "TypeError: Failed to construct 'RTCPeerConnection': The provided value is not of type "
                  f"'RTCConfiguration'.\n    at stacks ({detector}:8:9)",
        "handler": f"Error: in handler\n    at RTCPeerConnection.onCandidate ({detector}:5:80)",
        "timer": f"Error: in timer\n    at later ({detector}:6:45)",
    }


PAGE_CLOCK = """
function detect(cb) {
  const atCall = performance.now();
  setTimeout(() => cb({ atCall, atTimer: performance.now() }), 2000);
}
"""


@pytest.mark.parametrize("page_ms", [None, 0.0, 731.4])
def test_the_page_has_been_loading_for_page_ms_when_the_detector_runs(tmp_path, page_ms):
    doc = fixture_doc("chrome_stun")
    doc.pop("page_ms", None)
    if page_ms is not None:
        doc["page_ms"] = page_ms
    (result,) = replay(write_detector(tmp_path, PAGE_CLOCK), [doc])
    start = page_ms or 0.0
    assert result["value"]["atCall"] == pytest.approx(start)
    assert result["value"]["atTimer"] == pytest.approx(start + 2000.0)
    assert result["settled_ms"] == pytest.approx(2000.0)  # counted from the call, not the page's start
