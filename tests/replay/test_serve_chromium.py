"""`icesim replay --serve` with a real browser: headless Chromium inside a network namespace this
test creates (loopback only; the server runs in it too) loads /run/<id>, the page installs the
module and runs a shipped detector, and the results it POSTs back equal the Node replay's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detectors_support import (
    ICE_ERROR_OR_SILENCE, ICE_EXPORT, IP_MISMATCH, SILENCE_MS, dataset_rows, make_dataset, replay_jsonl,
)
from serve_support import (
    PipeChromium, ServeProcess, chromium_open, close, loopback_namespace, namespace_unavailable, serve_args,
)

REASON = namespace_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

PROFILES = ("human-chrome-linux-home-ethernet", "human-firefox-windows-home", "bot-proxy-blocks-udp",
            "bot-residential-proxy-mismatch", "bot-api-removed", "bot-setup-throws", "bot-stubbed-onicecandidate")
COMPARED = ("status", "value", "verdict", "reason", "label", "scenario", "profile")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("idt-serve-ds") / "ds", profiles=PROFILES, sessions=28, seed=5)


@pytest.fixture(scope="module")
def one_per_profile(dataset: Path) -> dict[str, str]:
    """profile -> its first session id."""
    chosen: dict[str, str] = {}
    for sid, row in dataset_rows(dataset).items():
        chosen.setdefault(row["profile"], sid)
    assert set(chosen) == set(PROFILES)
    return chosen


def _run_pages(dataset: Path, detector: Path, export: str | None, session_ids: list[str], clock: str,
               workdir: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with loopback_namespace() as ns:
        server = ServeProcess(serve_args(dataset, detector, export, port=0), netns=ns)
        try:
            for sid in session_ids:
                browser = chromium_open(ns, f"{server.url}run/{sid}?clock={clock}", workdir)
                try:
                    line = server.next_result(timeout=60)
                finally:
                    close(browser)
                results[line["session_id"]] = line
        finally:
            server.stop()
    return results


@pytest.mark.parametrize(("detector", "export"), [(ICE_ERROR_OR_SILENCE, ICE_EXPORT), (IP_MISMATCH, None)],
                         ids=["ice_error_or_silence-classic", "ip_mismatch-module"])
def test_chromium_pages_conclude_what_the_node_replay_concludes(dataset, one_per_profile, detector, export, tmp_path) -> None:
    node = replay_jsonl(dataset, detector, export)
    ids = list(one_per_profile.values())
    browser = _run_pages(dataset, detector, export, ids, "virtual", tmp_path)
    assert set(browser) == set(ids)
    for sid in ids:
        got, want = browser[sid], node[sid]
        assert {k: got.get(k) for k in COMPARED} == {k: want.get(k) for k in COMPARED}, sid
        assert got["settled_ms"] == pytest.approx(want["settled_ms"], abs=2), sid  # both browser time
        assert got["errors"] == want["errors"] == []


def test_real_clock_page_waits_the_detectors_own_two_seconds(dataset, one_per_profile, tmp_path) -> None:
    sid = one_per_profile["bot-proxy-blocks-udp"]
    line = _run_pages(dataset, ICE_ERROR_OR_SILENCE, ICE_EXPORT, [sid], "real", tmp_path)[sid]
    assert (line["status"], line["verdict"], line["value"]["reason"]) == ("resolved", "bot", "ICE_TIMEOUT")
    assert SILENCE_MS <= line["settled_ms"] < SILENCE_MS + 1000  # real ms since the page script started


def test_page_evaluate_of_icesim_result_is_the_printed_line(dataset, one_per_profile, tmp_path) -> None:
    """Playwright/Puppeteer: `await page.evaluate(() => window.icesimResult)` after goto."""
    node = replay_jsonl(dataset, IP_MISMATCH)
    with loopback_namespace() as ns:
        server = ServeProcess(serve_args(dataset, IP_MISMATCH, port=0), netns=ns)
        browser = PipeChromium(ns, tmp_path)
        try:
            for sid in one_per_profile.values():
                tab = browser.open(f"{server.url}run/{sid}?clock=virtual")
                line = browser.evaluate(tab, "window.icesimResult")
                assert line == server.next_result(timeout=30)
                assert {k: line.get(k) for k in COMPARED} == {k: node[sid].get(k) for k in COMPARED}, sid
        finally:
            browser.close()
            server.stop()


def test_a_teams_own_script_runs_on_a_page_served_without_a_detector(dataset, one_per_profile, tmp_path) -> None:
    """No --detector: the page installs the module; the team injects its script and runs it
    through window.icesim.run(fn), or calls it freely (the virtual clock keeps firing)."""
    node = replay_jsonl(dataset, ICE_ERROR_OR_SILENCE, ICE_EXPORT)
    source = ICE_ERROR_OR_SILENCE.read_text()
    with loopback_namespace() as ns:
        server = ServeProcess(serve_args(dataset, port=0), netns=ns)
        browser = PipeChromium(ns, tmp_path)
        try:
            for sid in one_per_profile.values():
                tab = browser.open(f"{server.url}run/{sid}")
                assert browser.evaluate(tab, "window.icesimReady") is True
                assert browser.evaluate(tab, "typeof RTCPeerConnection") in ("function", "undefined")  # API removed
                browser.evaluate(tab, source)  # page.addScriptTag({content})
                line = browser.evaluate(tab, f"icesim.run(window.{ICE_EXPORT})")
                assert line == server.next_result(timeout=30)
                assert {k: line.get(k) for k in COMPARED} == {k: node[sid].get(k) for k in COMPARED}, sid
            sid = one_per_profile["bot-proxy-blocks-udp"]
            tab = browser.open(f"{server.url}run/{sid}")
            browser.evaluate(tab, "window.icesimReady")
            browser.evaluate(tab, source)
            assert browser.evaluate(tab, f"{ICE_EXPORT}()") == node[sid]["value"] == {"isBot": True, "reason": "ICE_TIMEOUT"}
            assert browser.evaluate(tab, "performance.now()") >= SILENCE_MS  # browser time, on the virtual clock
        finally:
            browser.close()
            server.stop()


NOISY_DETECTOR = """
export default function detect(callback, page) {
  console.log("page", page.sessionId, { webAddress: page.webAddress, n: [1, 2], nested: { deep: true } });
  console.warn("warned %d times", 2);
  setTimeout(() => { throw new TypeError("timer boom"); }, 10);
  Promise.reject(new RangeError("nobody catches"));
  const pc = new RTCPeerConnection();
  pc.onicecandidate = (event) => { if (event.candidate) throw new Error("handler boom"); };
  pc.createDataChannel("");
  pc.createOffer().then((offer) => pc.setLocalDescription(offer));
  return new Promise((resolve) => setTimeout(() => resolve(new Map([["done", new Set([1, "x"])]])), 500));
}
"""


def test_console_and_uncaught_errors_read_as_in_node(dataset, one_per_profile, tmp_path) -> None:
    """Console lines, timer/handler errors and unhandled rejections: the runner's form."""
    detector = tmp_path / "noisy.mjs"
    detector.write_text(NOISY_DETECTOR)
    sid = one_per_profile["human-chrome-linux-home-ethernet"]
    want = replay_jsonl(dataset, detector, None, "--profile", "human-chrome-linux-home-ethernet")[sid]
    got = _run_pages(dataset, detector, None, [sid], "virtual", tmp_path)[sid]
    assert got["value"] == want["value"] == {"done": [1, "x"]}
    assert got["console"] == want["console"]
    assert sorted(got["errors"]) == sorted(want["errors"])
    assert "Uncaught (in promise) RangeError: nobody catches" in got["errors"]
    assert got["errors"].count("Error: handler boom") >= 2  # host and srflx candidates


def test_navigator_presents_the_sessions_user_agent_as_in_node(dataset, one_per_profile, tmp_path) -> None:
    detector = tmp_path / "ua.js"
    detector.write_text("function ua() { return [navigator.userAgent, navigator.appVersion, navigator.platform,"
                        " navigator.vendor, Object.getOwnPropertyNames(navigator).length]; }\n")
    ids = [one_per_profile["human-chrome-linux-home-ethernet"], one_per_profile["human-firefox-windows-home"]]
    node = replay_jsonl(dataset, detector, "ua")
    browser = _run_pages(dataset, detector, "ua", ids, "virtual", tmp_path)
    for sid in ids:
        assert browser[sid]["status"] == "returned"
        assert browser[sid]["value"] == node[sid]["value"], sid
