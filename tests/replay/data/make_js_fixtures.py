"""Regenerate the JS-runner fixture documents from real `icesim gather` runs (loopback only).

    PYTHONPATH=$PWD python tests/replay/data/make_js_fixtures.py

The documents follow icesim/js/README.md (icesim.replay/1). The browser rules that the Python
document builder (icesim/replay) owns are approximated here only as far as the runner tests need
them: the offer is the final SDP without candidates, localDescription grows by one a=candidate
line per candidate, and each candidate gets a Chromium-shaped local-candidate stats entry.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent

RUNS = {
    "chrome_stun": ["--seed", "7"],
    "firefox_stun": ["--browser", "firefox", "--seed", "7"],
    "chrome_701": ["--seed", "7", "--block-udp", "--time-scale", "200"],
}
TIMINGS = {"chrome": (12.6, 0.4), "firefox": (40.0, 1.0)}  # offer_ms, sld_ms as in the captures


def gather(args: list[str]) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "icesim", "gather", "--sdp", *args],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def offer_of(final_sdp: str) -> str:
    lines = [ln for ln in final_sdp.split("\r\n") if not ln.startswith(("a=candidate:", "a=end-of-candidates"))]
    lines = [("m=" + " ".join([ln[2:].split(" ")[0], "9", *ln[2:].split(" ")[2:]]) if ln.startswith("m=") else ln)
             for ln in lines]
    return "\r\n".join(("c=IN IP4 0.0.0.0" if ln.startswith("c=IN IP4") else ln) for ln in lines)


def with_candidates(offer: str, lines: list[str]) -> str:
    out = []
    for ln in offer.split("\r\n"):
        if ln.startswith("a=ice-ufrag") and lines:
            out.extend("a=" + c for c in lines)
        out.append(ln)
    return "\r\n".join(out)


def stats_entry(index: int, cand: dict) -> dict:
    return {"id": f"I{index:08d}", "type": "local-candidate", "address": cand["address"],
            "candidateType": cand["type"], "foundation": cand["foundation"], "ip": cand["address"],
            "isRemote": False, "networkType": "unknown", "port": cand["port"],
            "priority": cand["priority"], "protocol": cand["protocol"], "transportId": "T01",
            "usernameFragment": cand["usernameFragment"]}


def document(name: str, lines: list[dict]) -> dict:
    meta = lines[0]
    family = meta["browser"].split("@")[0]
    final = next(ln["sdp"] for ln in lines if ln["type"] == "localdescription")
    events = [ln for ln in lines if ln["type"] not in ("meta", "localdescription")]
    offer = offer_of(final)
    local_descriptions: list = [[-1, offer]]
    stats: list = []
    seen: list[str] = []
    for i, event in enumerate(events):
        cand = event.get("candidate") if event["type"] == "icecandidate" else None
        if cand and cand["candidate"]:
            seen.append(cand["candidate"].replace(" ufrag " + str(cand["usernameFragment"]), ""))
            local_descriptions.append([i, with_candidates(offer, seen)])
            stats.append([i, stats_entry(i, cand)])
    offer_ms, sld_ms = TIMINGS[family]
    ua = ("Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0" if family == "firefox"
          else "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
    return {"schema": "icesim.replay/1", "session_id": name, "label": None, "scenario": None, "profile": None,
            "browser": meta["browser"], "family": family, "user_agent": ua, "web_address": "203.0.113.7",
            "webrtc": "available", "offer_sdp": offer, "offer_ms": offer_ms, "sld_ms": sld_ms,
            "events": events, "local_descriptions": local_descriptions, "stats": stats}


def main() -> None:
    for name, args in RUNS.items():
        doc = document(name, gather(args))
        (HERE / f"js_{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(name, len(doc["events"]), "events")


if __name__ == "__main__":
    main()
