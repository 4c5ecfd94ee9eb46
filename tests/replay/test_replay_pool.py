"""icesim/replay/pool.py against a real Node process speaking the runner protocol
(tests/replay/data/fake-runner.mjs): results in input order over several processes, a busy loop
killed at the wall limit and the run going on in a fresh process, a runner that dies, exit 2
when the detector does not load, and no Node at all."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from icesim.replay import pool
from icesim.replay.pool import ReplayUnavailable, RunnerJob, node_command, run_documents

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js (apt-get install nodejs)")
FAKE_RUNNER = Path(__file__).parent / "data" / "fake-runner.mjs"

DETECTOR = """
module.exports = function (callback, page, doc) {
  const id = page.sessionId;
  if (id.startsWith("busy")) { while (true) {} }
  if (id.startsWith("slow")) return new Promise((r) => setTimeout(() => r({ isBot: false, reason: "slow" }), 60));
  if (id.startsWith("reject")) return Promise.reject(new Error("timeout"));
  if (id.startsWith("throw")) throw new TypeError("boom");
  if (id.startsWith("never")) return new Promise(() => {});
  callback(doc.label === "bot");
};
"""


def _docs(ids: list[str]) -> list[dict]:
    return [{"session_id": sid, "label": "bot" if k % 2 else "human", "web_address": None, "user_agent": None}
            for k, sid in enumerate(ids)]


def _run(tmp_path: Path, ids: list[str], source: str = DETECTOR, jobs: int = 1, wall: float = 10.0,
         export: str | None = None) -> list[tuple[str, dict]]:
    detector = tmp_path / "detector.js"
    detector.write_text(source)
    out: list[tuple[str, dict]] = []
    command = [NODE, "--no-warnings", str(FAKE_RUNNER)]
    job = RunnerJob(detector=detector, export=export, max_ms=1500)
    asyncio.run(run_documents(_docs(ids), job, command, lambda d, r: out.append((d["session_id"], r)),
                              jobs=jobs, wall_timeout_s=wall))
    return out


def test_results_come_back_in_input_order_over_several_processes(tmp_path: Path) -> None:
    ids = [f"{'slow' if k % 3 == 0 else 'fast'}-{k}" for k in range(12)]
    got = _run(tmp_path, ids, jobs=3)
    assert [sid for sid, _ in got] == ids
    assert all(r["session_id"] == sid for sid, r in got)
    by_id = dict(got)
    assert by_id["slow-0"]["status"] == "resolved" and by_id["slow-0"]["value"] == {"isBot": False, "reason": "slow"}
    assert by_id["fast-1"] == {**by_id["fast-1"], "status": "callback", "value": True}
    assert by_id["fast-2"]["value"] is False


def test_each_status_is_passed_through(tmp_path: Path) -> None:
    got = dict(_run(tmp_path, ["reject-0", "throw-1", "never-2", "fast-3"]))
    assert got["reject-0"]["status"] == "rejected" and got["reject-0"]["value"]["message"] == "timeout"
    assert got["throw-1"]["status"] == "threw" and got["throw-1"]["value"] == {"name": "TypeError", "message": "boom"}
    assert got["never-2"]["status"] == "unsettled"
    assert got["fast-3"]["status"] == "callback"


def test_a_busy_loop_is_killed_at_the_wall_limit_and_a_fresh_runner_takes_the_rest(tmp_path: Path) -> None:
    started: list[int] = []
    real_start = pool._Runner.start

    async def counting_start(command, job):
        runner = await real_start(command, job)
        started.append(runner.proc.pid)
        return runner

    pool._Runner.start = counting_start  # type: ignore[method-assign]
    try:
        got = _run(tmp_path, ["fast-0", "busy-1", "fast-2", "fast-3"], wall=1.0)
    finally:
        pool._Runner.start = real_start  # type: ignore[method-assign]
    assert [sid for sid, _ in got] == ["fast-0", "busy-1", "fast-2", "fast-3"]
    busy = got[1][1]
    assert busy["status"] == "unsettled"
    assert busy["value"]["reason"] == "no answer within 1 s of real time (busy loop?)"
    assert [r["status"] for _, r in got[2:]] == ["callback", "callback"]
    assert len(started) == 2  # the killed runner and its replacement
    for pid in started:  # no process left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_runner_that_dies_fails_its_session_only(tmp_path: Path) -> None:
    got = _run(tmp_path, ["fast-0", "crash-the-runner", "fast-2"])
    assert got[1][1]["status"] == "threw"
    assert got[1][1]["value"]["message"].startswith("the replay runner exited 3")
    assert got[2][1]["status"] == "callback"


@pytest.mark.parametrize("source,export,message", [
    ("function detect(cb) { cb(true) ", None, "SyntaxError"),
    ("function detect(cb) { cb(true) }", "nope", "no function nope"),
])
def test_a_detector_that_does_not_load_stops_the_run_with_the_runners_line(tmp_path, source, export, message) -> None:
    with pytest.raises(ReplayUnavailable) as info:
        _run(tmp_path, ["fast-0", "fast-1", "fast-2"], source=source, export=export, jobs=2)
    text = str(info.value)
    assert text.startswith("icesim replay: ") and message in text and "\n" not in text


def test_a_classic_script_export_by_name(tmp_path: Path) -> None:
    got = _run(tmp_path, ["a", "b"], source="function detect(cb, page) { cb(page.sessionId === 'a'); }", export="detect")
    assert [r["value"] for _, r in got] == [True, False]


def test_no_node_is_one_line_saying_to_install_it(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ReplayUnavailable, match=r"needs Node\.js >= 18: install it"):
        node_command()


def test_an_old_node_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\necho v16.20.0\n")
    fake.chmod(0o755)
    with pytest.raises(ReplayUnavailable, match=r"needs Node\.js >= 18; .* is v16\.20\.0"):
        node_command(str(fake))
