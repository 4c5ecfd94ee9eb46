"""Running `icesim replay --serve` for the tests: as a subprocess (optionally inside a network
namespace this module creates, `idt<pid>-<n>`, loopback only), reading its URL from stderr and
its result lines from stdout; and headless Chromium loading its pages inside that namespace.

A browser never runs in the machine's own namespace (HELPERS.md, shared/captures/README.md).
"""

from __future__ import annotations

import contextlib
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

from detectors_support import REPO

PREFIX = f"idt{os.getpid()}-"
_names = itertools.count()
URL_LINE = re.compile(r"(http://127\.0\.0\.1:(\d+)/)")


def namespace_unavailable() -> str | None:
    """Why a browser namespace cannot be made here (None: it can)."""
    if os.geteuid() != 0:
        return "a network namespace for the browser needs root (CI runs as root)"
    if shutil.which("ip") is None:
        return "`ip` is missing (Debian package iproute2; make test installs it)"
    if shutil.which("chromium") is None:
        return "`chromium` is not installed (Debian package chromium; make test installs it)"
    if shutil.which("node") is None:
        return "node is not installed (make test installs it)"
    probe = f"{PREFIX}probe"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"cannot create a network namespace: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@contextlib.contextmanager
def loopback_namespace() -> Iterator[str]:
    """A fresh namespace with only `lo` up: the page server and the browser share it."""
    name = f"{PREFIX}{next(_names)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True, capture_output=True)
        yield name
    finally:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


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
