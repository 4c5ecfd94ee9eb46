"""The lab's private sandbox: how it is started, entered, and why nothing can leak from it.

A lab is one `unshare --net --mount --pid --fork --kill-child --mount-proc` process tree
(plus `--user --map-root-user` without root privileges). Its PID 1 is runner.py. The named
network namespaces are bind mounts in a private tmpfs on /run/netns inside the sandbox's own
mount namespace, coturn and gathers are processes of its PID namespace, and the nftables rules
live in those network namespaces. When PID 1 exits, for whatever reason, the kernel kills the
rest and drops the namespaces: the machine's namespace never holds a lab's link, rule,
namespace name or process, not even while the lab runs.

The owner's death ends the lab twice over: the sandbox is started under `setpriv --pdeathsig
KILL` (the kernel kills `unshare` when the owner dies, and `--kill-child` kills PID 1), and
PID 1 also ends on end of file of its stdin, a pipe held only by the owner.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


RUNNER = Path(__file__).with_name("runner.py")
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21

# binary -> Debian package
TOOLS = {"ip": "iproute2", "nft": "nftables", "turnserver": "coturn", "unshare": "util-linux",
         "nsenter": "util-linux", "setpriv": "util-linux"}


class LabError(RuntimeError):
    """The lab could not be built or used (the message is one line)."""


class LabUnavailable(LabError):
    """This machine or user cannot build labs: a tool is missing or namespaces are not permitted."""


def find_tools() -> dict[str, str]:
    """Paths of the tools the lab runs; LabUnavailable names every missing one and its package."""
    found: dict[str, str] = {}
    missing = []
    for tool, package in TOOLS.items():
        path = shutil.which(tool) or next(
            (p for p in (f"/usr/sbin/{tool}", f"/usr/bin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None)
        if path:
            found[tool] = path
        else:
            missing.append(f"{tool} (Debian package {package})")
    if missing:
        raise LabUnavailable("lab: missing " + ", ".join(missing) + "; install with apt-get")
    return found


def effective_caps() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def privileged() -> bool:
    """Root with CAP_SYS_ADMIN and CAP_NET_ADMIN: no user namespace needed."""
    caps = effective_caps()
    return bool(caps >> CAP_SYS_ADMIN & 1 and caps >> CAP_NET_ADMIN & 1)


def sandbox_argv(rootless: bool, tools: dict[str, str] | None = None) -> list[str]:
    unshare = (tools or {}).get("unshare", "unshare")
    user = ["--user", "--map-root-user"] if rootless else []
    return [unshare, *user, "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
            "--propagation", "private"]


def runner_argv() -> list[str]:
    """PID 1 of the sandbox: this Python, isolated, standard library only (fast to start)."""
    return [sys.executable, "-I", "-S", str(RUNNER)]


def launch_argv(rootless: bool, tools: dict[str, str], attached: bool) -> list[str]:
    """The whole command; attached labs die with the thread that started them."""
    guard = [tools["setpriv"], "--pdeathsig", "KILL", "--"] if attached else []
    return [*guard, *sandbox_argv(rootless, tools), *runner_argv()]


def enter_argv(runner_pid: int, rootless: bool, ns: str, argv: list[str], tools: dict[str, str] | None = None) -> list[str]:
    """Run argv in namespace `ns` of a running lab, as a process of its PID namespace (so it dies
    with the lab). Rootless: enter its user namespace too, as its root."""
    t = tools or {}
    # --preserve-credentials: setgroups() is denied in an unprivileged user namespace
    user = ["--user", "--preserve-credentials"] if rootless else []
    return [t.get("nsenter", "nsenter"), "--target", str(runner_pid), *user, "--mount", "--pid", "--",
            t.get("ip", "ip"), "netns", "exec", ns, *argv]


def unshare_failure(stderr: str, argv: list[str]) -> LabUnavailable:
    """unshare's own error, e.g. 'unshare failed: Operation not permitted', as one line."""
    reason = " ".join(stderr.split()) or "exited without a word"
    hint = ("run as root, or allow unprivileged user namespaces (sysctl user.max_user_namespaces, "
            "kernel.unprivileged_userns_clone, AppArmor's restrict_unprivileged_userns)")
    return LabUnavailable(f"lab: cannot create the sandbox `{' '.join(argv)}`: {reason}; {hint}")


def runner_pid_of(unshare_pid: int) -> int:
    """The sandbox's PID 1 as the machine sees it: the only child of `unshare`."""
    try:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
        if children:
            return int(children[0])
    except OSError:
        pass
    for entry in Path("/proc").iterdir():  # kernels without CONFIG_PROC_CHILDREN
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == unshare_pid:
                return int(entry.name)
    raise LabError(f"lab: the sandbox's process {unshare_pid} has no runner")
