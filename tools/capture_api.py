"""Capture the page-side RTCPeerConnection API behaviour of headless Chromium / Firefox ESR.

Why: icesim/js replays sessions as a browser-faithful RTCPeerConnection; what "faithful" means
(promise/event order, states at each event, getStats() fields, event and candidate object
shapes, descriptors and toString, close() and bad-input exceptions) is settled by the browsers
themselves. The page is tools/capture_api_page.html; the network is capture_chromium's
(`<prefix>cap`: the browser, eth0 198.51.100.2/24 + 2001:db8:5::2/64; `<prefix>gw`: its
router 198.51.100.1), plus coturn on 198.51.100.1:3478 in `<prefix>gw` (Firefox refuses
loopback STUN servers) and a silent UDP drop of port 3999 there (the dead STUN server).

    python tools/capture_api.py --prefix icp --browser chromium SCENARIO...
    python tools/capture_api.py --prefix icp --browser firefox SCENARIO...
    python tools/capture_api.py --prefix icp --browser chromium --replay --out DIR SCENARIO...

`--replay` runs the same page in the same browser, but the page first installs icesim's replay
module (icesim/js, real clock) with a replay document of the scenario's capture: the probes
then read the module in a real page, and the differences from the capture are printed.

Writes tests/data/chromium156/api/<scenario>.json or tests/data/firefox/api/<scenario>.json.
Needs root, iproute2, nftables, coturn and the browser. Nothing leaves the namespaces.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

from capture_chromium import setup, sh, teardown

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STUN = {"urls": "stun:198.51.100.1:3478"}
DEAD = {"urls": "stun:198.51.100.1:3999"}  # UDP to it dropped silently in <prefix>gw
TURN = {"urls": ["turn:198.51.100.1:3478?transport=udp", "turn:198.51.100.1:3478?transport=tcp"],
        "username": "test", "credential": "secret"}
ALL_PARTS = "surface,badinput,main,close"

# The page's HTTP server inside the browser's namespace: the page, the replay module's files
# (for --replay), the replay document; the page POSTs its result, written atomically.
SERVER = r'''
import http.server, sys, pathlib
page, out, js, doc = map(pathlib.Path, sys.argv[1:5])
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        path = self.path.split("?")[0]
        name = path.rsplit("/", 1)[-1]
        if path == "/page.html":
            body, kind = page.read_bytes(), "text/html"
        elif path.startswith("/icesim/js/") and name.endswith(".mjs") and (js / name).is_file():
            body, kind = (js / name).read_bytes(), "text/javascript"
        elif path == "/doc.json" and doc.is_file():
            body, kind = doc.read_bytes(), "application/json"
        else:
            self.send_response(404); self.end_headers(); return
        self.send_response(200); self.send_header("Content-Type", kind); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        tmp = out.with_suffix(".part"); tmp.write_bytes(data); tmp.rename(out)
        self.send_response(204); self.end_headers()
http.server.HTTPServer(("127.0.0.1", 8000), H).serve_forever()
'''

# name: page parameters (cfg, media, sld, parts, wait)
SCENARIOS: dict[str, dict] = {
    "stun": {"cfg": {"iceServers": [STUN]}, "parts": ALL_PARTS},
    "stun_implicit": {"cfg": {"iceServers": [STUN]}, "sld": "implicit", "parts": "main"},
    "dead_stun": {"cfg": {"iceServers": [DEAD]}, "parts": "main,close", "wait": "55"},
    "nostun": {"cfg": {}, "parts": "main,close"},
    "nostun_implicit": {"cfg": {}, "sld": "implicit", "parts": "main"},
    "avd_stun": {"cfg": {"iceServers": [STUN]}, "media": "audio,video,data", "parts": "main"},
    "turn": {"cfg": {"iceServers": [STUN, TURN]}, "parts": "main"},
    "stun_late_sld": {"cfg": {"iceServers": [STUN]}, "sldDelay": "500", "parts": "main"},
}

# Chromium: no name resolves; IP literals pass only when excluded (shared/captures/README.md).
RULES = "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE 198.51.100.1"
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--host-resolver-rules={RULES}"]
FIREFOX_PREFS = {"browser.shell.checkDefaultBrowser": False, "datareporting.policy.dataSubmissionEnabled": False,
                 "toolkit.telemetry.reportingpolicy.firstRun": False, "app.update.enabled": False}
DROP_3999 = "table inet {p}drop {{\n chain in {{\n  type filter hook input priority 0; policy accept;\n  udp dport 3999 drop\n }}\n}}\n"
OUT = {"chromium": ROOT / "tests/data/chromium156/api", "firefox": ROOT / "tests/data/firefox/api"}


def start_servers(prefix: str, work: Path) -> subprocess.Popen:
    """coturn (STUN only is used) in the router namespace, and the silent drop of port 3999."""
    gw = f"{prefix}gw"
    subprocess.run(["ip", "netns", "exec", gw, "nft", "-f", "-"], input=DROP_3999.format(p=prefix), text=True, check=True)
    return subprocess.Popen(["ip", "netns", "exec", gw, "turnserver", "-n", "--listening-ip=198.51.100.1",
                             "--relay-ip=198.51.100.1", "--listening-port=3478", "--lt-cred-mech", "--user=test:secret",
                             "--realm=test", "--no-cli", "--no-tls", "--no-dtls", "--min-port=50000", "--max-port=50999",
                             f"--pidfile={work}/{prefix}-turn.pid", "--log-file=stdout"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def browser_cmd(browser: str, profile: Path, url: str) -> list[str]:
    if browser == "chromium":
        return [*CHROMIUM, f"--user-data-dir={profile}", url]
    with open(profile / "user.js", "w") as f:
        for k, v in FIREFOX_PREFS.items():
            f.write(f'user_pref("{k}", {json.dumps(v)});\n')
    return ["firefox-esr", "--headless", "--new-instance", "--no-remote", "--profile", str(profile), url]


def run(prefix: str, browser: str, name: str, outdir: Path, work: Path, replay: Path | None = None) -> None:
    """One scenario in one fresh browser; with `replay` (a replay document) the page first
    installs icesim's replay module with it and probes the module instead of the browser."""
    params = dict(SCENARIOS[name])
    ns = ["ip", "netns", "exec", f"{prefix}cap"]
    result = work / f"{name}.result"
    profile = Path(tempfile.mkdtemp(prefix=f"{prefix}-{browser}-", dir=work))
    query = {k: (json.dumps(v) if k == "cfg" else v) for k, v in params.items()}
    query.setdefault("wait", "20")
    if replay is not None:
        query["replay"] = "/doc.json"
    url = "http://127.0.0.1:8000/page.html?" + urllib.parse.urlencode(query)
    cmd = browser_cmd(browser, profile, url)
    server = subprocess.Popen([*ns, sys.executable, "-c", SERVER, str(HERE / "capture_api_page.html"), str(result),
                               str(ROOT / "icesim/js"), str(replay or work / "no-doc.json")])
    time.sleep(0.8)
    proc = subprocess.Popen([*ns, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + float(query["wait"]) * 2 + 60
        while not result.exists() and time.time() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the browser and its children: a group we made
        proc.wait()
        server.terminate()
        server.wait()
    if not result.exists():
        print(f"{name}: no result", file=sys.stderr)
        return
    page = json.loads(result.read_text())
    cmd = [c.replace(str(profile), "PROFILE_DIR") for c in cmd]
    version = sh(cmd[0], "--version").stdout.strip()
    meta = {"name": name, "browser": browser, "version": version, "cmd": cmd, "page": "tools/capture_api_page.html",
            "replayed": replay is not None,
            "params": params, "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
            "network": f"{prefix}cap eth0 198.51.100.2/24 2001:db8:5::2/64; coturn on 198.51.100.1:3478 in {prefix}gw; "
                       "UDP to 198.51.100.1:3999 dropped"}
    (outdir / f"{name}.json").write_text(json.dumps({"meta": meta, **page}, indent=1) + "\n")
    main = page.get("main") or {}
    kinds = [e.get("type") or f"{e['kind']}:{e.get('method')}" for e in main.get("log", [])]
    print(name, page.get("fatal") or main.get("constructorError") or " ".join(kinds), flush=True)


def replay_document(browser: str, name: str, work: Path) -> Path:
    """The replay document of the scenario's capture (tests/replay/api_capture_doc.py)."""
    sys.path.insert(0, str(ROOT / "tests/replay"))
    import api_capture_doc
    path = work / f"{name}.doc.json"
    path.write_text(json.dumps(api_capture_doc.replay_document(OUT[browser] / f"{name}.json")))
    return path


def report_differences(browser: str, name: str, replayed: Path) -> None:
    """Print how the module in the page differed from the browser (tests/replay/api_compare.py)."""
    import api_compare
    cap, mod = api_compare.load(OUT[browser] / f"{name}.json"), api_compare.load(replayed)
    mod.setdefault("_errors", mod.get("replayErrors", []))
    for area in api_compare.AREAS:
        for line in getattr(api_compare, f"area_{area}")(cap, mod):
            print(f"  [{area}] {line}", flush=True)
    for line in mod["_errors"]:
        print(f"  [errors] {line.splitlines()[0]}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--browser", choices=["chromium", "firefox"], required=True)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--replay", action="store_true",
                    help="probe icesim's replay module in the page instead of the browser: each scenario's capture "
                         "(tests/data/.../api/) is replayed; needs --out; prints the differences per area")
    ap.add_argument("scenarios", nargs="*")
    args = ap.parse_args()
    if args.replay and not args.out:
        ap.error("--replay needs --out (the captures themselves stay as they are)")
    outdir = args.out or OUT[args.browser]
    outdir.mkdir(parents=True, exist_ok=True)
    unknown = [n for n in args.scenarios if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario {unknown[0]!r} (known: {', '.join(SCENARIOS)})")
    setup(args.prefix)
    work = Path(tempfile.mkdtemp(prefix=f"{args.prefix}-api-"))
    turn = None
    try:
        turn = start_servers(args.prefix, work)
        time.sleep(1.0)
        for name in args.scenarios or list(SCENARIOS):
            doc = replay_document(args.browser, name, work) if args.replay else None
            run(args.prefix, args.browser, name, outdir, work, doc)
            if doc is not None and (outdir / f"{name}.json").exists():
                report_differences(args.browser, name, outdir / f"{name}.json")
    finally:
        if turn is not None:
            turn.terminate()
            turn.wait()
        teardown(args.prefix)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
