"""Running `icesim replay --serve` for the tests: as a subprocess (optionally inside a network
namespace this module creates, `idt<pid>-<n>`, loopback only), reading its URL from stderr and
its result lines from stdout; and headless Chromium loading its pages inside that namespace.

A browser never runs in the machine's own namespace (HELPERS.md, shared/captures/README.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import netns_support
from detectors_support import REPO

NAMESPACE_PREFIX = "idt"  # namespaces idt<pid>-... (tests/netns_support.py)
PREFIX = f"{NAMESPACE_PREFIX}{os.getpid()}-"
_names = itertools.count()
URL_LINE = re.compile(r"(http://127\.0\.0\.1:(\d+)/)")


def namespace_unavailable() -> str | None:
    """Why a browser namespace cannot be made here (None: it can). Sweeps dead runs' first."""
    if os.geteuid() != 0:
        return "a network namespace for the browser needs root (CI runs as root)"
    if shutil.which("ip") is None:
        return "`ip` is missing (Debian package iproute2; make test installs it)"
    if shutil.which("chromium") is None:
        return "`chromium` is not installed (Debian package chromium; make test installs it)"
    if shutil.which("node") is None:
        return "node is not installed (make test installs it)"
    netns_support.sweep_leftovers(NAMESPACE_PREFIX)
    return netns_support.namespace_unavailable(NAMESPACE_PREFIX)


@contextlib.contextmanager
def loopback_namespace() -> Iterator[str]:
    """A fresh namespace with only `lo` up: the page server and the browser share it."""
    name = f"{PREFIX}{next(_names)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True, capture_output=True)
        yield name
    finally:
        netns_support.delete_namespace(name)


class ServeProcess:
    """`icesim replay --serve ...` running; `url` once it listens, `results()` as lines come."""

    def __init__(self, args: list[str], netns: str | None = None) -> None:
        prefix = ["ip", "netns", "exec", netns] if netns else []
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([*prefix, sys.executable, "-m", "icesim", "replay", *args], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: list[str] = []
        self._url: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.url = self._url.get(timeout=60)
        if self.url is None:
            raise AssertionError(f"icesim replay --serve did not start:\n{''.join(self.stderr)}")
        self.port = int(URL_LINE.search(self.url)[2])  # type: ignore[index]

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.strip():
                self.lines.put(json.loads(line))

    def _read_stderr(self) -> None:
        announced = False
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.stderr.append(line)
            if not announced and (m := URL_LINE.search(line)):
                announced = True
                self._url.put(m[1])
        if not announced:
            self._url.put(None)

    def next_result(self, timeout: float = 60) -> dict[str, Any]:
        return self.lines.get(timeout=timeout)

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def chromium_open(netns: str, url: str, workdir: Path) -> subprocess.Popen[bytes]:
    """Headless Chromium on one page, inside `netns` (killed by the caller)."""
    profile = tempfile.mkdtemp(prefix="idt-chromium-", dir=workdir)
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
           "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}", url]
    return subprocess.Popen(["ip", "netns", "exec", netns, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def close(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def serve_args(ds: Path, detector: Path | None = None, export: str | None = None, port: int = 0,
               *extra: str) -> list[str]:
    """`icesim replay` arguments for serving `ds` (the sessions) on `port`."""
    args = ["--serve", str(ds), "--port", str(port), *extra]
    if detector is not None:
        args += ["--detector", str(detector)]
    if export is not None:
        args += ["--export", export]
    return args


def _above(fd: int, floor: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    os.close(fd)
    return high


class PipeChromium:
    """Headless Chromium inside `netns`, driven over --remote-debugging-pipe (the DevTools
    protocol as NUL-terminated JSON on its fds 3 and 4, Puppeteer's pipe transport): enough to
    open a page, wait for its load and evaluate like Playwright's page.evaluate."""

    def __init__(self, netns: str, workdir: Path, extra: list[str] | None = None) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium's ends above 3 and 4, so `3<&R 4>&W` never overwrites one with the other (bash: dash
        # takes single-digit fds only).
        to_chrome_r, from_chrome_w = (_above(fd, 100) for fd in (to_chrome_r, from_chrome_w))
        profile = tempfile.mkdtemp(prefix="idt-chromium-", dir=workdir)
        cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
               "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
               "--remote-debugging-pipe", *(extra or []), "about:blank"]
        wire = f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        with open(Path(profile) / "chromium.log", "wb") as log:  # kept with the test's tmp dir
            self.proc = subprocess.Popen(["ip", "netns", "exec", netns, "bash", "-c", wire, "bash", *cmd],
                                         pass_fds=(to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL, stderr=log)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(OSError):  # the pipe closed under it
            self._pump()

    def _pump(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_chrome, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        box = self._replies.pop(message["id"], None)
                    if box is not None:
                        box.put(message)
                else:
                    self._events.put(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        mid = next(self._ids)
        box: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._replies[mid] = box
        message = {"id": mid, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        reply = box.get(timeout=timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def open(self, url: str, timeout: float = 60) -> str:
        """A new tab on `url`, after its load event: its session id."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Page.navigate", {"url": url}, session)
        while True:
            event = self._events.get(timeout=timeout)
            if event.get("method") == "Page.loadEventFired" and event.get("sessionId") == session:
                return session

    def evaluate(self, session: str, expression: str, timeout: float = 60) -> Any:
        """The expression's value, awaited when a promise (page.evaluate)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, session, timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        close(self.proc)  # type: ignore[arg-type]
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)
