"""Network namespaces of the tests that run real browsers (conformance suite, `--serve` replay):
whether one can be made here, and the sweep of those a killed run left behind.

Every such namespace is named `<prefix><pid>-...` (the pid of the pytest process that made it),
so a later run knows which ones belong to a dead process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

NETNS_RUN = Path("/run/netns")
NETNS_ETC = Path("/etc/netns")


def namespace_unavailable(prefix: str) -> str | None:
    """Why a network namespace cannot be made here (None: it can), found by making one."""
    probe = f"{prefix}{os.getpid()}-probe"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"cannot create a network namespace: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def delete_namespace(name: str) -> None:
    """Kill what runs in the namespace, delete it and its /etc/netns entry."""
    if (NETNS_RUN / name).exists():
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    shutil.rmtree(NETNS_ETC / name, ignore_errors=True)


def sweep_leftovers(prefix: str) -> None:
    """Delete the `<prefix><pid>-...` namespaces (and /etc/netns entries) of dead processes."""
    names = {p.name for root in (NETNS_RUN, NETNS_ETC) if root.exists() for p in root.glob(f"{prefix}*")}
    for name in sorted(names):
        pid = name[len(prefix):].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            delete_namespace(name)
