"""`icesim replay` end to end on a real small dataset: the table and the JSONL output, the exit 2
of a detector that does not load, and a busy-looping detector that is killed while the run goes
on. With the real runner (icesim/js/replay-runner.mjs) the detectors drive the replayed
RTCPeerConnection; the fake runner (tests/replay/data) checks the CLI's own wiring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icesim.replay import pool
from icesim.replay.certificate import PAGE_EPOCH_MS

ROOT = Path(__file__).resolve().parents[2]
REAL_RUNNER = ROOT / "icesim" / "js" / "replay-runner.mjs"
FAKE_RUNNER = Path(__file__).parent / "data" / "fake-runner.mjs"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (apt-get install nodejs)")
needs_runner = pytest.mark.skipif(not REAL_RUNNER.is_file(), reason="icesim/js/replay-runner.mjs is not in this build")

PROFILES = "human-chrome-linux-home-ethernet,bot-proxy-blocks-udp"

# Seed document 000's logic (written here): an ICE error, or no candidate within 2 s, means bot.
ICE_ERROR_DETECTOR = """
function detect(callback) {
  const pc = new RTCPeerConnection({ iceServers: [{ urls: "stun:stun.example.test:3478" }] });
  let done = false;
  const finish = (isBot, reason) => { if (!done) { done = true; pc.close(); callback({ isBot, reason }); } };
  pc.onicecandidateerror = (e) => finish(true, "ice-error " + e.errorCode);
  pc.onicecandidate = (e) => { if (e.candidate === null) finish(false, "complete"); };
  setTimeout(() => finish(true, "silence"), 2000);
  pc.createDataChannel("x");
  pc.createOffer().then((offer) => pc.setLocalDescription(offer));
}
"""


def run_cli(*args: str, runner: Path = REAL_RUNNER) -> subprocess.CompletedProcess:
    """`python -m icesim replay ...`; the fake runner is swapped in through a sitecustomize."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from icesim.cli import main; sys.argv[0] = 'icesim'; main()"
    if runner != REAL_RUNNER:
        code = (f"from pathlib import Path; import icesim.replay.pool as p; p.runner_script = lambda: Path({str(runner)!r}); "
                + code)
    return subprocess.run([sys.executable, "-c", code, "replay", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("icl-replay-cli") / "ds"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "icesim", "dataset", "--sessions", "40", "--profiles", PROFILES,
                           "--workers", "1", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def counts(stdout: str) -> dict[tuple[str, str], list[int]]:
    """scenario, label -> [sessions, bot, human, error, unsettled] from the table."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[2].isdigit():
            out[(parts[0], parts[1])] = [int(p) for p in parts[2:]]
    return out


# --- the CLI's wiring, on the fake runner ----------------------------------------------------------

def test_table_and_jsonl_with_the_fake_runner(tmp_path: Path, dataset: Path) -> None:
    det = write(tmp_path, "label.js", "module.exports = (cb, page, doc) => cb(doc.label === 'bot');")
    done = run_cli("--sessions", str(dataset), "--detector", str(det), "--jobs", "2", runner=FAKE_RUNNER)
    assert done.returncode == 0, done.stderr
    table = counts(done.stdout)
    bots, humans = table[("udp-blocked", "bot")], table[("home-nat", "human")]
    assert bots[0] + humans[0] == 40 and bots[1] == bots[0] and humans[2] == humans[0]
    assert "bot = positive: TPR 1.000" in done.stdout and "FPR 0.000" in done.stdout
    done = run_cli("--sessions", str(dataset), "--detector", str(det), "--format", "jsonl", "--limit", "5",
                   runner=FAKE_RUNNER)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(ln) for ln in done.stdout.splitlines()]
    assert len(lines) == 6 and list(lines[-1]) == ["summary"] and lines[-1]["summary"]["sessions"] == 5
    assert [ln["session_id"] for ln in lines[:5]] == ["0-0", "0-1", "0-2", "0-3", "0-4"]  # dataset order
    assert all(ln["verdict"] == ln["label"] for ln in lines[:5])


def test_a_detector_that_does_not_load_exits_2_before_any_output(tmp_path: Path, dataset: Path) -> None:
    det = write(tmp_path, "broken.js", "function detect(cb) { cb(true) ")
    for fmt in ("table", "jsonl"):
        done = run_cli("--sessions", str(dataset), "--detector", str(det), "--format", fmt, runner=FAKE_RUNNER)
        assert done.returncode == 2 and done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith("icesim: error: icesim replay: ") and "SyntaxError" in line


# --- real detectors on the real runner ------------------------------------------------------------

@needs_runner
def test_an_ice_error_detector_flags_the_udp_blocking_proxy(tmp_path: Path, dataset: Path) -> None:
    det = write(tmp_path, "ice_error.js", ICE_ERROR_DETECTOR)
    done = run_cli("--sessions", str(dataset), "--detector", str(det), "--export", "detect")
    assert done.returncode == 0, done.stderr
    table = counts(done.stdout)
    bots, humans = table[("udp-blocked", "bot")], table[("home-nat", "human")]
    # The proxy drops UDP: no srflx and Chrome's 701 after ~40 s, but the 2 s timer fires first.
    assert bots[1] == bots[0] and humans[2] == humans[0], done.stdout
    assert "udp-blocked / bot -> bot: silence" in done.stdout
    assert "home-nat / human -> human: complete" in done.stdout


@needs_runner
def test_a_busy_loop_is_unsettled_and_the_run_goes_on(tmp_path: Path, dataset: Path) -> None:
    det = write(tmp_path, "busy.js", "function detect(cb, page) { if (page.sessionId === '0-1') { while (true) {} } cb(false); }")
    done = run_cli("--sessions", str(dataset), "--detector", str(det), "--export", "detect", "--limit", "4",
                   "--jobs", "1", "--wall-timeout", "1", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(ln) for ln in done.stdout.splitlines()]
    assert [(ln["session_id"], ln["verdict"]) for ln in lines[:4]] == [
        ("0-0", "human"), ("0-1", "unsettled"), ("0-2", "human"), ("0-3", "human")]
    assert lines[1]["reason"] == "no answer within 1 s of real time (busy loop?)"
    assert lines[-1]["summary"]["problems"] == [{"session_id": "0-1", "verdict": "unsettled", "reason": lines[1]["reason"]}]


@needs_runner
def test_a_missing_export_exits_2_with_the_runners_line(tmp_path: Path, dataset: Path) -> None:
    det = write(tmp_path, "d.js", "function detect(cb) { cb(true); }")
    done = run_cli("--sessions", str(dataset), "--detector", str(det), "--export", "nope")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "nope" in done.stderr


def test_the_pool_finds_the_runner_in_the_package() -> None:
    assert pool.runner_script() == REAL_RUNNER


@needs_runner
def test_a_reader_that_goes_away_stops_the_run_quietly(tmp_path: Path, dataset: Path) -> None:
    det = write(tmp_path, "d.js", "function detect(cb) { cb(false); }")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "icesim", "replay", "--sessions", str(dataset), "--detector", str(det),
                             "--export", "detect", "--format", "jsonl", "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["session_id"] == "0-0"
    proc.stdout.close()  # `| head -1`
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""


@pytest.mark.parametrize("extra, option", [(("--port", "9000"), "--port")])
def test_a_serve_option_without_serve_is_an_error(tmp_path: Path, dataset: Path, extra, option) -> None:
    det = write(tmp_path, "d.js", "function detect() { return true; }\n")
    done = run_cli("--sessions", str(dataset), "--detector", str(det), *extra)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"icesim: error: invalid {option} {int(extra[1])!r}: only applies with --serve DIR"]


@pytest.mark.parametrize("extra, option", [(("--jobs", "2"), "--jobs"), (("--format", "jsonl"), "--format"),
                                           (("--wall-timeout", "3"), "--wall-timeout"), (("--no-progress",), "--no-progress")])
def test_a_node_runner_option_with_serve_is_an_error(dataset: Path, extra, option) -> None:
    done = run_cli("--serve", str(dataset), "--port", "0", *extra)
    assert done.returncode == 2 and done.stdout == ""
    line, = done.stderr.strip().splitlines()
    assert line.startswith(f"icesim: error: invalid {option} ") and line.endswith("only applies without --serve (the Node runner)")


def test_the_page_date_is_the_wall_clock_unless_fixed(tmp_path: Path, dataset: Path) -> None:
    """Date.now() in the page is today's (a detector may compare it with its server's clock);
    --fixed-date gives the fixed time origin of reproducible documents."""
    det = write(tmp_path, "date.js", "function detect(cb) { cb({ now: Date.now(), origin: performance.timeOrigin,"
                                     " since: performance.now() }); }\n")
    before = time.time() * 1000.0
    live = run_cli("--sessions", str(dataset), "--detector", str(det), "--format", "jsonl", "--limit", "3")
    after = time.time() * 1000.0
    fixed = run_cli("--sessions", str(dataset), "--detector", str(det), "--format", "jsonl", "--limit", "3", "--fixed-date")
    for done in (live, fixed):
        assert done.returncode == 0, done.stderr
    live_values = [json.loads(x)["value"] for x in live.stdout.splitlines()[:3]]
    fixed_values = [json.loads(x)["value"] for x in fixed.stdout.splitlines()[:3]]
    for value in live_values:
        assert before - 5.0 <= value["now"] <= after + 5.0
        assert value["now"] == pytest.approx(value["origin"] + value["since"], abs=1.0)
    assert {v["origin"] + v["since"] >= 1795000000000 for v in fixed_values} == {True}
    assert [v["now"] for v in fixed_values] == [int(PAGE_EPOCH_MS + v["since"]) for v in fixed_values]
