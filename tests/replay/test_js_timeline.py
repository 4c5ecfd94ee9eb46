"""The replay module's timeline as a detector sees it: order, virtual times, states, SDP, stats."""

from __future__ import annotations

import pytest
from js_helpers import event_indices, fixture_doc, needs_node, replay, write_detector

pytestmark = needs_node

# Records every event the page sees (handlers and listeners), the states at that moment, the
# localDescription's candidate count and a getStats() at 2000 ms; resolves at 2000 ms.
RECORDER = r"""
function record(callback) {
  const log = [];
  const pc = new RTCPeerConnection({ iceServers: [{ urls: "stun:stun.example.org:3478" }] });
  const snap = (kind, event) => {
    const desc = pc.localDescription;
    const entry = {
      kind, t: performance.now(), gathering: pc.iceGatheringState, signaling: pc.signalingState,
      connection: pc.connectionState, sdpCandidates: desc ? (desc.sdp.match(/a=candidate:/g) || []).length : null,
    };
    if (event && "candidate" in event) entry.candidate = event.candidate ? event.candidate.candidate : null;
    if (event && "errorCode" in event) entry.errorCode = event.errorCode;
    log.push(entry);
  };
  for (const type of ["icecandidate", "icecandidateerror", "icegatheringstatechange", "signalingstatechange",
                      "negotiationneeded"]) {
    pc.addEventListener(type, (event) => snap(type, event));
  }
  pc.onicecandidate = (event) => snap("onicecandidate", event);
  const statsBefore = pc.getStats().then((r) => [...r.values()].map((e) => e.type));
  pc.createDataChannel("");
  pc.createOffer().then((offer) => {
    snap("offer:" + offer.type);
    return pc.setLocalDescription(offer);
  }).then(() => snap("sld"));
  setTimeout(async () => {
    snap("timeout");
    const report = await pc.getStats();
    const stats = [];
    report.forEach((entry, id) => stats.push({ id, type: entry.type, address: entry.address, ts: entry.timestamp }));
    callback({ log, stats, statsBefore: await statsBefore, now: Date.now(), origin: performance.timeOrigin });
  }, 2000);
}
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    detector = write_detector(tmp_path_factory.mktemp("rec"), RECORDER)
    docs = [fixture_doc("chrome_stun"), fixture_doc("firefox_stun")]
    return dict(zip(["chrome", "firefox"], replay(detector, docs))), docs


def replayed(log):
    return [e for e in log if e["kind"] in ("icecandidate", "icecandidateerror", "icegatheringstatechange")]


@pytest.mark.parametrize("family", ["chrome", "firefox"])
def test_events_arrive_in_order_at_their_browser_times(recorded, family):
    results, docs = recorded
    doc = docs[0 if family == "chrome" else 1]
    result = results[family]
    assert result["status"] == "callback", result
    seen = replayed(result["value"]["log"])
    assert [e["kind"] for e in seen] == [e["type"] for e in doc["events"]]
    # The page called createOffer() at 0 ms: event i fires at t_i (whole ms in Firefox).
    step = 0.1 if family == "chrome" else 1
    for got, want in zip(seen, doc["events"]):
        assert want["t"] - step <= got["t"] <= want["t"], (got, want)
    # The callback follows getStats(): 1 ms (Chromium) / 3 ms (Gecko) after the timer.
    assert result["settled_ms"] == (2001 if family == "chrome" else 2003)


@pytest.mark.parametrize("family", ["chrome", "firefox"])
def test_states_follow_the_events(recorded, family):
    results, docs = recorded
    doc = docs[0 if family == "chrome" else 1]
    seen = replayed(results[family]["value"]["log"])
    state = "new"
    for got, want in zip(seen, doc["events"]):
        if want["type"] == "icegatheringstatechange":
            state = want["state"]
        assert got["gathering"] == state
        assert got["signaling"] == "have-local-offer"
        assert got["connection"] == "new"
        if want["type"] == "icecandidate":
            text = want["candidate"]["candidate"] if want["candidate"] else None
            assert got["candidate"] == text
        if want["type"] == "icecandidateerror":
            assert got["errorCode"] == want["errorCode"]


@pytest.mark.parametrize("family", ["chrome", "firefox"])
def test_local_description_switches_per_document(recorded, family):
    results, docs = recorded
    doc = docs[0 if family == "chrome" else 1]
    log = results[family]["value"]["log"]
    seen = replayed(log)
    counts = {i: sdp.count("a=candidate:") for i, sdp in doc["local_descriptions"]}
    current = counts[-1]
    for i, got in enumerate(seen):
        current = counts.get(i, current)
        assert got["sdpCandidates"] == current, (i, got)
    offer = next(e for e in log if e["kind"].startswith("offer:"))
    assert offer["kind"] == "offer:offer" and offer["sdpCandidates"] is None  # null until SLD resolves
    sld = next(e for e in log if e["kind"] == "sld")
    assert sld["sdpCandidates"] == counts[-1] and sld["signaling"] == "have-local-offer"


def test_promise_and_signalling_events_follow_the_capture_order(recorded):
    results, docs = recorded
    doc = docs[0]
    log = results["chrome"]["value"]["log"]
    kinds = [e["kind"] for e in log]
    # Chromium: negotiationneeded just before createOffer resolves, signalingstatechange just
    # before setLocalDescription resolves, gathering after it (shared/captures S3a).
    assert kinds[:4] == ["negotiationneeded", "offer:offer", "signalingstatechange", "sld"]
    times = {e["kind"]: e["t"] for e in log[:4]}
    assert times["offer:offer"] == pytest.approx(doc["offer_ms"], abs=0.1)
    assert times["sld"] == pytest.approx(doc["offer_ms"] + doc["sld_ms"], abs=0.1)
    # Gecko drops negotiationneeded when createOffer follows createDataChannel at once.
    assert "negotiationneeded" not in [e["kind"] for e in results["firefox"]["value"]["log"]]


def test_handler_and_listener_both_fire(recorded):
    log = recorded[0]["chrome"]["value"]["log"]
    kinds = [e["kind"] for e in log if e["kind"] in ("icecandidate", "onicecandidate")]
    assert kinds == ["icecandidate", "onicecandidate"] * (len(kinds) // 2)  # listener added first


@pytest.mark.parametrize("family", ["chrome", "firefox"])
def test_get_stats_reports_the_candidates_due(recorded, family):
    results, docs = recorded
    doc = docs[0 if family == "chrome" else 1]
    value = results[family]["value"]
    # Before createDataChannel/SLD: the peer-connection entry only (capture).
    assert value["statsBefore"] == ["peer-connection"]
    candidates = [s for s in value["stats"] if s["type"] == "local-candidate"]
    assert [s["id"] for s in candidates] == [entry["id"] for _, entry in doc["stats"]]
    assert [s["address"] for s in candidates] == [entry["address"] for _, entry in doc["stats"]]
    types = [s["type"] for s in value["stats"]]
    if family == "chrome":  # a map sorted by id: D1 (the data channel), I..., P, T01
        assert [s["id"] for s in value["stats"]] == sorted(s["id"] for s in value["stats"])
        assert types == ["data-channel"] + ["local-candidate"] * len(candidates) + ["peer-connection", "transport"]
        assert [value["stats"][0]["id"], value["stats"][-2]["id"], value["stats"][-1]["id"]] == ["D1", "P", "T01"]
    else:
        assert types == ["peer-connection", "data-channel"] + ["local-candidate"] * len(candidates) + ["transport"]
    # The module stamps epoch ms: the virtual wall clock when the report resolves.
    delay = 1 if family == "chrome" else 3
    for s in value["stats"]:
        assert s["ts"] == value["origin"] + 2000 + delay
    assert value["now"] == value["origin"] + 2000 + delay


GET_STATS_AT_FIRST_CANDIDATE = r"""
function statsEarly(callback) {
  const pc = new RTCPeerConnection();
  pc.onicecandidate = (event) => {
    if (!event.candidate || pc.onicecandidate === null) return;
    pc.onicecandidate = null;
    pc.getStats().then((report) => callback({ keys: [...report.values()].filter((e) => e.type === "local-candidate")
      .map((e) => e.id), t: performance.now() }));
  };
  pc.createDataChannel("x");
  pc.setLocalDescription();  // an implicit offer starts the replay too
}
"""


def test_get_stats_mid_replay_has_only_the_entries_so_far(tmp_path):
    doc = fixture_doc("chrome_stun")
    detector = write_detector(tmp_path, GET_STATS_AT_FIRST_CANDIDATE)
    (result,) = replay(detector, [doc])
    value = result["value"]
    first = event_indices(doc, "icecandidate")[0]
    # Resolved 1 ms after the call: the entries of the events up to then.
    due = [entry["id"] for i, entry in doc["stats"]
           if doc["events"][i]["t"] <= doc["events"][first]["t"] + 1]
    assert value["keys"] == due and len(due) >= 1
    # Implicit offer: the timeline is anchored at the setLocalDescription() call.
    assert value["t"] == pytest.approx(doc["events"][first]["t"] + 1, abs=0.11)


LATE_SLD = r"""
async function late(callback) {
  const pc = new RTCPeerConnection();
  const times = [];
  pc.onicegatheringstatechange = () => times.push(performance.now());
  pc.createDataChannel("");
  const offer = await pc.createOffer();
  await new Promise((r) => setTimeout(r, 500));
  await pc.setLocalDescription(offer);
  await new Promise((r) => setTimeout(r, 3000));
  return times;
}
"""


def test_a_late_set_local_description_shifts_the_whole_timeline(tmp_path):
    doc = fixture_doc("chrome_stun")
    (result,) = replay(write_detector(tmp_path, LATE_SLD), [doc])
    states = [e["t"] for e in doc["events"] if e["type"] == "icegatheringstatechange"]
    shift = 500  # SLD called 500 ms after createOffer resolved
    assert result["status"] == "resolved"
    assert result["value"] == pytest.approx([t + shift for t in states], abs=0.11)
