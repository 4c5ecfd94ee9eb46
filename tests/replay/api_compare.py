"""Compare the replay module's page-side behaviour with a browser's API capture.

Why: the module (icesim/js/icesim-webrtc.mjs) must be indistinguishable from the browser to a
detector script. the very page that captured the browser (tools/capture_api_page.html) runs as a detector
through icesim's replay runner (icesim/js/replay-runner.mjs: a vm context, the module, the
virtual clock) on a replay document built from the capture; this module lists every
difference, by area:

    PYTHONPATH=$PWD python tests/replay/api_compare.py [MODULE.mjs]   # a Markdown report
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

from api_capture_doc import capture_files, family_dir, load, replay_document

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "icesim/js/icesim-webrtc.mjs"
RUNNER = "replay-runner.mjs"
PAGE = ROOT / "tools/capture_api_page.html"
# Event attributes compared on every event (the rest once per kind, in the event's shape).
PER_EVENT = ("isTrusted", "type", "eventPhase", "bubbles", "cancelable", "composed", "defaultPrevented", "returnValue")
AREAS = ("surface", "badinput", "timeline", "states", "events", "stats", "close")
# Realm built-ins the module does not make: their prototype listings differ by engine.
REALM = {"Object", "Event", "EventTarget", "DOMException", "Error"}
# Surface entries that are the realm's, not the module's.
NOT_MODULE = {"RTCCertificate", "RTCRtpSender", "RTCRtpReceiver", "RTCRtpTransceiver", "RTCDtlsTransport",
              "RTCIceTransport", "RTCSctpTransport", "RTCDataChannelEvent", "RTCTrackEvent", "RTCError",
              "RTCErrorEvent", "Event", "EventTarget", "DOMException"}


def node() -> str | None:
    return shutil.which("node")


def probe(path: Path, module: Path = MODULE) -> dict:
    """Run the capture page as a detector through icesim's replay runner (the module's
    sibling replay-runner.mjs), on a replay of `path`; the page's result."""
    cap = load(path)
    query = {k: (json.dumps(v) if k == "cfg" else v) for k, v in cap["meta"]["params"].items()}
    query.setdefault("wait", "20")
    html = PAGE.read_text()
    script = html[html.index("<script>") + len("<script>"):html.rindex("</script>")]
    # The page as a detector: its location is the capture's URL, its fetch('/result') settles.
    detector = (f"function icesimApiProbe(callback) {{\n"
                f"const location = {{search: {json.dumps('?' + urllib.parse.urlencode(query))}}};\n"
                f"const fetch = async (url, init) => {{ callback(JSON.parse(init.body)); return {{ok: true}}; }};\n"
                f"{script}\n}}\n")
    job = {"detector": None, "export": "icesimApiProbe", "clock": "virtual", "max_ms": 600000, "console": 20}
    with tempfile.TemporaryDirectory(prefix="icp-probe-") as tmp:
        job["detector"] = str(Path(tmp) / "api_page_detector.js")
        Path(job["detector"]).write_text(detector)
        stdin = json.dumps(job) + "\n" + json.dumps(replay_document(path)) + "\n"
        run = subprocess.run([node(), "--experimental-vm-modules", "--no-warnings", str(module.parent / RUNNER)],
                             input=stdin, capture_output=True, text=True, timeout=120)
    if run.returncode != 0 or not run.stdout.strip():
        raise RuntimeError(f"runner failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
    out = json.loads(run.stdout.splitlines()[0])
    if out["status"] != "callback":
        raise RuntimeError(f"the page never posted its result: {out['status']} {out['value']} {out['errors'][:3]}")
    return {**out["value"], "_errors": out["errors"]}


def diff(a, b, path: str, out: list[str], skip=lambda path: False) -> None:
    """Every leaf where a (the browser) and b (the module) differ, as 'path: browser X, module Y'."""
    if skip(path):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k not in b:
                out.append(f"{path}.{k}: browser {short(a[k])}, module has none")
            else:
                diff(a[k], b[k], f"{path}.{k}", out, skip)
        for k in b:
            if k not in a and not skip(f"{path}.{k}"):
                out.append(f"{path}.{k}: module {short(b[k])}, browser has none")
    elif isinstance(a, list) and isinstance(b, list) and all(isinstance(x, dict) for x in a + b) and a and b:
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out, skip)
        if len(a) != len(b):
            out.append(f"{path}: browser {len(a)} items, module {len(b)}")
    elif a != b:
        out.append(f"{path}: browser {short(a)}, module {short(b)}")


def short(v) -> str:
    s = json.dumps(v)
    return s if len(s) <= 160 else s[:157] + "..."


def without_realm_levels(chain: list) -> list:
    return [c for c in chain if not isinstance(c, dict) or c.get("ctor") not in REALM]


def clean(value):
    """Drop realm-owned prototype levels (Object, Event, EventTarget) from every `chain`, and the
    `protoChain` names past the module's own classes."""
    if isinstance(value, dict):
        return {k: (without_realm_levels([clean(x) for x in v]) if k == "chain" and isinstance(v, list) else clean(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [clean(x) for x in value]
    return value


def area_surface(cap: dict, mod: dict) -> list[str]:
    out: list[str] = []
    a, b = cap.get("surface", {}), mod.get("surface", {})
    if not a:
        return out
    ga = {k: v for k, v in a["globals"].items() if k not in NOT_MODULE}
    gb = {k: v for k, v in b.get("globals", {}).items() if k not in NOT_MODULE}
    diff(clean(ga), clean(gb), "globals", out)
    rest = {k: v for k, v in a.items() if k != "globals"}
    diff(clean(rest), clean({k: v for k, v in b.items() if k != "globals"}), "surface", out,
         skip=lambda p: p.endswith(".timeStamp"))
    return out


def area_badinput(cap: dict, mod: dict) -> list[str]:
    out: list[str] = []
    if "badInput" in cap:
        diff(cap["badInput"], mod.get("badInput", {}), "badInput", out)
    return out


def steps(run: dict) -> list[tuple]:
    return [(e["kind"], e.get("method") or e.get("type")) for e in run["log"]]


def area_timeline(cap: dict, mod: dict) -> list[str]:
    """The order of calls, settlements and events, and each one's time since the createOffer()
    call (SLD call when implicit), within 1 ms (the replay's times come from the capture)."""
    out: list[str] = []
    a, b = steps(cap["main"]), steps(mod["main"])
    if a != b:
        out.append(f"order: browser {' '.join(map(':'.join, a))} | module {' '.join(map(':'.join, b))}")
    origin = lambda run: next(e["t"] for e in run["log"] if e["kind"] == "call" and e["method"] in ("createOffer", "setLocalDescription"))
    ta, tb = origin(cap["main"]), origin(mod["main"])
    pairs = zip([e for e in cap["main"]["log"] if e["kind"] != "call"], [e for e in mod["main"]["log"] if e["kind"] != "call"])
    for x, y in pairs:
        if (x["kind"], x.get("method") or x.get("type")) != (y["kind"], y.get("method") or y.get("type")):
            break
        dt = (y["t"] - tb) - (x["t"] - ta)
        # The document carries the replayed events' and the promises' times (1 ms: rounding);
        # the module infers signalingstatechange/negotiationneeded (browsers vary by ms there).
        inferred = x.get("type") in ("signalingstatechange", "negotiationneeded")
        if abs(dt) > (10.0 if inferred else 1.0) and x["kind"] in ("event", "resolve"):
            out.append(f"t of {x['kind']}:{x.get('method') or x.get('type')} #{x['seq']}: browser {x['t'] - ta:.1f}, module {y['t'] - tb:.1f}")
    return out


def paired(cap: dict, mod: dict, kinds=("event", "resolve", "return")):
    """Entries of both logs paired by (kind, name, occurrence)."""
    def keyed(run):
        seen: dict = {}
        res = {}
        for e in run["log"]:
            if e["kind"] not in kinds:
                continue
            k = (e["kind"], e.get("method") or e.get("type"))
            seen[k] = seen.get(k, 0) + 1
            res[(*k, seen[k])] = e
        return res
    ka, kb = keyed(cap), keyed(mod)
    return [(k, ka[k], kb[k]) for k in ka if k in kb]


def area_states(cap: dict, mod: dict) -> list[str]:
    out: list[str] = []
    for k, x, y in paired(cap["main"], mod["main"]):
        diff(x.get("state"), y.get("state"), f"{k[0]}:{k[1]}#{k[2]}.state", out)
    m, n = cap["main"], mod["main"]
    for key in ("stateAtStart", "stateAtEnd", "stateAfterClose", "localDescriptionSame", "offer", "localDescriptionShape"):
        diff(clean(m.get(key)), clean(n.get(key)), key, out,
             skip=lambda p: p.endswith((".sdp", ".json")) and p.startswith(("offer", "localDescriptionShape")))
    return out


def area_events(cap: dict, mod: dict) -> list[str]:
    out: list[str] = []
    for k, x, y in paired(cap["main"], mod["main"], kinds=("event",)):
        name = f"{k[1]}#{k[2]}"
        diff(x.get("candidate"), y.get("candidate"), f"{name}.candidate", out)
        diff(x.get("error"), y.get("error"), f"{name}.error", out, skip=lambda p: p.endswith(".timeStamp"))
        if not x.get("shape"):  # the first event of its kind holds the full listing (shape)
            pick = lambda e: {k: v for k, v in (e.get("eventAttributes") or {}).items() if k in PER_EVENT}
            diff(pick(x), pick(y), f"{name}.attributes", out)
        else:
            diff(clean(x["shape"]), clean(y.get("shape")), f"{name}.shape", out,
                 skip=lambda p: p.endswith(".timeStamp"))
    return out


def stats_view(report: dict) -> dict:
    entries = report.get("entries", [])
    types = sorted(e["type"] for e in entries)
    local = [{"keys": e["_keysInOrder"], **{k: v for k, v in e.items() if k not in ("timestamp", "key", "_keysInOrder")}}
             for e in entries if e["type"] == "local-candidate"]
    return {"ctor": report.get("ctor"), "tag": report.get("tag"), "types": types,
            "localCandidates": sorted(local, key=lambda e: e["id"]), "error": report.get("error")}


def area_stats(cap: dict, mod: dict) -> list[str]:
    """The report at the end and after close; at each event, which local candidates it holds."""
    out: list[str] = []
    diff(stats_view(cap["main"]["statsAtEnd"]), stats_view(mod["main"].get("statsAtEnd", {})), "statsAtEnd", out)
    diff(stats_view(cap["main"]["statsAfterClose"]), stats_view(mod["main"].get("statsAfterClose", {})), "statsAfterClose", out)
    for e, missing in unlisted_candidates(mod["main"]["log"]):
        out.append(f"getStats at {e['type']} #{e['seq']} (t {e['t']}) lacks announced candidates {missing}")
    return out


def same_candidate(stat: dict, cand: dict) -> bool:
    return (stat["foundation"], stat["priority"], stat["protocol"], stat["candidateType"]) == (
        cand["foundation"], cand["priority"], cand["protocol"], cand["type"])


def unlisted_candidates(log: list[dict]) -> list[tuple[dict, list[str]]]:
    """Events whose getStats() lacks a candidate already announced by an icecandidate event
    (a browser's report always holds them: the candidate exists before its event)."""
    announced, found = [], []
    for e in log:
        if e["kind"] != "event":
            continue
        c = e.get("candidate")
        if c and c["attributes"]["candidate"]:
            announced.append(c["attributes"])
        stats = (e.get("stats") or {}).get("localCandidates")
        if stats is None:
            continue
        missing = [a["candidate"] for a in announced if not any(same_candidate(s, a) for s in stats)]
        if missing:
            found.append((e, missing))
    return found


def area_close(cap: dict, mod: dict) -> list[str]:
    out: list[str] = []
    a, b = cap.get("close"), mod.get("close")
    if not a:
        return out
    sa, sb = steps(a), steps(b)
    if sa != sb:
        out.append(f"close run order: browser {' '.join(map(':'.join, sa))} | module {' '.join(map(':'.join, sb))}")
    no_sdp = lambda p: p.endswith(".sdp")
    for key in ("afterClose", "dcReadyState", "stateEnd", "stateAfterTries", "createOfferReturns", "closed"):
        diff(report_types(a.get(key)), report_types(b.get(key)), f"close.{key}", out, skip=no_sdp)
    return out


def report_types(value):
    """The close run's getStats() summary ("report size N [\"type:id\", ...]") without the ids:
    the close run is a pc of its own in the browser, a replay of the main run in the module."""
    if isinstance(value, dict):
        return {k: report_types(v) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("report size"):
        return re.sub(r'"([a-z-]+):[^"]*"', r'"\1"', value)
    return value


def compare(path: Path, module: Path = MODULE) -> dict[str, list[str]]:
    cap, mod = load(path), probe(path, module)
    report = {area: globals()[f"area_{area}"](cap, mod) for area in AREAS}
    if mod["_errors"]:
        report["errors"] = [f"uncaught in the page: {e.splitlines()[0]}" for e in mod["_errors"]]
    return report


def main() -> None:
    module = Path(sys.argv[1]) if len(sys.argv) > 1 else MODULE
    seen: dict[tuple[str, str, str], list[str]] = {}
    for path in capture_files():
        browser = family_dir(path)
        try:
            report = compare(path, module)
        except Exception as e:  # a crash of the probe is a finding too
            report = {"probe": [str(e)]}
        for area, lines in report.items():
            for line in lines:
                seen.setdefault((browser, area, line), []).append(path.stem)
    for browser in ("chromium156", "firefox"):
        print(f"\n### {browser}\n")
        for (b, area, line), stems in seen.items():
            if b == browser:
                print(f"- [{area}] {line} ({', '.join(stems)})")


if __name__ == "__main__":
    main()
