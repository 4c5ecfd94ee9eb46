"""The API captures (tests/data/*/api/, tools/capture_api.py) are self-consistent, and the
replay module (icesim/js/icesim-webrtc.mjs) behaves as they show.

Why: tests/data/API_FACTS.md and the replay module rest on these files; a capture that
contradicts itself (a candidate whose stats entry disagrees with it, an SDP missing the
candidate just announced) would teach the module wrong facts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import api_compare
from api_compare import unlisted_candidates
from api_known import KNOWN, known_item
from api_capture_doc import (BROWSERS, capture_files, candidate_lines, events, family_dir, load,
                             replay_document, sdp_form)

FILES = capture_files()
IDS = [f"{family_dir(p)}/{p.stem}" for p in FILES]
CHROME = "chromium156"

pytestmark = pytest.mark.skipif(not FILES, reason="no API captures under tests/data/*/api")


@pytest.fixture(params=FILES, ids=IDS)
def capture(request):
    return request.param, load(request.param)


def candidates(cap: dict) -> list[dict]:
    return [e["candidate"]["attributes"] for e in events(cap)
            if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["attributes"]["candidate"]]


def local_candidate_stats(cap: dict) -> list[dict]:
    return [s for s in cap["main"]["statsAtEnd"]["entries"] if s["type"] == "local-candidate"]


def test_each_candidate_has_its_stats_entry(capture):
    """Every candidate event has a local-candidate entry with the same attributes (Chrome
    blanks the address of mDNS hosts in stats; Firefox reports a TCP host's real port)."""
    path, cap = capture
    chrome = family_dir(path) == CHROME
    stats = local_candidate_stats(cap)
    for c in candidates(cap):
        real_port = chrome or c["protocol"] == "udp"  # Firefox: TCP events say port 9
        same = [s for s in stats if s["foundation"] == c["foundation"] and s["priority"] == c["priority"]
                and s["protocol"] == c["protocol"] and s["candidateType"] == c["type"]
                and s["usernameFragment"] == c["usernameFragment"]
                and (s["port"] == c["port"] if real_port else c["port"] == 9 and s["port"] != 9)]
        # One entry per candidate; Firefox's TCP hosts of several m-lines look alike but for the port.
        assert len(same) == 1 or (same and not real_port), f"no single stats entry for {c['candidate']}"
        s = same[0]
        mdns = c["address"].endswith(".local")
        assert s["address"] == ("" if chrome and mdns else c["address"])
        if chrome:
            assert s["ip"] == s["address"]
            assert s.get("url") == (c["url"] or None)
            # Chrome's stats say "udp" where the candidate's relayProtocol is null (UDP relay).
            assert s.get("relayProtocol") == ((c["relayProtocol"] or "udp") if c["type"] == "relay" else None)
            related = (c["relatedAddress"], c["relatedPort"]) if c["type"] == "relay" else (None, None)
            assert (s.get("relatedAddress"), s.get("relatedPort")) == related
        else:
            assert "relayProtocol" not in c and "url" not in c  # Firefox has neither attribute
            assert ("relayProtocol" in s) == (c["type"] == "relay")
            assert "relatedAddress" not in s


def test_stats_at_each_event_hold_the_announced_candidates(capture):
    """getStats() awaited in an event handler lists every candidate announced so far."""
    _, cap = capture
    assert unlisted_candidates(cap["main"]["log"]) == []


def test_stats_field_sets_are_one_per_browser():
    """The local-candidate field set (in Object.keys order) is a per-browser fact: the same
    across all scenarios, optional fields only where API_FACTS.md says."""
    optional = {"tcpType", "url", "relatedAddress", "relatedPort", "relayProtocol"}
    for browser in BROWSERS:
        shapes = {tuple(k for k in s["_keysInOrder"] if k not in optional)
                  for p in FILES if family_dir(p) == browser for s in local_candidate_stats(load(p))}
        assert len(shapes) == 1, (browser, shapes)
        keys = shapes.pop()
        assert keys[:3] == ("id", "timestamp", "type")
        assert list(keys[3:]) == sorted(keys[3:])


def test_sdp_holds_each_candidate_when_announced(capture):
    """At the icecandidate event for the k-th candidate the local description holds k
    candidate lines, the last one that candidate's."""
    _, cap = capture
    seen = 0
    for e in events(cap):
        sdp = e["state"]["localDescription"] and e["state"]["localDescription"]["sdp"]
        if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["attributes"]["candidate"]:
            seen += 1
            line = sdp_form("a=" + e["candidate"]["attributes"]["candidate"])
            assert line in candidate_lines(sdp)
        if sdp is not None:
            assert len(candidate_lines(sdp)) == seen


def test_order_of_calls_promises_and_events(capture):
    """signalingstatechange fires before setLocalDescription() resolves, gathering starts after
    it, "complete" is followed by the null candidate and nothing else."""
    _, cap = capture
    order = [(e["kind"], e.get("method") or e.get("type")) for e in cap["main"]["log"]]
    resolved = order.index(("resolve", "setLocalDescription"))
    assert order.index(("event", "signalingstatechange")) < resolved
    assert order.index(("event", "icegatheringstatechange")) > resolved
    evs = events(cap)
    states = [e["iceGatheringState"] for e in evs if e["type"] == "icegatheringstatechange"]
    assert states == ["gathering", "complete"]
    last = evs[-2:]
    assert (last[0]["type"], last[0]["iceGatheringState"]) == ("icegatheringstatechange", "complete")
    assert last[1]["type"] == "icecandidate" and last[1]["candidate"] is None
    for e in evs:
        assert e["timeStamp"] <= e["tHandler"] + 1.0  # Firefox clamps both to 1 ms
        assert e["state"]["connectionState"] == e["state"]["iceConnectionState"] == "new"
        assert e["state"]["canTrickleIceCandidates"] is None


def test_states_at_each_step(capture):
    """iceGatheringState at each event follows the gathering events; descriptions as the
    facts say (pending = local, current null)."""
    _, cap = capture
    gathering = "new"
    for e in cap["main"]["log"]:
        if e["kind"] == "call":
            continue
        st = e["state"]
        if e.get("type") == "icegatheringstatechange":
            gathering = e["iceGatheringState"]
        assert st["iceGatheringState"] == gathering
        if st["signalingState"] == "have-local-offer":
            assert st["pendingLocalDescription"] == st["localDescription"]
            assert st["localDescription"]["type"] == "offer"
        assert st["currentLocalDescription"] is None


CLOSE_FILES = [p for p in FILES if load(p).get("close")]  # the captures made with a close() run


@pytest.mark.parametrize("path", CLOSE_FILES, ids=[f"{family_dir(p)}/{p.stem}" for p in CLOSE_FILES])
def test_nothing_fires_after_close(path):
    """close() right after the first candidate: no pc event after it, states closed but
    iceGatheringState kept, the after-close methods fail with InvalidStateError."""
    run = load(path)["close"]
    log = run["log"]
    closed = next(i for i, e in enumerate(log) if e["kind"] == "return" and e.get("method") == "close")
    assert not [e for e in log[closed:] if e["kind"] == "event"]
    st = log[closed]["state"]
    assert st["signalingState"] == st["connectionState"] == st["iceConnectionState"] == "closed"
    assert st["iceGatheringState"] == "gathering"
    for name in ("createOffer", "setLocalDescription()", "createDataChannel"):
        assert run["afterClose"][name]["error"]["name"] == "InvalidStateError"


def test_replay_document_follows_the_contract(capture):
    """The document built from a capture has the contract's keys and the capture's events."""
    path, cap = capture
    doc = replay_document(path)
    assert doc["family"] in ("chrome", "firefox")
    assert [e["type"] for e in doc["events"]] == [e["type"] for e in events(cap)
                                                  if e["type"] in ("icegatheringstatechange", "icecandidate", "icecandidateerror")]
    ts = [e["t"] for e in doc["events"]]
    assert ts == sorted(ts) and ts[0] >= doc["sld_ms"] - 1
    assert doc["local_descriptions"][0][0] == -1 and re.match(r"v=0\r\no=", doc["offer_sdp"])
    kinds = sorted(entry["type"] for _, entry in doc["stats"])
    assert kinds == sorted(e["type"] for e in cap["main"]["statsAtEnd"]["entries"]
                           if e["type"] != "data-channel")
    assert all(-1 <= i < len(doc["events"]) for i, _ in doc["stats"])


# --- the replay module against the captures ------------------------------------------------
# ICESIM_JS_MODULE points at another build of the module (e.g. a work in progress).
MODULE = Path(os.environ.get("ICESIM_JS_MODULE", api_compare.MODULE))
_probed: dict[Path, dict] = {}


def probe(path: Path) -> dict:
    if api_compare.node() is None:
        pytest.skip("node is not installed")
    if not (MODULE.exists() and (MODULE.parent / api_compare.RUNNER).exists()):
        pytest.skip(f"no replay module and runner at {MODULE.parent}")
    if path not in _probed:
        _probed[path] = api_compare.probe(path, MODULE)
    return _probed[path]


@pytest.fixture(params=FILES, ids=IDS)
def probed(request):
    """(browser, capture, the capture page's result when run as a detector by the replay
    runner on a replay of that capture)."""
    return family_dir(request.param), request.param.stem, load(request.param), probe(request.param)


@pytest.mark.parametrize("area", api_compare.AREAS)
def test_module_matches_capture(probed, area):
    """The module, replaying a capture, shows the page what the browser showed: API surface,
    constructor errors, call/event order and times, states, event objects, stats, close().
    Differences explained in API_FACTS.md are listed in api_known.py."""
    browser, scenario, cap, mod = probed
    assert not mod["_errors"], mod["_errors"][:3]
    differences = getattr(api_compare, f"area_{area}")(cap, mod)
    unexplained = [d for d in differences if known_item(browser, area, d, scenario) is None]
    assert unexplained == [], "\n".join(unexplained[:40])


def test_every_known_difference_still_occurs():
    """A known difference that no capture shows any more was fixed: drop its api_known entry
    (and its API_FACTS.md item)."""
    found = []
    for path in FILES:
        cap, mod = load(path), probe(path)
        found += [(family_dir(path), area, line, path.stem) for area in api_compare.AREAS
                  for line in getattr(api_compare, f"area_{area}")(cap, mod)]
    stale = [k for k in KNOWN if not any(k.covers(*f) for f in found)]
    assert stale == []
