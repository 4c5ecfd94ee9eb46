"""`icesim repro 701 CASE --lab`: the same cases with kernel faults (nftables drops in a home
router, closed ports answered by the kernel, coturn and a STUN error responder in `public`),
checked against the same captured streams. Skipped where this machine cannot build labs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icesim.repro import get_case
from icesim.repro.lab_runner import run_case_in_lab
from icesim.repro.matching import match_stream

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "browser"), [
    ("stun-udp-blocked", "chrome"),  # nft drop of UDP to the server in the router
    ("stun-closed-port", "chrome"),  # the server namespace's kernel answers ICMP port unreachable
    ("proxy-udp-blocked", "chrome"),  # all UDP dropped; TURN/TCP relay from the lab's coturn
    ("stun-error-response", "chrome"),  # the embedded server answering 420, inside `public`
    ("turn-bad-credentials", "chrome"),
    ("turn-udp-unreachable", "firefox"),  # a public server: no loopback refusal to work around
])
async def test_case_in_a_lab_shows_the_captured_stream(lab_tools, name, browser):
    case = get_case(name)
    run = await asyncio.wait_for(run_case_in_lab(case, browser, time_scale=200, seed=4), 60)
    assert run.lab and run.servers["s0"].startswith("203.0.113.1:")
    assert match_stream(case.expected[browser], run.lines, run.servers) == []


def _icesim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "icesim", "repro", "701", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def test_cli_lab_run_and_a_case_without_a_lab_form(lab_tools):
    out = _icesim("stun-dns-failure", "--lab", "--format", "jsonl")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert lines[0]["type"] == "meta" and lines[-1]["type"] == "repro" and lines[-1]["matchesExpected"]
    out = _icesim("turn-tcp-refused", "--lab")
    assert out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1
    assert "cannot run in a lab" in out.stderr


def test_no_lab_here_is_one_line_and_exit_2(monkeypatch, capsys):
    """Without namespaces (or a tool): the lab's own one-line reason, exit 2."""
    import icesim.repro.lab_runner as lab_runner
    from icesim.cli import main
    from icesim.lab import LabUnavailable

    def unavailable(*args, **kwargs):
        raise LabUnavailable("lab: missing nft (Debian package nftables); install with apt-get")

    monkeypatch.setattr(lab_runner, "Lab", unavailable)
    monkeypatch.setattr(sys, "argv", ["icesim", "repro", "701", "stun-udp-blocked", "--lab"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert captured.err == "icesim: error: --lab: lab: missing nft (Debian package nftables); install with apt-get\n"
