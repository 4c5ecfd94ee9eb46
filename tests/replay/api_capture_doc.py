"""The API captures (tests/data/*/api/) as data: loading, and a replay document built from one.

Why: the captures are the ground truth for the replay module (icesim/js); a replay document
made from a capture's own events lets the module replay exactly what the browser did, so any
difference between the module's page-side behaviour and the capture is the module's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
BROWSERS = {"chromium156": ("chrome@156", "chrome"), "firefox": ("firefox@153", "firefox")}
# The three event types a replay document carries (icesim/js/README.md); the module makes
# signalingstatechange / negotiationneeded itself.
REPLAYED = ("icegatheringstatechange", "icecandidate", "icecandidateerror")
# Stats entries the document leaves out: data-channel entries are the page's own channels, the
# module's to report (icesim/js/README.md). Chrome's certificate is the capture's own (its DER
# hashes to the capture's SDP fingerprint), as a dataset's document carries the replay's.
NOT_IN_DOCUMENT = ("data-channel",)
ERROR_FIELDS = ("address", "port", "url", "errorCode", "errorText", "hostCandidate")


def capture_files() -> list[Path]:
    return sorted(p for b in BROWSERS for p in (DATA / b / "api").glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def family_dir(path: Path) -> str:
    return path.parent.parent.name


def events(capture: dict) -> list[dict]:
    """The main run's pc events, in dispatch order."""
    return [e for e in capture["main"]["log"] if e["kind"] == "event"]


def call_t(capture: dict, kind: str, method: str) -> float | None:
    for e in capture["main"]["log"]:
        if e["kind"] == kind and e.get("method") == method:
            return e["t"]
    return None


def start_t(capture: dict) -> float:
    """The document's time origin: the createOffer() call of a page that calls
    setLocalDescription() as soon as the offer resolves (the contract's timeline; the module
    shifts it when a page calls SLD late). A capture whose page waited before SLD (sldDelay)
    has that wait taken out; implicit: the SLD call."""
    sld = call_t(capture, "call", "setLocalDescription")
    offer_call, offer_resolve = call_t(capture, "call", "createOffer"), call_t(capture, "resolve", "createOffer")
    if offer_call is None:
        return sld
    return sld - (offer_resolve - offer_call)


def candidate_lines(sdp: str) -> list[str]:
    """The SDP's a=candidate lines, without " ufrag X" (Chrome's SDP lines omit it)."""
    return [sdp_form(line) for line in re.findall(r"^a=candidate:[^\r\n]*", sdp, flags=re.M)]


def sdp_form(line: str) -> str:
    return re.sub(r" ufrag \S+", "", line)


def event_dict(e: dict, t0: float) -> dict:
    t = round(max(0.0, e["t"] - t0), 1)
    if e["type"] == "icegatheringstatechange":
        return {"type": e["type"], "t": t, "state": e["iceGatheringState"]}
    if e["type"] == "icecandidate":
        return {"type": e["type"], "t": t, "candidate": e["candidate"] and dict(e["candidate"]["attributes"])}
    return {"type": e["type"], "t": t, **{k: e["error"][k] for k in ERROR_FIELDS if k in e["error"]}}


def first_listed(cap: dict, key: str) -> int:
    """The replayed event from which getStats() lists entry `key` ("type:id"): the index into
    the document's events of the first event whose awaited report held it (-1: already at an
    event before the first replayed one, i.e. from setLocalDescription() on)."""
    index = -1
    last = -1
    for e in events(cap):
        if e["type"] in REPLAYED:
            index += 1
            last = index
        if key in (e.get("stats") or {}).get("ids", []):
            return index
    return last


def replay_document(path: Path) -> dict:
    """A replay document (icesim.replay/1) that replays this capture's main run."""
    cap = load(path)
    browser, family = BROWSERS[family_dir(path)]
    t0 = start_t(cap)
    log = cap["main"]["log"]
    replayed = [e for e in events(cap) if e["type"] in REPLAYED]
    sld_resolve = next(e for e in log if e["kind"] == "resolve" and e["method"] == "setLocalDescription")
    first_sdp = sld_resolve["state"]["localDescription"]["sdp"]
    offer = cap["main"].get("offer")
    local_descriptions = [[-1, first_sdp]]
    for i, e in enumerate(replayed):
        sdp = e["state"]["localDescription"]["sdp"]
        if sdp != local_descriptions[-1][1]:
            local_descriptions.append([i, sdp])
    stats = [[first_listed(cap, f"{e['type']}:{e['id']}"), {k: e[k] for k in e["_keysInOrder"] if k != "timestamp"}]
             for e in cap["main"]["statsAtEnd"]["entries"] if e["type"] not in NOT_IN_DOCUMENT]
    offer_call = call_t(cap, "call", "createOffer")
    return {
        "schema": "icesim.replay/1", "session_id": f"{family_dir(path)}-{path.stem}", "label": None,
        "scenario": path.stem, "profile": None, "browser": browser, "family": family,
        "user_agent": cap["userAgent"], "web_address": None, "webrtc": "available",
        "offer_sdp": offer["sdp"] if offer else first_sdp,
        "offer_ms": round(call_t(cap, "resolve", "createOffer") - offer_call, 1) if offer else 0.0,
        "sld_ms": round(sld_resolve["t"] - call_t(cap, "call", "setLocalDescription"), 1),
        "events": [event_dict(e, t0) for e in replayed],
        "local_descriptions": local_descriptions,
        "stats": stats,
    }
