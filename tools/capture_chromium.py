"""Capture what a page sees from headless Chromium, inside network namespaces made for it.

Why: facts about Chrome (IP handling policies, relay policy, transports, SDP form, candidate
pool) are settled by the browser itself, never guessed. A browser must never run in the
machine's own namespace (mDNS multicast, vendor lookups): this script creates `<prefix>cap`
(eth0 198.51.100.2/24 + 2001:db8:5::2/64, coturn on 127.0.0.1:3478 test/secret) and
`<prefix>gw` (its default routes), runs one Chromium per scenario, and removes both after.

    python tools/capture_chromium.py --prefix ist --out tests/data/chromium156 SCENARIO...

Scenarios are listed in SCENARIOS below (name -> page parameters and extra flags).
Needs root, iproute2, chromium and coturn. Nothing leaves the namespaces.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
COTURN = {"username": "test", "credential": "secret"}
STUN = {"urls": "stun:127.0.0.1:3478"}
TURN_UDP = {"urls": "turn:127.0.0.1:3478?transport=udp", **COTURN}
TURN_TCP = {"urls": "turn:127.0.0.1:3478?transport=tcp", **COTURN}
NX = {"urls": "stun:nx.test:3478"}
ALL = [STUN, TURN_UDP, TURN_TCP]


def policy(name: str) -> list[str]:
    """The policy as Chrome reads it from the profile (pref webrtc.ip_handling_policy, what the
    WebRtcIPHandling enterprise policy and extensions set); `--force-webrtc-ip-handling-policy`
    is not honoured by Chromium 156 (capture P3 with it looked like default)."""
    return [f"pref:{name}"]


GUM = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def nft(ruleset: str) -> list[str]:
    """nftables rules loaded in the browser's namespace for one scenario (removed with it)."""
    return [f"nft:{ruleset}"]


# Every UDP datagram leaving the browser's namespace (the page's own, and coturn's answers).
DROP_UDP = "table inet filt {\n chain out {\n  type filter hook output priority 0; policy accept;\n  meta l4proto udp drop\n }\n}\n"

# name: (page parameters, extra chromium flags)
SCENARIOS: dict[str, tuple[dict, list[str]]] = {
    "P0_policy_default_all": ({"cfg": {"iceServers": ALL}}, []),
    "P1_policy_pubpriv_all": ({"cfg": {"iceServers": ALL}}, policy("default_public_and_private_interfaces")),
    "P1g_policy_pubpriv_gum": ({"cfg": {"iceServers": ALL}, "gum": "1"}, policy("default_public_and_private_interfaces") + GUM),
    "P2_policy_pubonly_all": ({"cfg": {"iceServers": ALL}}, policy("default_public_interface_only")),
    "P2g_policy_pubonly_gum": ({"cfg": {"iceServers": ALL}, "gum": "1"}, policy("default_public_interface_only") + GUM),
    "P3_policy_noudp_all": ({"cfg": {"iceServers": ALL}}, policy("disable_non_proxied_udp")),
    "P3s_policy_noudp_stun": ({"cfg": {"iceServers": [STUN]}}, policy("disable_non_proxied_udp")),
    "P3g_policy_noudp_gum": ({"cfg": {"iceServers": ALL}, "gum": "1"}, policy("disable_non_proxied_udp") + GUM),
    "R1_relay_all_nx": ({"cfg": {"iceServers": ALL + [NX], "iceTransportPolicy": "relay"}}, []),
    "R1g_relay_gum": ({"cfg": {"iceServers": ALL, "iceTransportPolicy": "relay"}, "gum": "1"}, GUM),
    "R2_relay_stun_only": ({"cfg": {"iceServers": [STUN, NX], "iceTransportPolicy": "relay"}}, []),
    "M1_avd_balanced": ({"cfg": {"iceServers": [STUN]}, "media": "audio,video,data"}, []),
    "M2_avd_maxbundle": ({"cfg": {"iceServers": [STUN], "bundlePolicy": "max-bundle"}, "media": "audio,video,data"}, []),
    "M3_avd_maxcompat": ({"cfg": {"iceServers": [STUN], "bundlePolicy": "max-compat"}, "media": "audio,video,data"}, []),
    "M4_av_turn_balanced": ({"cfg": {"iceServers": [STUN, TURN_UDP]}, "media": "audio,video"}, []),
    "M5_avd_nomdns": ({"cfg": {"iceServers": [STUN]}, "media": "audio,video,data"}, ["--disable-features=WebRtcHideLocalIpsWithMdns"]),
    "M6_avd_gum_turn": ({"cfg": {"iceServers": [STUN, TURN_UDP]}, "media": "audio,video,data", "gum": "1"}, GUM),
    "M7_avd_maxbundle_turn_nomdns": ({"cfg": {"iceServers": [STUN, TURN_UDP], "bundlePolicy": "max-bundle"}, "media": "audio,video,data"}, ["--disable-features=WebRtcHideLocalIpsWithMdns"]),
    "M8_data_maxbundle": ({"cfg": {"iceServers": [STUN], "bundlePolicy": "max-bundle"}}, []),
    "Q1_pool1_lead500": ({"cfg": {"iceServers": [STUN, NX], "iceCandidatePoolSize": 1}, "lead": "500"}, []),
    "Q2_pool1_avd_lead500": ({"cfg": {"iceServers": [STUN, TURN_UDP], "iceCandidatePoolSize": 1}, "media": "audio,video,data", "lead": "500"}, []),
    "Q3_pool0_lead500": ({"cfg": {"iceServers": [STUN, NX]}, "lead": "500"}, []),
    # For `icesim repro` (its cases turn-dns-failure, proxy-udp-blocked, corporate-firewall).
    "X1_turn_nx": ({"cfg": {"iceServers": [{"urls": "turn:nx.test:3478?transport=udp", **COTURN}]}}, []),
    "X2_proxy_udp_blocked": ({"cfg": {"iceServers": [TURN_UDP, TURN_TCP]}, "wait": "45"}, nft(DROP_UDP)),
    "X3_corporate_firewall": ({"cfg": {"iceServers": [STUN, {"urls": "turn:127.0.0.1:3999?transport=tcp", **COTURN}]},
                               "wait": "45"}, nft(DROP_UDP)),
}

RULES = ("MAP nx.test ~NOTFOUND, MAP nx.test. ~NOTFOUND, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1")


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def setup(prefix: str) -> None:
    cap, gw = f"{prefix}cap", f"{prefix}gw"
    teardown(prefix)
    sh("ip", "netns", "add", cap)
    sh("ip", "netns", "add", gw)
    sh("ip", "link", "add", f"{prefix}c0", "type", "veth", "peer", "name", f"{prefix}g0")
    sh("ip", "link", "set", f"{prefix}c0", "netns", cap)
    sh("ip", "link", "set", f"{prefix}g0", "netns", gw)
    n = ("ip", "netns", "exec", cap)
    g = ("ip", "netns", "exec", gw)
    sh(*n, "ip", "link", "set", f"{prefix}c0", "name", "eth0")
    sh(*n, "ip", "link", "set", "lo", "up")
    sh(*n, "ip", "link", "set", "eth0", "up")
    sh(*n, "ip", "addr", "add", "198.51.100.2/24", "dev", "eth0")
    sh(*n, "ip", "addr", "add", "2001:db8:5::2/64", "dev", "eth0", "nodad")
    sh(*g, "ip", "link", "set", "lo", "up")
    sh(*g, "ip", "link", "set", f"{prefix}g0", "up")
    sh(*g, "ip", "addr", "add", "198.51.100.1/24", "dev", f"{prefix}g0")
    sh(*g, "ip", "addr", "add", "2001:db8:5::1/64", "dev", f"{prefix}g0", "nodad")
    sh(*n, "ip", "route", "add", "default", "via", "198.51.100.1")
    sh(*n, "ip", "-6", "route", "add", "default", "via", "2001:db8:5::1")
    Path(f"/etc/netns/{cap}").mkdir(parents=True, exist_ok=True)
    Path(f"/etc/netns/{cap}/resolv.conf").write_text("nameserver 127.0.0.1\n")


def teardown(prefix: str) -> None:
    for ns in (f"{prefix}cap", f"{prefix}gw"):
        sh("ip", "netns", "del", ns, check=False)
    shutil.rmtree(f"/etc/netns/{prefix}cap", ignore_errors=True)


SERVER = r'''
import http.server, sys, pathlib
page = pathlib.Path(sys.argv[1]).read_bytes(); out = pathlib.Path(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = page if self.path.startswith("/page.html") else b""
        self.send_response(200 if body else 404); self.send_header("Content-Type", "text/html")
        self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        tmp = out.with_suffix(".part"); tmp.write_bytes(data); tmp.rename(out)
        self.send_response(204); self.end_headers()
http.server.HTTPServer(("127.0.0.1", 8000), H).serve_forever()
'''


def run(prefix: str, name: str, outdir: Path, work: Path) -> None:
    params, flags = SCENARIOS[name]
    cap = f"{prefix}cap"
    ns = ["ip", "netns", "exec", cap]
    result = work / f"{name}.result"
    profile = Path(tempfile.mkdtemp(prefix=f"{prefix}-chromium-", dir=work))
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--host-resolver-rules={RULES}", f"--user-data-dir={profile}",
           *[f for f in flags if not f.startswith(("pref:", "nft:"))]]
    for f in flags:
        if f.startswith("nft:"):  # flushed again after this scenario (below)
            subprocess.run([*ns, "nft", "-f", "-"], input=f[4:], text=True, check=True)
            params = {**params, "note": f"nftables in the browser namespace: {f[4:]}"}
    for f in flags:
        if f.startswith("pref:"):
            (profile / "Default").mkdir(exist_ok=True)
            prefs = {"webrtc": {"ip_handling_policy": f[5:]}}
            (profile / "Default" / "Preferences").write_text(json.dumps(prefs))
            params = {**params, "note": f"profile Preferences: {json.dumps(prefs)}"}
    query = {k: (json.dumps(v) if k == "cfg" else v) for k, v in params.items()}
    query.setdefault("wait", "12")
    url = "http://127.0.0.1:8000/page.html?" + urllib.parse.urlencode(query)
    cmd.append(url)
    procs = [
        subprocess.Popen([*ns, sys.executable, "-c", SERVER, str(HERE / "capture_page.html"), str(result)]),
        subprocess.Popen([*ns, "turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
                          "--listening-port=3478", "--lt-cred-mech", "--user=test:secret", "--realm=test",
                          "--no-cli", "--no-tls", "--no-dtls", "--allow-loopback-peers",
                          "--min-port=50000", "--max-port=50999", f"--pidfile={work}/turn.pid", "--log-file=stdout"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    time.sleep(1.0)
    browser = subprocess.Popen([*ns, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not result.exists() and time.time() < deadline:
            time.sleep(0.2)
    finally:
        for p in (browser, *procs):
            p.terminate()
        for p in (browser, *procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if any(f.startswith("nft:") for f in flags):
            sh(*ns, "nft", "flush", "ruleset")
    if not result.exists():
        print(f"{name}: no result", file=sys.stderr)
        return
    page = json.loads(result.read_text())
    cmd[cmd.index(f"--user-data-dir={profile}")] = "--user-data-dir=PROFILE_DIR"
    doc = {"meta": {"name": name, "cmd": cmd, "version": "Chromium 156.0.8078.79"}, **page}
    (outdir / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    kinds = [e["kind"][3:] + ("" if e["kind"] != "icecandidate" or e.get("candidateIsNull", True) else ":" + e["candidate"]["type"] + e["candidate"]["sdpMid"]) for e in page.get("events", [])]
    print(name, page.get("error") or " ".join(kinds))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("scenarios", nargs="*")
    args = ap.parse_args()
    names = args.scenarios or list(SCENARIOS)
    args.out.mkdir(parents=True, exist_ok=True)
    setup(args.prefix)
    work = Path(tempfile.mkdtemp(prefix=f"{args.prefix}-capture-"))
    try:
        for name in names:
            run(args.prefix, name, args.out, work)
    finally:
        teardown(args.prefix)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
