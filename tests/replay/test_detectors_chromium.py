"""Ground truth for the shipped detectors: the three of them in headless Chromium's own WebRTC
(no icesim module), in a namespace pair this test creates (browser 198.51.100.2, coturn as the
STUN server on 198.51.100.1:3478), on the networks and page tampering the profiles describe.
What they conclude here is what detectors_support.py expects them to conclude on replays.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from detectors_support import DETECTORS
from netns_support import delete_namespace
from serve_support import PREFIX, PipeChromium, namespace_unavailable

REASON = namespace_unavailable() or (None if shutil.which("turnserver") else "coturn's turnserver is not installed "
                                     "(make test installs it)") or (None if shutil.which("nft") else "`nft` is missing")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

BROWSER_IP, SERVER_IP, OTHER_IP = "198.51.100.2", "198.51.100.1", "203.0.113.9"
STUN = [{"urls": f"stun:{SERVER_IP}:3478"}]
NX = [{"urls": "stun:nx.test:3478"}]
DROP_UDP = ("table inet idt {\n chain out {\n  type filter hook output priority 0; policy accept;\n"
            "  meta l4proto udp drop\n }\n}\n")
RULES = "MAP nx.test ~NOTFOUND, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"

# The page tampers with its own WebRTC as the profiles' bots do, then runs the three detectors.
PAGE = """<!doctype html><meta charset="utf-8">
<script src="/d/ice_error_or_silence.js"></script>
<script src="/d/gather_ips_timeout.js"></script>
<script type="module">
import detectIpMismatch from "/d/ip_mismatch.mjs";
const q = new URLSearchParams(location.search);
const tamper = q.get("tamper");
if (tamper === "missing_api") window.RTCPeerConnection = undefined;
if (tamper === "setup_throws") RTCPeerConnection.prototype.setLocalDescription = function () {
  return Promise.reject(new DOMException("patched", "InvalidStateError")); };
if (tamper === "stubbed_callback") Object.defineProperty(RTCPeerConnection.prototype, "onicecandidate",
  { set() {}, get() { return null; }, configurable: true });
const page = { webAddress: q.get("web"), iceServers: JSON.parse(q.get("ice")) };
const settle = (p) => p.then((v) => ({ status: "resolved", value: v instanceof Set ? [...v] : v }),
                            (e) => ({ status: "rejected", value: { name: e.name, message: e.message } }));
window.verdicts = Promise.all([
  settle(detectIceErrorOrSilence(null, page)), settle(detectIpMismatch(null, page)),
  settle(detectIpMismatch(null, { ...page, webAddress: q.get("other") })), settle(gatherWebRtcIps(null, page)),
]).then(([a, b, bOther, c]) => ({ a, b, bOther, c }));
</script>"""

SERVER = r"""
import http.server, pathlib, sys
page, det = sys.argv[1].encode(), pathlib.Path(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        path = self.path.split("?")[0]
        name = path[3:] if path.startswith("/d/") else None
        if path == "/page":
            body, kind = page, "text/html"
        elif name in {p.name for p in det.iterdir()}:
            body, kind = (det / name).read_bytes(), "text/javascript"
        else:
            self.send_response(404); self.end_headers(); return
        self.send_response(200); self.send_header("Content-Type", kind); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 8000), H).serve_forever()
"""


def _sh(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)


@contextlib.contextmanager
def stun_lab(workdir: Path) -> Iterator[str]:
    """Browser namespace (with the page server) and server namespace (coturn, STUN only), one veth."""
    browser, server = f"{PREFIX}gtb", f"{PREFIX}gts"
    procs: list[subprocess.Popen] = []
    try:
        for ns in (browser, server):
            _sh("ip", "netns", "add", ns)
        _sh("ip", "netns", "exec", browser, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0s",
            "netns", server)
        for ns, addr, dev in ((browser, f"{BROWSER_IP}/24", "eth0"), (server, f"{SERVER_IP}/24", "eth0s")):
            for cmd in (("link", "set", "lo", "up"), ("link", "set", dev, "up"), ("addr", "add", addr, "dev", dev)):
                _sh("ip", "netns", "exec", ns, "ip", *cmd)
        _sh("ip", "netns", "exec", browser, "ip", "route", "add", "default", "via", SERVER_IP)
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", server, "turnserver", "-n", f"--listening-ip={SERVER_IP}", "--listening-port=3478",
             "--stun-only", "--no-cli", "--no-tls", "--no-dtls", f"--pidfile={workdir}/turn.pid", "--log-file=stdout"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(["ip", "netns", "exec", browser, sys.executable, "-c", SERVER, PAGE, str(DETECTORS)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)  # coturn and the page server listening
        yield browser
    finally:
        for proc in procs:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if proc.poll() is None:
                proc.kill()
        for ns in (browser, server):
            delete_namespace(ns)


def verdicts(chromium: PipeChromium, ice: list[dict], tamper: str = "") -> dict:
    query = {"ice": json.dumps(ice), "web": BROWSER_IP, "other": OTHER_IP, "tamper": tamper}
    tab = chromium.open("http://127.0.0.1:8000/page?" + urlencode(query))
    return chromium.evaluate(tab, "window.verdicts")


def reasons(v: dict) -> tuple:
    return tuple(v[k]["value"].get("reason") if v[k]["status"] == "resolved" and isinstance(v[k]["value"], dict)
                 else v[k]["value"] if v[k]["status"] == "resolved" else v[k]["value"]["message"]
                 for k in ("a", "b", "bOther", "c"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, PipeChromium]]:
    workdir = tmp_path_factory.mktemp("idt-truth")
    with stun_lab(workdir) as browser_ns:
        chromium = PipeChromium(browser_ns, workdir, extra=[f"--host-resolver-rules={RULES}"])
        try:
            yield browser_ns, chromium
        finally:
            chromium.close()


def test_stun_answering(lab) -> None:
    """An ordinary network: gathering completes (human), the srflx is the browser's address."""
    v = verdicts(lab[1], STUN)
    assert reasons(v) == ("ICE_SUCCESS", "IP_MATCH", "IP_MISMATCH", [BROWSER_IP])
    assert v["b"]["value"]["publicIps"] == [BROWSER_IP]


def test_stun_name_without_address_is_an_immediate_701(lab) -> None:
    """The benign host-lookup 701 (human-ipv6-no-route's, for one family) flags (a) at once."""
    a = verdicts(lab[1], NX)["a"]["value"]
    assert (a["reason"], a["errorCode"], a["errorText"], a["url"]) == (
        "ICE_CANDIDATE_ERROR", 701, "STUN host lookup received error.", "stun:nx.test:3478")


@pytest.mark.parametrize(("tamper", "expected"), [
    ("missing_api", ("WEBRTC_MISSING", "WEBRTC_MISSING", "WEBRTC_MISSING", "RTCPeerConnection is not a constructor")),
    ("setup_throws", ("WEBRTC_SETUP_FAILED", "WEBRTC_SETUP_FAILED", "WEBRTC_SETUP_FAILED", "patched")),
    ("stubbed_callback", ("ICE_TIMEOUT", "NO_PUBLIC_IP", "NO_PUBLIC_IP", "WebRTC IP gathering timed out.")),
])
def test_tampered_pages(lab, tamper, expected) -> None:
    assert reasons(verdicts(lab[1], STUN, tamper)) == expected


def test_udp_dropped(lab) -> None:
    """A proxy or firewall dropping UDP: only the mDNS host, no 701 within the detectors' windows."""
    browser_ns, chromium = lab
    _sh("ip", "netns", "exec", browser_ns, "nft", "-f", "-", stdin=DROP_UDP)
    try:
        v = verdicts(chromium, STUN)
    finally:
        _sh("ip", "netns", "exec", browser_ns, "nft", "delete", "table", "inet", "idt")
    assert reasons(v) == ("ICE_TIMEOUT", "NO_PUBLIC_IP", "NO_PUBLIC_IP", "WebRTC IP gathering timed out.")
