"""The runner's page environment (icesim/js/icesim-page-env.mjs): an unmodified fingerprinting
script reads document, location, cookies and storage and reports what it found with fetch,
navigator.sendBeacon, XMLHttpRequest and an image pixel; every send is recorded in the session's
result (`requests`) and none leaves the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icesim.replay.matrix import outcome_of
from js_helpers import ROOT, fixture_doc, needs_node, replay, run_node, write_detector

PAGE_URL = "https://shop.example.com/checkout/step?cart=7#pay"

# Written for this test after the seed documents' logic: gather the candidates' addresses, and on
# the null candidate post the verdict four ways, as real scripts do.
REPORTING_DETECTOR = r"""
function detectAndReport(callback, page) {
  const started = performance.now();
  const facts = { url: location.href, path: location.pathname, search: location.search, hash: location.hash,
    origin: location.origin, host: location.host, referrer: document.referrer, ready: document.readyState,
    title: document.title, urlSame: document.URL === location.href && document.documentURI === location.href };
  document.cookie = "seen=1; path=/; SameSite=Lax";
  document.cookie = "gone=1; max-age=0";
  document.cookie = "tls=1; Secure";
  document.cookie = "nope=1; HttpOnly";
  localStorage.setItem("visits", String(Number(localStorage.getItem("visits") || 0) + 1));
  sessionStorage.tab = "a";
  facts.cookie = document.cookie;
  facts.visits = localStorage.getItem("visits");
  facts.tab = sessionStorage.getItem("tab");
  return new Promise((resolve) => {
    const ips = [];
    const pc = new RTCPeerConnection({ iceServers: [{ urls: "stun:stun.example.test:3478" }] });
    pc.onicecandidate = (event) => {
      if (event.candidate) { ips.push(event.candidate.candidate.split(" ")[4]); return; }
      const verdict = { isBot: false, reason: "ICE_SUCCESS", ips, facts, nullAt: performance.now() - started };
      fetch("/fp/collect?sid=" + encodeURIComponent(page.sessionId), { method: "post",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(verdict) })
        .then((response) => response.text().then((text) => [response.status, response.ok, text]))
        .then(([status, ok, text]) => {
          const queued = navigator.sendBeacon("https://beacon.example.test/b", new URLSearchParams({ reason: verdict.reason }));
          setTimeout(() => {
            const xhr = new XMLHttpRequest();
            const states = [];
            xhr.onreadystatechange = () => states.push(xhr.readyState);
            xhr.open("PUT", "../api/verdict");
            xhr.onload = () => {
              const img = new Image();
              img.onload = () => resolve({ ...verdict, fetched: [status, ok, text], queued, xhr: [xhr.status, states] });
              img.src = "//pixel.example.test/p.gif?r=" + verdict.reason;
            };
            xhr.send(new TextEncoder().encode(verdict.reason));
          }, 250);
        });
    };
    pc.createDataChannel("");
    pc.createOffer().then((offer) => pc.setLocalDescription(offer));
  });
}
"""


@needs_node
def test_a_reporting_detector_runs_and_its_requests_are_recorded(tmp_path: Path) -> None:
    detector = write_detector(tmp_path, REPORTING_DETECTOR)
    first, second = replay(detector, [fixture_doc("chrome_stun"), fixture_doc("chrome_stun", session_id="again")],
                           page_url=PAGE_URL)
    assert first["status"] == "resolved", first
    value = first["value"]
    assert (value["isBot"], value["reason"]) == (False, "ICE_SUCCESS") and len(value["ips"]) == 3
    assert value["facts"] == {
        "url": PAGE_URL, "path": "/checkout/step", "search": "?cart=7", "hash": "#pay", "origin": "https://shop.example.com",
        "host": "shop.example.com", "referrer": "", "ready": "complete", "title": "", "urlSame": True,
        # RFC 6265 5.4: longer paths first; tls=1 got the default path /checkout
        "cookie": "tls=1; seen=1", "visits": "1", "tab": "a"}
    assert value["fetched"] == [204, True, ""] and value["queued"] is True
    assert value["xhr"] == [204, [1, 2, 3, 4]]

    requests = first["requests"]
    assert [(r["api"], r["method"], r["url"]) for r in requests] == [
        ("fetch", "POST", "https://shop.example.com/fp/collect?sid=chrome_stun"),
        ("beacon", "POST", "https://beacon.example.test/b"),
        ("xhr", "PUT", "https://shop.example.com/api/verdict"),
        ("image", "GET", "https://pixel.example.test/p.gif?r=ICE_SUCCESS"),
    ]
    posted = json.loads(requests[0]["body"])
    assert posted["ips"] == value["ips"] and posted["facts"]["url"] == PAGE_URL
    assert [r["body"] for r in requests[1:]] == ["reason=ICE_SUCCESS", "ICE_SUCCESS", None]
    # t is browser time since the call: the fetch went out on the null candidate (166 ms after
    # createOffer in this recording), the XHR after the detector's own 250 ms timer.
    fetch_t, beacon_t, xhr_t, image_t = (r["t"] for r in requests)
    assert fetch_t == pytest.approx(value["nullAt"], abs=0.2) and fetch_t > 160
    assert beacon_t >= fetch_t and xhr_t == pytest.approx(beacon_t + 250, abs=5) and image_t >= xhr_t
    assert first["settled_ms"] >= image_t

    # The next session is a fresh page: its own storage and cookie jar.
    assert second["status"] == "resolved" and second["value"]["facts"]["visits"] == "1"
    assert second["requests"][0]["url"].endswith("sid=again")


FIDELITY_DETECTOR = r"""
function pageFacts() {
  const tag = (x) => Object.prototype.toString.call(x);
  const canvas = document.createElement("canvas");
  const div = document.createElement("div");
  div.setAttribute("data-x", "1");
  div.style.display = "none";
  div.dataset.y = "2";
  document.body.appendChild(div);
  let loadFired = false;
  window.addEventListener("load", () => { loadFired = true; });
  document.addEventListener("DOMContentLoaded", () => { loadFired = true; });
  const docDesc = Object.getOwnPropertyDescriptor(window, "document");
  const facts = {
    tags: [document, location, localStorage, sessionStorage, history, screen, document.body, document.head,
      document.documentElement, canvas, div, new Image(), new XMLHttpRequest(), navigator].map(tag),
    natives: [fetch, navigator.sendBeacon, XMLHttpRequest, Image, document.createElement, docDesc.get,
      Object.getOwnPropertyDescriptor(Document.prototype, "cookie").set, Storage.prototype.getItem].map(String),
    documentConfigurable: docDesc.configurable,
    documentIsEventTarget: document instanceof EventTarget && document instanceof Node,
    canvas: [canvas.getContext("2d"), canvas.width, canvas.height],
    div: [div.getAttribute("data-x"), div.style.display, div.parentNode === document.body, div.parentElement.tagName],
    removed: document.body.removeChild(div) === div && div.parentNode === null,
    queries: [document.getElementById("nothing"), document.querySelector(".none"), document.querySelectorAll("p").length,
      document.currentScript, document.getElementsByTagName("head")[0] === document.head],
    document: [document.visibilityState, document.hidden, document.characterSet, document.readyState],
    screen: [screen.width, screen.height, innerWidth, devicePixelRatio, history.length],
    storageKeys: (localStorage.a = 1, localStorage.setItem("b", 2), Object.keys(localStorage)),
    storageLength: localStorage.length,
    location: [String(location), location + "", `${location}`],
  };
  return new Promise((resolve) => setTimeout(() => resolve({ ...facts, loadFired }), 1000));
}
"""


@needs_node
@pytest.mark.parametrize(("family", "user_agent", "screen"), [
    ("chrome_stun", None, [1920, 1080, 1920, 1, 1]),
    ("chrome_stun", "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/156.0.0.0 Mobile Safari/537.36", [412, 915, 412, 2.625, 1]),
    ("firefox_stun", None, [1920, 1080, 1920, 1, 1]),
])
def test_the_page_objects_have_the_browsers_shape(tmp_path: Path, family: str, user_agent, screen) -> None:
    detector = write_detector(tmp_path, FIDELITY_DETECTOR)
    doc = fixture_doc(family, **({"user_agent": user_agent} if user_agent else {}))
    result, = replay(detector, [doc])
    assert result["status"] == "resolved", result
    facts = result["value"]
    assert facts["tags"] == ["[object HTMLDocument]", "[object Location]", "[object Storage]", "[object Storage]",
                             "[object History]", "[object Screen]", "[object HTMLBodyElement]", "[object HTMLHeadElement]",
                             "[object HTMLHtmlElement]", "[object HTMLCanvasElement]", "[object HTMLDivElement]",
                             "[object HTMLImageElement]", "[object XMLHttpRequest]", "[object Navigator]"]
    firefox = family.startswith("firefox")
    for text, name in zip(facts["natives"], ["fetch", "sendBeacon", "XMLHttpRequest", "Image", "createElement",
                                             "get document", "set cookie", "getItem"]):
        shown = name.split(" ")[-1] if firefox else name
        assert text == (f"function {shown}() {{\n    [native code]\n}}" if firefox else f"function {shown}() {{ [native code] }}")
    assert facts["documentConfigurable"] is False and facts["documentIsEventTarget"] is True
    assert facts["canvas"] == [None, 300, 150]
    assert facts["div"] == ["1", "none", True, "BODY"] and facts["removed"] is True
    assert facts["queries"] == [None, None, 0, None, True]
    assert facts["document"] == ["visible", False, "UTF-8", "complete"]
    assert facts["screen"] == screen
    assert facts["storageKeys"] == ["a", "b"] and facts["storageLength"] == 2
    assert facts["location"] == ["https://www.icesim.test/"] * 3
    assert facts["loadFired"] is False  # the page had loaded before the detector ran
    assert result["requests"] == [] and result["errors"] == []


@needs_node
def test_sends_are_capped_and_bad_urls_fail_as_in_a_browser(tmp_path: Path) -> None:
    detector = write_detector(tmp_path, r"""
function flood() {
  const errors = [];
  for (const bad of ["http://[", "ftp://files.example.test/x"]) {
    try { navigator.sendBeacon(bad, "x"); } catch (e) { errors.push(e.name + ": " + e.message); }
  }
  try { new XMLHttpRequest().open("GET", "http://["); } catch (e) { errors.push(e.name); }
  for (let i = 0; i < 60; i++) navigator.sendBeacon("/b?i=" + i, "x".repeat(5000));
  return fetch("http://[").then(() => errors, (e) => [...errors, e.name]);
}
""")
    result, = replay(detector, [fixture_doc("chrome_stun")])
    assert result["status"] == "resolved"
    assert result["value"] == ["TypeError: Failed to execute 'sendBeacon' on 'Navigator': Invalid URL",
                               "TypeError: Failed to execute 'sendBeacon' on 'Navigator': Beacons are only supported over HTTP(S).",
                               "SyntaxError", "TypeError"]
    requests = result["requests"]
    assert len(requests) == 50 and requests[-1]["url"] == "https://www.icesim.test/b?i=49"
    assert {len(r["body"]) for r in requests} == {4096}


@needs_node
def test_a_bad_page_url_in_the_job_fails_the_job(tmp_path: Path) -> None:
    detector = write_detector(tmp_path, "function detect(cb) { cb(true); }\n")
    proc = run_node({"detector": str(detector), "page_url": "javascript:alert(1)"}, [fixture_doc("chrome_stun")])
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ['runner: job: "page_url" must be an absolute http(s) URL, got "javascript:alert(1)"']


def test_requests_pass_through_to_the_jsonl_line() -> None:
    doc = {"session_id": "s", "label": "bot", "scenario": "x", "profile": "p", "browser": "chrome@156"}
    sent = [{"t": 1.5, "api": "beacon", "method": "POST", "url": "https://www.icesim.test/b", "body": "x"}]
    result = {"session_id": "s", "status": "unsettled", "value": None, "settled_ms": 500, "errors": [], "console": []}
    line = outcome_of(doc, {**result, "requests": sent}).line()
    assert list(line)[-1] == "requests" and line["requests"] == sent and line["verdict"] == "unsettled"
    assert "requests" not in outcome_of(doc, {**result, "requests": []}).line()  # nothing sent: no key


# --- icesim replay --page-url, end to end -----------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "icesim", "replay", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ien-page-env") / "ds"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "icesim", "dataset", "--sessions", "2", "--profiles",
                           "human-chrome-linux-home-ethernet", "--workers", "1", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("bad", ["ftp://files.example.test/", "shop.example.com/checkout", "https://a.test:99999/"])
def test_a_bad_page_url_is_one_line_and_exit_2(tmp_path: Path, dataset: Path, bad: str) -> None:
    detector = write_detector(tmp_path, "function detect(cb) { cb(true); }\n")
    done = run_cli("--sessions", str(dataset), "--detector", str(detector), "--page-url", bad)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"icesim: error: invalid --page-url {bad!r}: must be an absolute http(s) URL, e.g. https://shop.example.com/checkout"]


def test_page_url_is_for_the_node_runner_only(dataset: Path) -> None:
    done = run_cli("--serve", str(dataset), "--port", "0", "--page-url", "https://shop.example.com/")
    assert done.returncode == 2 and done.stdout == ""
    line, = done.stderr.strip().splitlines()
    assert line.startswith("icesim: error: invalid --page-url ") and line.endswith("only applies without --serve (the Node runner)")


@needs_node
def test_a_detector_that_only_beacons_is_unsettled_with_its_requests_in_the_line(tmp_path: Path, dataset: Path) -> None:
    detector = write_detector(tmp_path, """
function beaconOnly(callback, page) {
  setTimeout(() => navigator.sendBeacon("collect", JSON.stringify({ sid: page.sessionId, at: location.pathname })), 120);
}
""")
    done = run_cli("--sessions", str(dataset), "--detector", str(detector), "--format", "jsonl", "--max-ms", "500",
                   "--page-url", "http://shop.example.com:8080/a/b")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(ln) for ln in done.stdout.splitlines()]
    assert len(lines) == 3 and lines[-1]["summary"]["totals"]["human"]["unsettled"] == 2
    for line in lines[:2]:
        # nothing left to wait for after the beacon's timer: the runner gives up there
        assert (line["status"], line["verdict"], line["settled_ms"]) == ("unsettled", "unsettled", 120)
        request, = line["requests"]
        assert request == {"t": 120, "api": "beacon", "method": "POST", "url": "http://shop.example.com:8080/a/collect",
                           "body": json.dumps({"sid": line["session_id"], "at": "/a/b"}, separators=(",", ":"))}


@needs_node
def test_scripts_iframes_and_images_with_a_src_are_recorded_loads(tmp_path: Path) -> None:
    detector = write_detector(tmp_path, r"""
function jsonp() {
  const events = [];
  const on = (el, name) => { el.onload = () => events.push(name + ":load"); el.onerror = () => events.push(name + ":error"); };
  const detached = document.createElement("script");
  detached.src = "/never.js";  // not connected: not fetched
  const inline = document.createElement("script");
  inline.textContent = "var seen = 1;";
  document.head.appendChild(inline);
  inline.src = "/too-late.js";  // already started as an inline script: not fetched
  const empty = document.createElement("script");
  document.head.appendChild(empty);  // no src, no text: not started yet
  const script = document.createElement("script");
  on(script, "script");
  script.src = "https://cdn.example.test/cb.js?v=" + encodeURIComponent(navigator.userAgent.slice(0, 7));
  document.getElementsByTagName("head")[0].appendChild(script);
  const wrapper = document.createElement("div");
  const frame = document.createElement("iframe");
  on(frame, "iframe");
  frame.setAttribute("src", "frame.html");
  wrapper.appendChild(frame);
  document.body.appendChild(wrapper);  // connected with its parent
  const blank = new Image();
  on(blank, "blank");
  blank.src = "";
  empty.src = "late.js";  // now it is fetched (connected, not started)
  return new Promise((resolve) => setTimeout(() => resolve(events), 10));
}
""")
    result, = replay(detector, [fixture_doc("chrome_stun")], page_url="https://shop.example.com/p/index.html")
    assert result["status"] == "resolved", result
    assert sorted(result["value"]) == ["blank:error", "iframe:load", "script:load"]
    assert [(r["api"], r["method"], r["url"], r["body"]) for r in result["requests"]] == [
        ("script", "GET", "https://cdn.example.test/cb.js?v=Mozilla", None),
        ("iframe", "GET", "https://shop.example.com/p/frame.html", None),
        ("script", "GET", "https://shop.example.com/p/late.js", None),
    ]


MEDIA_DETECTOR = r"""
function media() {
  const queries = ["(prefers-color-scheme: dark)", "(pointer: coarse)", "(hover: hover)", "(min-width: 1024px)",
    "(orientation: portrait)", "(-webkit-min-device-pixel-ratio: 2)", "not all and (monochrome)", "(bogus: 1)"];
  const div = document.createElement("div");
  div.style.cssText = "color: red; display: none";
  const started = performance.now();
  return new Promise((resolve) => requestAnimationFrame((frame) => resolve({
    matches: queries.map((q) => matchMedia(q).matches), list: String(matchMedia("(color)")),
    computed: [getComputedStyle(div).getPropertyValue("display"), getComputedStyle(div).color],
    frame: [frame - started, performance.now() - started],
  })));
}
"""


@needs_node
@pytest.mark.parametrize(("user_agent", "matches"), [
    (None, [False, False, True, True, False, False, True, False]),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile "
     "Safari/537.36", [False, True, False, False, True, True, True, False]),
])
def test_media_queries_follow_the_form_factor_and_animation_frames_run(tmp_path: Path, user_agent, matches) -> None:
    detector = write_detector(tmp_path, MEDIA_DETECTOR)
    doc = fixture_doc("chrome_stun", page_ms=1000.05, **({"user_agent": user_agent} if user_agent else {}))
    result, = replay(detector, [doc])
    assert result["status"] == "resolved", result
    value = result["value"]
    assert value["matches"] == matches and value["list"] == "[object MediaQueryList]"
    assert value["computed"] == ["none", "red"]
    waited, now = value["frame"]  # the next 60 Hz frame of the page's clock (icesim-clock.mjs)
    assert 0 < waited <= 1000 / 60 and now == waited


@needs_node
def test_blob_and_form_data_bodies_are_recorded_as_sent(tmp_path: Path) -> None:
    detector = write_detector(tmp_path, r"""
function beaconBlob() {
  const form = new FormData();
  form.append("sid", "a b");
  form.append("file", new Blob(["raw"]));
  form.set("sid", "c&d");
  navigator.sendBeacon("/json", new Blob([JSON.stringify({ bot: true }), new Uint8Array([33])], { type: "application/json" }));
  navigator.sendBeacon("/form", form);
  const blob = new Blob(["h\u00e9"]);
  return blob.text().then((text) => [text, blob.size, String(blob), [...form.keys()], form.get("sid")]);
}
""")
    result, = replay(detector, [fixture_doc("chrome_stun")])
    assert result["value"] == ["h\u00e9", 3, "[object Blob]", ["sid", "file"], "c&d"]
    assert [(r["url"], r["body"]) for r in result["requests"]] == [
        ("https://www.icesim.test/json", '{"bot":true}!'), ("https://www.icesim.test/form", "sid=c%26d&file=raw")]
