"""Runs one conformance scenario for real: a lab of three network namespaces, coturn in the
server namespace, then the browser (headless Chromium or Firefox ESR) in the browser namespace,
and icesim beside it as soon as the page starts gathering. The only I/O module of the suite.

A browser never runs in the machine's own namespace: Chromium multicasts mDNS on every
interface and Firefox looks up its vendor hosts (shared/captures/README.md). Every name made
here carries the `isc` prefix and the pytest process id (namespaces `isc<pid>-<n><role>`,
/etc/netns entries, temp dirs); links are created directly inside the namespaces, so the
machine's own namespace never sees a link or a route. Leftovers of a killed run are swept
(`sweep_leftovers`) before the next one starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import coturn as _coturn  # tests/coturn.py
import netns_support  # tests/netns_support.py
from netns_support import NETNS_ETC, NETNS_RUN, delete_namespace, namespace_unavailable
import scenarios as sc

T = TypeVar("T")
PREFIX = "isc"
IPV6 = Path("/proc/net/if_inet6")
REPO = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).resolve().parent / "page.html"
PAGE_PORT = 8000
CLONE_NEWNET = 0x40000000
BROWSER_BINARIES = {"chrome": "chromium", "firefox": "firefox-esr"}
# The page gives up at MAX_WAIT_S; a browser or icesim still running a little later is killed.
MAX_WAIT_S = 60
KILL_AFTER_S = MAX_WAIT_S + 30
GRACE_MS = 500  # the page keeps listening this long after the null candidate


def unavailable_reason() -> str | None:
    """Why the suite cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, as CI does)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (Debian packages iproute2, nftables; .ci/run installs them)"
    try:
        _coturn.find_turnserver()
    except _coturn.CoturnNotInstalled as exc:
        return str(exc)
    return namespace_unavailable(PREFIX)


def browser_missing(browser: str) -> str | None:
    binary = BROWSER_BINARIES[browser]
    if shutil.which(binary) is None:
        return f"`{binary}` is not installed (Debian package {binary}; .ci/run installs it)"
    return None


def sweep_leftovers() -> None:
    """Remove the namespaces (and /etc/netns entries) of conformance runs whose process died."""
    netns_support.sweep_leftovers(PREFIX)


def _sh(*argv: str, stdin: str | None = None) -> None:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(ns: str, fn: Callable[[], T]) -> T:
    """Run fn in a fresh thread that joined namespace `ns` (setns is per thread); sockets it
    creates stay in that namespace after the thread ends."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            fd = os.open(NETNS_RUN / ns, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {ns}")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class Lab:
    """Browser, gateway and server namespaces wired as scenarios.py describes."""

    def __init__(self, index: int) -> None:
        base = f"{PREFIX}{os.getpid()}-{index}"
        self.browser, self.gateway, self.server = f"{base}b", f"{base}g", f"{base}s"

    def exec_prefix(self, ns: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", ns)

    def up(self, scenario: sc.Scenario) -> None:
        b, g, s = self.browser, self.gateway, self.server
        for ns in (b, g, s):
            _sh("ip", "netns", "add", ns)
        # resolv.conf: no DNS server at all (every name the browser asks for fails fast);
        # hosts: localhost and the scenario's mapped names. `ip netns exec` mounts both over /etc.
        etc = NETNS_ETC / b
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
        mapped = "".join(f"{addr} {name}\n" for name, addr in scenario.resolve if addr)
        (etc / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n" + mapped)
        _sh("ip", "link", "add", "eth0", "netns", b, "type", "veth", "peer", "name", f"{PREFIX}g0", "netns", g)
        _sh("ip", "link", "add", f"{PREFIX}g1", "netns", g, "type", "veth", "peer", "name", f"{PREFIX}s0", "netns", s)
        # IPv6 where the kernel has it (both sides then see the same IPv6 socket).
        v6 = IPV6.exists()
        batches = {
            b: [f"addr add {sc.CLIENT_V4}/24 dev eth0", "link set lo up", "link set eth0 up",
                f"route add default via {sc.GATEWAY_IN_V4}"]
            + ([f"addr add {sc.CLIENT_V6}/64 dev eth0 nodad", f"route add default via {sc.GATEWAY_IN_V6}"] if v6 else []),
            g: [f"addr add {sc.GATEWAY_IN_V4}/24 dev {PREFIX}g0", f"addr add {sc.GATEWAY_OUT_V4}/24 dev {PREFIX}g1",
                "link set lo up", f"link set {PREFIX}g0 up", f"link set {PREFIX}g1 up"]
            + ([f"addr add {sc.GATEWAY_IN_V6}/64 dev {PREFIX}g0 nodad"] if v6 else []),
            s: [f"addr add {sc.SERVER_V4}/24 dev {PREFIX}s0", "link set lo up", f"link set {PREFIX}s0 up",
                f"route add default via {sc.GATEWAY_OUT_V4}"],
        }
        for ns, lines in batches.items():
            _sh("ip", "-n", ns, "-batch", "-", stdin="\n".join(lines) + "\n")
        _sh(*self.exec_prefix(g), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        _sh(*self.exec_prefix(g), "nft", "-f", "-", stdin=self.nft_rules(scenario))

    @staticmethod
    def nft_rules(scenario: sc.Scenario) -> str:
        """The gateway: a symmetric NAT (`masquerade random`) when asked, and UDP drops."""
        rules = ["table inet isc {", "  chain forward { type filter hook forward priority 0;"]
        rules += [f"    ip daddr {addr} udp dport {port} drop" for addr, port in scenario.drop_udp_to]
        rules += ["  }"]
        if scenario.nat:
            rules += ["  chain postrouting { type nat hook postrouting priority 100;",
                      f'    oifname "{PREFIX}g1" masquerade random', "  }"]
        rules += ["}"]
        return "\n".join(rules) + "\n"

    def down(self) -> None:
        for ns in (self.browser, self.gateway, self.server):
            delete_namespace(ns)


# ---------------------------------------------------------------------------------------------
# The page server (inside the browser namespace, 127.0.0.1:8000)
# ---------------------------------------------------------------------------------------------


class PageServer:
    """Serves page.html and takes the POSTed result, on the browser namespace's loopback."""

    def __init__(self, ns: str) -> None:
        self.result: dict | None = None
        self.posted = threading.Event()
        self.gathering = threading.Event()  # the page is about to create its RTCPeerConnection
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/start":
                    owner.gathering.set()
                body = PAGE.read_bytes() if self.path.startswith("/page.html") else b"{}"
                self.send_response(200 if self.path.startswith(("/page.html", "/start")) else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.result = json.loads(data)
                self.send_response(204)
                self.end_headers()
                owner.posted.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = in_netns(ns, lambda: ThreadingHTTPServer(("127.0.0.1", PAGE_PORT), Handler))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------------------------
# What each side is told
# ---------------------------------------------------------------------------------------------

FIREFOX_PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "app.update.disabledForTesting": True,
}


def page_url(scenario: sc.Scenario) -> str:
    query = {"cfg": json.dumps(scenario.rtc_configuration()), "wait": MAX_WAIT_S,
             "grace": GRACE_MS, "perm": int(scenario.permission)}
    return f"http://127.0.0.1:{PAGE_PORT}/page.html?{urlencode(query)}"


def browser_argv(browser: str, scenario: sc.Scenario, profile: Path) -> list[str]:
    """The command line (Chromium flags as in shared/captures/README.md)."""
    if browser == "chrome":
        # Chromium looks STUN names up with a trailing dot (shared/captures/README.md).
        rules = [f"MAP {n} {addr or '~NOTFOUND'}" for name, addr in scenario.resolve for n in (name, f"{name}.")]
        rules += ["MAP * ~NOTFOUND", "EXCLUDE localhost", "EXCLUDE 127.0.0.1"]
        rules += [f"EXCLUDE {host}" for host in scenario.literal_hosts()]
        argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", f"--host-resolver-rules={', '.join(rules)}"]
        if not scenario.mdns:
            argv.append("--disable-features=WebRtcHideLocalIpsWithMdns")
        if scenario.permission:
            argv += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
        return [*argv, page_url(scenario)]
    prefs = dict(FIREFOX_PREFS)
    if not scenario.mdns:
        prefs["media.peerconnection.ice.obfuscate_host_addresses"] = False
    if scenario.permission:
        prefs |= {"media.navigator.permission.disabled": True, "media.navigator.streams.fake": True}
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items()))
    return ["firefox-esr", "--headless", "--new-instance", "--no-remote", "--profile", str(profile), page_url(scenario)]


def icesim_argv(browser: str, scenario: sc.Scenario) -> list[str]:
    """`icesim gather` with the page's servers and flags; interfaces are the namespace's own."""
    argv = [sys.executable, "-m", "icesim", "gather", "--browser", browser]
    stun = [u for s in scenario.servers for u in s.urls if u.startswith("stun")]
    turn = [(u, s) for s in scenario.servers for u in s.urls if u.startswith("turn")]
    argv += [a for u in stun for a in ("--stun", u)] or ["--stun", "none"]
    for url, server in turn:
        argv += ["--turn", url, "--username", server.username or "", "--credential", server.credential or ""]
    if not scenario.mdns:
        argv.append("--no-mdns")
    if scenario.permission:
        argv.append("--permission")
    if scenario.ice_transport_policy != "all":
        argv += ["--ice-transport-policy", scenario.ice_transport_policy]
    argv += [a for name, addr in scenario.resolve for a in ("--resolve", f"{name}={addr or 'NXDOMAIN'}")]
    return argv


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


@dataclass
class SideResult:
    lines: list[dict] = field(default_factory=list)
    error: str | None = None  # the side did not produce a stream (and why)
    seconds: float = 0.0
    detail: dict = field(default_factory=dict)


@dataclass
class RunResult:
    scenario: str
    browser: str
    browser_side: SideResult
    icesim_side: SideResult
    seconds: float


def _preexec() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(Exception):
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the runner thread


def _wait_while_alive(event: threading.Event, proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for the page's signal, giving up at once if the browser exits (a crash at start-up
    must not cost the whole timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if event.wait(0.25):
            return True
        if proc.poll() is not None:
            return event.wait(1.0)  # a POST in flight as the browser went away
    return False


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _run_browser(lab: Lab, browser: str, scenario: sc.Scenario, workdir: Path, page: PageServer,
                 started: threading.Event) -> SideResult:
    argv = [*lab.exec_prefix(lab.browser), *browser_argv(browser, scenario, workdir / f"{browser}-profile")]
    env = dict(os.environ, HOME=str(workdir), MOZ_HEADLESS="1")
    t0 = time.monotonic()
    with open(workdir / f"{browser}.log", "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, preexec_fn=_preexec)
    try:
        # icesim starts when the page starts gathering (not during the browser's start-up, whose
        # CPU load would skew icesim's real network timing), or after 20 s if the page never does.
        _wait_while_alive(page.gathering, proc, 20)
        started.set()
        posted = _wait_while_alive(page.posted, proc, KILL_AFTER_S)
    finally:
        _kill_group(proc)
    seconds = time.monotonic() - t0
    if not posted:
        tail = (workdir / f"{browser}.log").read_text(errors="replace").strip().splitlines()[-3:]
        why = f"exited ({proc.returncode})" if seconds < KILL_AFTER_S else f"posted nothing within {KILL_AFTER_S} s"
        return SideResult(error=f"{BROWSER_BINARIES[browser]} {why}; log: {' | '.join(tail)}", seconds=seconds)
    result = page.result or {}
    if result.get("error"):
        return SideResult(lines=result.get("events", []), error=f"page: {result['error']}", seconds=seconds,
                          detail={"userAgent": result.get("userAgent")})
    return SideResult(lines=result["events"], seconds=seconds, detail={"userAgent": result.get("userAgent")})


def _run_icesim(lab: Lab, browser: str, scenario: sc.Scenario, started: threading.Event) -> SideResult:
    argv = [*lab.exec_prefix(lab.browser), *icesim_argv(browser, scenario)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    started.wait()  # start as the page starts: both sides gather on the same network at once
    t0 = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=KILL_AFTER_S)
    except subprocess.TimeoutExpired:
        return SideResult(error=f"icesim ran longer than {KILL_AFTER_S} s", seconds=time.monotonic() - t0)
    seconds = time.monotonic() - t0
    if done.returncode != 0:
        text = done.stderr.strip().splitlines()
        return SideResult(error=f"icesim exited {done.returncode}: {text[-1] if text else ''}", seconds=seconds)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    meta = lines[0] if lines and lines[0].get("type") == "meta" else {}
    return SideResult(lines=[x for x in lines if x.get("type") != "meta"], seconds=seconds,
                      detail={"meta": meta, "argv": argv})


def run_scenario(index: int, browser: str, scenario: sc.Scenario, workdir: Path) -> RunResult:
    """Lab up, coturn up, the browser and icesim at once, everything down again."""
    t0 = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    lab = Lab(index)
    with contextlib.ExitStack() as stack:
        stack.callback(lab.down)
        lab.up(scenario)
        stack.enter_context(_coturn.start_coturn(
            workdir / "coturn", ip=sc.SERVER_V4, port=sc.SERVER_PORT, username=sc.USERNAME,
            password=sc.PASSWORD, exec_prefix=lab.exec_prefix(lab.server),
            probe_in=lambda fn: in_netns(lab.server, fn),
        ))
        if scenario.loopback_server:
            stack.enter_context(_coturn.start_coturn(
                workdir / "coturn-loopback", port=sc.SERVER_PORT, username=sc.USERNAME, password=sc.PASSWORD,
                exec_prefix=lab.exec_prefix(lab.browser), probe_in=lambda fn: in_netns(lab.browser, fn),
            ))
        page = PageServer(lab.browser)
        stack.callback(page.close)
        started = threading.Event()
        box: dict[str, SideResult] = {}
        icesim_thread = threading.Thread(
            target=lambda: box.__setitem__("icesim", _run_icesim(lab, browser, scenario, started)))
        icesim_thread.start()
        try:
            browser_side = _run_browser(lab, browser, scenario, workdir, page, started)
        finally:
            started.set()
            icesim_thread.join()
    shutil.rmtree(workdir / f"{browser}-profile", ignore_errors=True)  # ~10 MB; result.json and the log stay
    result = RunResult(scenario.name, browser, browser_side, box["icesim"], time.monotonic() - t0)
    (workdir / "result.json").write_text(json.dumps(
        {"browser": result.browser_side.__dict__, "icesim": result.icesim_side.__dict__}, indent=1))
    return result
