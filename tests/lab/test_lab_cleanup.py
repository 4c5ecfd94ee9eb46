"""A lab leaves nothing on the machine: not while it runs, not after teardown, not after kill -9
of icesim at any moment (its namespaces, links, nftables rules and processes live only inside
its private sandbox)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from icesim.lab import Lab
from lab_helpers import alive, assert_no_new_state, cmdline, descendants, machine_state

pytestmark = pytest.mark.usefixtures("lab_tools")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def test_a_running_lab_is_invisible_to_the_machine_and_gone_after_stop() -> None:
    before = machine_state()
    async with Lab("vpn") as lab:
        assert_no_new_state(before)  # its namespaces, links and tables exist only in the sandbox
        rc, out, _ = await lab.run("router", ["nft", "list", "tables"])
        assert rc == 0 and "icesim_nat" in out  # ...where they do exist
        tree = descendants(lab.unshare_pid) | {lab.unshare_pid}
        assert any("turnserver" in cmdline(pid) for pid in tree)
    assert lab.down_s > 0
    assert not alive(tree), [cmdline(p) for p in alive(tree)]
    assert_no_new_state(before)


def _wait_gone(pids: set[int], timeout_s: float = 5.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive(pids)


def _icesim(*args: str, mark: str = "") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": REPO, "ICESIM_TEST_MARK": mark}
    return subprocess.Popen([sys.executable, "-m", "icesim", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=REPO)


def test_kill_9_during_a_gather_leaves_nothing() -> None:
    before = machine_state()
    # udp-blocked at real timers: the gather runs ~40 s, so it is surely mid-gather when killed
    proc = _icesim("lab", "gather", "udp-blocked")
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the gather's meta line: lab built, gather running
    assert b'"meta"' in first, proc.stderr.read() if proc.stderr else b""
    tree = descendants(proc.pid)
    assert any("turnserver" in cmdline(p) for p in tree) and any(" gather" in cmdline(p) for p in tree)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not _wait_gone(tree), [cmdline(p) for p in alive(tree)]
    assert_no_new_state(before)


def lab_processes(mark: str) -> set[int]:
    """Live processes of the labs this test started: runners and the labs' coturns, told from
    other labs on the machine (other test runs, `icesim lab up`) by the environment they inherit."""
    runner = os.path.join(REPO, "icesim", "lab", "runner.py")
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            line = cmdline(int(entry))
            if runner in line or ("turnserver" in line and "--realm=icesim" in line):
                try:
                    with open(f"/proc/{entry}/environ", "rb") as f:
                        if f"ICESIM_TEST_MARK={mark}".encode() in f.read().split(b"\0"):
                            out.add(int(entry))
                except OSError:
                    continue
    return alive(out)


@pytest.mark.parametrize("delay_s", [0.0, 0.01, 0.03, 0.06, 0.1])
def test_kill_9_while_the_lab_is_being_built_leaves_nothing(delay_s: float) -> None:
    """Killed delay_s after the sandbox's runner appeared: mid-build (the build takes ~0.1 s)."""
    mark = uuid.uuid4().hex
    before, procs_before = machine_state(), lab_processes(mark)
    proc = _icesim("lab", "gather", "cgnat", mark=mark)
    deadline = time.monotonic() + 10.0
    while not lab_processes(mark) - procs_before and time.monotonic() < deadline:
        time.sleep(0.002)
    assert lab_processes(mark) - procs_before, "no lab process ever started"
    time.sleep(delay_s)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5.0
    while lab_processes(mark) - procs_before and time.monotonic() < deadline:
        time.sleep(0.02)
    left = lab_processes(mark) - procs_before
    assert not left, [cmdline(p) for p in left]
    assert_no_new_state(before)


def test_lab_up_then_down_leaves_nothing(tmp_path) -> None:
    before = machine_state()
    env = {**os.environ, "PYTHONPATH": REPO, "ICESIM_LAB_DIR": str(tmp_path)}
    up = subprocess.run([sys.executable, "-m", "icesim", "lab", "up", "home-nat", "--name", "isl-t"],
                        capture_output=True, text=True, env=env, timeout=30)
    assert up.returncode == 0, up.stderr
    import json

    pid = json.loads(up.stdout)["pid"]
    assert "runner.py" in cmdline(pid) and (tmp_path / "isl-t.json").exists()
    tree = descendants(pid) | {pid}
    assert any("turnserver" in cmdline(p) for p in tree)  # still running after `lab up` exited
    down = subprocess.run([sys.executable, "-m", "icesim", "lab", "down", "isl-t"],
                          capture_output=True, text=True, env=env, timeout=30)
    assert down.returncode == 0, down.stderr
    assert not _wait_gone(tree), [cmdline(p) for p in alive(tree)]
    assert not (tmp_path / "isl-t.json").exists()
    assert_no_new_state(before)
