"""Without root: the lab runs in a user namespace where the kernel allows it, and says in one
line what is missing (exit 2) where it does not."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from icesim.lab import TOPOLOGIES
from icesim.lab.plan import plan_up
from icesim.lab.sandbox import RUNNER, enter_argv, runner_pid_of, sandbox_argv
from lab_helpers import PROBE, alive, descendants

pytestmark = pytest.mark.usefixtures("lab_tools")
REPO = str(Path(__file__).resolve().parents[2])
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def _as_nobody(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*NOBODY, *argv], capture_output=True, text=True, timeout=30, **kw)


@pytest.fixture
def nobody_python() -> str:
    """A Python an unprivileged user can run in its user namespace, with this checkout readable."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    for python in (sys.executable, "/usr/bin/python3"):
        check = [python, "-I", "-S", "-c", f"open({str(RUNNER)!r}).close(); open({str(PROBE)!r}).close()"]
        if _as_nobody(["unshare", "--user", "--map-root-user", *check]).returncode == 0:
            return python
    pytest.skip(f"no Python that user nobody can run with {RUNNER} readable")


def test_rootless_lab_builds_nats_and_is_entered_as_nobody(nobody_python: str) -> None:
    if _as_nobody(["unshare", "--user", "--map-root-user", "--net", "true"]).returncode != 0:
        pytest.skip("this kernel does not allow unprivileged user namespaces")
    plan = plan_up(TOPOLOGIES["home-nat"], shutil.which("turnserver") or "turnserver")
    proc = subprocess.Popen([*NOBODY, *sandbox_argv(rootless=True), nobody_python, "-I", "-S", str(RUNNER)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout
    try:
        proc.stdin.write(json.dumps(plan.to_json()) + "\n")
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline() or '{"error": "no reply"}')
        assert reply.get("ready") is True, (reply, proc.stderr.read() if proc.stderr else "")
        unshare_pid = next(p for p in descendants(proc.pid) | {proc.pid} if Path(f"/proc/{p}/task/{p}/children").exists()
                           and "unshare" in Path(f"/proc/{p}/cmdline").read_text())
        runner = runner_pid_of(unshare_pid)
        assert Path(f"/proc/{runner}/status").read_text().count("65534") >= 2  # really unprivileged
        tree = descendants(proc.pid)
        addrs = _as_nobody(enter_argv(runner, True, "client", ["ip", "-o", "-4", "addr"]))
        assert "192.168.1.10/24" in addrs.stdout, addrs.stderr
        probe = _as_nobody(enter_argv(runner, True, "client", [nobody_python, "-I", "-S", str(PROBE), "203.0.113.1", "3478", "3"]))
        assert probe.stdout.split() == ["3"], probe.stderr  # through the rootless NAT to its coturn
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    assert not alive(tree)


def test_without_namespaces_lab_says_what_is_missing_and_exits_2() -> None:
    """A user namespace with no room for more (user.max_user_namespaces=0) and no capabilities:
    like a container that forbids unshare. Real kernel refusals, no simulation."""
    if _as_nobody(["true"]).returncode != 0 or subprocess.run(["unshare", "--user", "--map-root-user", "true"]).returncode:
        pytest.skip("cannot create the restricted user namespace this test needs")
    script = ("echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --inh-caps=-all --bounding-set=-all -- "
              f"{sys.executable} -m icesim lab gather home-nat --time-scale 50")
    done = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": REPO}, cwd=REPO)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("icesim: error: lab: cannot create the sandbox `")
    assert "--user --map-root-user" in lines[0] and "No space left on device" in lines[0]
