"""Capture what headless Chromium's page sees for a repro case (run as root; not a test).

    python tests/repro/capture/capture.py NAME 'CFG_JSON' WAIT_S [--flag=...] [--nft 'RULES'] [--policy 'JSON']

Everything runs in network namespaces made for the purpose and removed after (prefix isr-):
`isr-cap` (eth0 198.51.100.2/24 + 2001:db8:5::2/64, default routes to `isr-gw`, resolver
127.0.0.1, coturn test/secret on 127.0.0.1:3478) and `isr-gw` (the other end, nothing else).
Chromium flags as shared/captures/README.md; `--nft` rules are loaded in `isr-cap` (e.g. drop
all UDP but to port 8000), `--policy` managed Chromium policies seen only there. Writes tests/data/chromium156/NAME.json."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "data" / "chromium156"
NS, GW = "isr-cap", "isr-gw"
RULES = ("MAP stun.test 127.0.0.1, MAP stun.test. 127.0.0.1, MAP nx.test ~NOTFOUND, MAP * ~NOTFOUND, "
         "EXCLUDE localhost, EXCLUDE 127.0.0.1")


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True)


def setup(nft: str | None, policies: dict | None) -> None:
    sh("ip", "netns", "add", NS)
    sh("ip", "netns", "add", GW)
    sh("ip", "link", "add", "eth0", "netns", NS, "type", "veth", "peer", "name", "gw0", "netns", GW)
    for ns, dev, v4, v6 in ((NS, "eth0", "198.51.100.2/24", "2001:db8:5::2/64"), (GW, "gw0", "198.51.100.1/24", "2001:db8:5::1/64")):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", v4, "dev", dev)
        sh("ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad")
        sh("ip", "-n", ns, "link", "set", dev, "up")
    sh("ip", "-n", NS, "route", "add", "default", "via", "198.51.100.1")
    sh("ip", "-n", NS, "-6", "route", "add", "default", "via", "2001:db8:5::1")
    os.makedirs(f"/etc/netns/{NS}", exist_ok=True)
    Path(f"/etc/netns/{NS}/resolv.conf").write_text("nameserver 127.0.0.1\n")
    if nft:
        subprocess.run(["ip", "netns", "exec", NS, "nft", "-f", "-"], input=nft.encode(), check=True)
    if policies:
        # `ip netns exec` bind-mounts /etc/netns/NS/chromium over /etc/chromium: managed
        # policies seen by this namespace's Chromium only (the machine's /etc stays untouched).
        etc = Path(f"/etc/netns/{NS}/chromium")
        shutil.copytree("/etc/chromium", etc, dirs_exist_ok=True)
        (etc / "policies" / "managed").mkdir(parents=True, exist_ok=True)
        (etc / "policies" / "managed" / "isr.json").write_text(json.dumps(policies))


def teardown() -> None:
    for ns in (NS, GW):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    shutil.rmtree(f"/etc/netns/{NS}", ignore_errors=True)


def main() -> None:
    name, cfg, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])
    options = sys.argv[4:]
    flags = [a for i, a in enumerate(options) if a.startswith("--") and a not in ("--nft", "--policy")
             and (i == 0 or options[i - 1] not in ("--nft", "--policy"))]
    nft = next((sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--nft"), None)
    policy = next((sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--policy"), None)
    result: dict = {}
    done = threading.Event()
    tmp = Path(tempfile.mkdtemp(prefix="isr-capture-"))
    teardown()
    procs = []
    try:
        setup(nft, json.loads(policy) if policy else None)
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", NS, "turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
             "--listening-port=3478", "--lt-cred-mech", "--user=test:secret", "--realm=test", "--no-tls", "--no-dtls",
             "--no-cli", "--log-file=stdout", "--simple-log", f"--pidfile={tmp}/t.pid", f"--userdb={tmp}/db",
             "--allow-loopback-peers"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # The page server runs inside the namespace too: a child python serving this directory.
        server = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, __file__, "--serve", str(tmp)])
        procs.append(server)
        time.sleep(1.0)
        url = "http://127.0.0.1:8000/page.html?" + urllib.parse.urlencode({"name": name, "cfg": cfg, "wait": wait})
        cmd = ["ip", "netns", "exec", NS, "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--host-resolver-rules={RULES}", *flags, f"--user-data-dir={tmp}/prof", url]
        started = time.monotonic()
        browser = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(browser)
        deadline = time.monotonic() + wait + 30
        while not (tmp / "result.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        result = json.loads((tmp / "result.json").read_text())
        result["meta"] = {"cmd": cmd, "nft": nft, "policies": policy, "launch_to_post_s": round(time.monotonic() - started, 2)}
        (OUT / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {OUT / (name + '.json')}: {len(result['events'])} events")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        teardown()
        shutil.rmtree(tmp, ignore_errors=True)


def serve(tmp: str) -> None:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(HERE), **kw)

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            Path(tmp, "result.json.part").write_bytes(body)
            os.replace(Path(tmp, "result.json.part"), Path(tmp, "result.json"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", 8000), Handler).serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        main()
