"""`icesim lab` end to end, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icesim.lab import TOPOLOGIES

REPO = str(Path(__file__).resolve().parents[2])


def icesim(*args: str, state_dir: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": REPO}
    if state_dir is not None:
        env["ICESIM_LAB_DIR"] = str(state_dir)
    return subprocess.run([sys.executable, "-m", "icesim", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=timeout)


def test_list_describes_every_topology(tmp_path: Path) -> None:
    done = icesim("lab", "list", state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in TOPOLOGIES:
        assert f"\n{name} " in "\n" + done.stdout
    assert "running: none" in done.stdout
    rows = [json.loads(line) for line in icesim("lab", "list", "--json", state_dir=tmp_path).stdout.splitlines()]
    assert [r["topology"] for r in rows] == list(TOPOLOGIES)
    assert all(r["servers"] and "client" in r["namespaces"] for r in rows)


def test_dry_run_prints_the_commands_and_the_gather(tmp_path: Path) -> None:
    done = icesim("lab", "gather", "corporate", "--dry-run", "--seed", "3", state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "mount -t tmpfs -o mode=0755 icesim-lab /run/netns" in lines
    assert "    iifname \"lan0\" oifname \"wan0\" tcp dport 443 accept" in lines
    assert lines[-1].startswith("ip netns exec client python3 -m icesim gather --stun=stun:203.0.113.1:3478")
    assert lines[-1].endswith("--seed 3") and "--turn=turn:203.0.113.1:443?transport=tcp" in lines[-1]
    up = icesim("lab", "up", "cgnat", "--dry-run", state_dir=tmp_path)
    assert up.returncode == 0 and "snat to 203.0.113.20:40000-40999" in up.stdout


@pytest.mark.parametrize("args,needle", [
    (["lab", "gather", "nat-of-doom"], "invalid TOPOLOGY 'nat-of-doom'"),
    (["lab", "gather", "home-nat", "--time-scale", "x"], "invalid --time-scale 'x'"),
    (["lab", "gather", "home-nat", "--bogus"], "No such option '--bogus'"),
    (["lab", "down", "no-such-lab"], "invalid NAME 'no-such-lab'"),
    (["lab", "up", "home-nat", "--name", "bad/name"], "invalid NAME 'bad/name'"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    done = icesim(*args, state_dir=tmp_path)
    assert done.returncode == 2, done
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1 and needle in done.stderr, done.stderr


@pytest.mark.usefixtures("lab_tools")
def test_gather_prints_the_event_stream_of_the_lab() -> None:
    done = icesim("lab", "gather", "cgnat", "--time-scale", "50", "--no-mdns", "--seed", "5")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["type"] == "meta" and lines[-1]["candidate"] is None
    srflx = [e["candidate"] for e in lines if e["type"] == "icecandidate" and e["candidate"]
             and e["candidate"]["type"] == "srflx"]
    assert [c["address"] for c in srflx] == ["203.0.113.20"]
    pretty = icesim("lab", "gather", "home-nat", "--time-scale", "50", "--format", "pretty")
    assert pretty.returncode == 0 and "typ srflx" in pretty.stdout and "203.0.113.10" in pretty.stdout


@pytest.mark.usefixtures("lab_tools")
def test_up_exec_gather_in_down(tmp_path: Path) -> None:
    up = icesim("lab", "up", "symmetric-nat", "--name", "isl-cli", state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert info["name"] == "isl-cli" and info["up_s"] > 0
    try:
        assert "isl-cli (symmetric-nat" in icesim("lab", "list", state_dir=tmp_path).stdout
        again = icesim("lab", "up", "home-nat", "--name", "isl-cli", state_dir=tmp_path)
        assert again.returncode == 2 and "is running" in again.stderr
        addr = icesim("lab", "exec", "isl-cli", "router", "--", "ip", "-o", "-4", "addr", state_dir=tmp_path)
        assert addr.returncode == 0 and "203.0.113.10/24" in addr.stdout, addr.stderr
        bad_ns = icesim("lab", "exec", "isl-cli", "cgn", "true", state_dir=tmp_path)
        assert bad_ns.returncode == 2 and "no namespace 'cgn'" in bad_ns.stderr
        gathered = icesim("lab", "gather", "symmetric-nat", "--in", "isl-cli", "--time-scale", "50", "--no-mdns",
                          state_dir=tmp_path)
        assert gathered.returncode == 0, gathered.stderr
        ports = {json.loads(line)["candidate"]["port"] for line in gathered.stdout.splitlines()
                 if '"typ srflx' in line or '"type": "srflx"' in line}
        assert len(ports) == 2
    finally:
        down = icesim("lab", "down", "isl-cli", state_dir=tmp_path)
    assert down.returncode == 0, down.stderr
    assert "running: none" in icesim("lab", "list", state_dir=tmp_path).stdout
