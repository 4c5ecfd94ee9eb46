"""`icesim replay --serve` over HTTP, without a browser: what it serves (index, documents equal to
the Node replay's, module, detector, pages that load the detector only through the module's
page script), what it prints for a POSTed result (an `icesim replay --format jsonl` line), and
its bad input (one line, exit 2)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from detectors_support import GATHER_IPS_TIMEOUT, IP_MISMATCH, dataset_rows, icesim, make_dataset, replay_jsonl
from icesim.replay.document import replay_document
from icesim.replay.sessions import read_sessions
from serve_support import ServeProcess, serve_args

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (make test installs it)")

PROFILES = ("human-chrome-linux-home-ethernet", "bot-proxy-blocks-udp", "bot-residential-proxy-mismatch", "bot-api-removed")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("idt-http-ds") / "ds", profiles=PROFILES, sessions=8, seed=3)


@pytest.fixture(scope="module")
def server(dataset: Path):
    # --fixed-date: documents comparable byte for byte with replay_document(row)
    proc = ServeProcess(serve_args(dataset, GATHER_IPS_TIMEOUT, "gatherWebRtcIps", 0, "--fixed-date"))
    yield proc
    assert proc.stop() == 0, "".join(proc.stderr)  # SIGTERM ends it cleanly


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def post(url: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_stderr_names_the_url_and_the_detector(server: ServeProcess) -> None:
    text = "".join(server.stderr)
    assert f"serving 8 sessions at {server.url}" in text
    assert "gather_ips_timeout.js (classic)" in text


def test_index_and_sessions_json_list_every_session(server: ServeProcess, dataset: Path) -> None:
    rows = dataset_rows(dataset)
    status, _, listing = get(server.url + "sessions.json")
    sessions = json.loads(listing)
    assert status == 200 and [s["session_id"] for s in sessions] == list(rows)
    assert all(s["label"] == rows[s["session_id"]]["label"] for s in sessions)
    status, ctype, index = get(server.url)
    assert status == 200 and ctype.startswith("text/html")
    assert all(f"/run/{sid}?clock=virtual" in index for sid in rows)


def test_documents_are_the_node_replays(server: ServeProcess, dataset: Path) -> None:
    for row in read_sessions(dataset):
        status, _, body = get(f"{server.url}doc/{row['session_id']}.json")
        assert status == 200 and json.loads(body) == json.loads(json.dumps(replay_document(row)))


def test_without_fixed_date_a_document_is_dated_when_it_is_served(dataset: Path) -> None:
    proc = ServeProcess(serve_args(dataset, port=0))
    try:
        row = next(r for r in read_sessions(dataset) if r["browser"].startswith("chrome") and r["webrtc"] == "present")
        before = time.time() * 1000.0
        doc = json.loads(get(f"{proc.url}doc/{row['session_id']}.json")[2])
        after = time.time() * 1000.0
        # the page calls its detector now: Date.now() then is epoch_ms + page_ms
        assert before - 1.0 <= doc["epoch_ms"] + doc["page_ms"] <= after + 1.0
        cert = x509.load_der_x509_certificate(base64.b64decode(
            next(e for _, e in doc["stats"] if e["type"] == "certificate")["base64Certificate"]))
        assert abs(cert.not_valid_before_utc.timestamp() + 86400 - before / 1000.0) < 2.0  # made now, valid from a day ago
        fixed = replay_document(row)
        assert {k: v for k, v in doc.items() if k not in ("epoch_ms", "offer_sdp", "local_descriptions", "stats")} \
            == {k: v for k, v in fixed.items() if k not in ("epoch_ms", "offer_sdp", "local_descriptions", "stats")}
    finally:
        assert proc.stop() == 0


def test_page_installs_the_module_before_loading_the_detector(server: ServeProcess, dataset: Path) -> None:
    sid = next(iter(dataset_rows(dataset)))
    status, ctype, page = get(f"{server.url}run/{sid}?clock=real")
    assert status == 200 and ctype.startswith("text/html")
    scripts = re.findall(r"<script([^>]*)>", page)
    # the config, then the page script: the detector is loaded by it, after installIcesim
    assert scripts == [" type='application/json' id='icesim-config'", " type='module' src='/serve_page.mjs'"]
    config = json.loads(re.search(r"id='icesim-config'>(.*?)</script>", page)[1])
    assert config["clock"] == "real" and config["sessionId"] == sid
    assert (config["detectorKind"], config["exportName"]) == ("classic", "gatherWebRtcIps")
    for url in (config["moduleUrl"], config["detectorUrl"], config["documentUrl"], "/serve_page.mjs"):
        assert get(server.url + url.lstrip("/"))[0] == 200, url
    page_script = get(server.url + "serve_page.mjs")[2]
    assert page_script.index("installIcesim(window") < page_script.index("await loadDetector()")


def test_a_posted_result_becomes_a_jsonl_line(server: ServeProcess, dataset: Path) -> None:
    rows = dataset_rows(dataset)
    sid = next(s for s, r in rows.items() if r["profile"] == "bot-proxy-blocks-udp")
    node_line = replay_jsonl(dataset, GATHER_IPS_TIMEOUT, "gatherWebRtcIps", "--profile", "bot-proxy-blocks-udp")[sid]
    result = {k: node_line[k] for k in ("status", "value", "settled_ms", "errors", "console")}
    status, body = post(f"{server.url}result/{sid}", json.dumps(result).encode())
    printed = server.next_result(timeout=30)
    assert status == 200 and json.loads(body) == printed
    assert printed == node_line  # same shape and verdict as `icesim replay --format jsonl`
    assert printed["verdict"] == "bot"  # a rejection flags the visitor (--rejected bot)
    status, _, results = get(server.url + "results.json")
    assert status == 200 and json.loads(results) == [printed]


@pytest.mark.parametrize(("method", "path", "body", "code"), [
    ("GET", "run/no-such-session", None, 404),
    ("GET", "doc/no-such-session.json", None, 404),
    ("GET", "run/{sid}?clock=fast", None, 400),
    ("GET", "detector/../serve.py", None, 404),
    ("GET", "detector/%2e%2e/%2e%2e/replay/serve.py", None, 404),
    ("GET", "js/../../cli.py", None, 404),
    ("POST", "result/{sid}", b"not json", 400),
    ("POST", "result/{sid}", b'{"value": 1}', 400),
    ("POST", "result/{sid}", b'{"status": "won"}', 400),
    ("POST", "result/{sid}", b'{"status": "resolved", "errors": "boom"}', 400),
    ("POST", "result/{sid}", b'{"status": "resolved", "settled_ms": "late"}', 400),
    ("POST", "result/{sid}", b'[]', 400),
    ("POST", "result/no-such-session", b'{"status": "resolved"}', 404),
])
def test_bad_requests_are_refused(server: ServeProcess, dataset: Path, method, path, body, code) -> None:
    sid = next(iter(dataset_rows(dataset)))
    url = server.url + path.format(sid=sid)
    status = get(url)[0] if method == "GET" else post(url, body)[0]
    assert status == code
    assert server.lines.empty()  # nothing printed for them


def _error_line(*args: str) -> str:
    done = icesim("replay", *args, check=False, timeout=60)
    assert done.returncode == 2 and done.stdout == "", done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_bad_options_are_one_line_and_exit_2(dataset: Path, tmp_path: Path) -> None:
    assert "--port" in _error_line(*serve_args(dataset, IP_MISMATCH, port=70000))
    assert "--detector" in _error_line(*serve_args(dataset, tmp_path / "missing.js"))
    assert "--export" in _error_line(*serve_args(dataset, None, "detect"))
    assert "--export" in _error_line(*serve_args(dataset, IP_MISMATCH, "not an identifier"))
    missing = _error_line(*serve_args(dataset, IP_MISMATCH, "noSuchFunction"))  # the runner's own check
    assert "--export" in missing and 'no function "noSuchFunction"' in missing and "compareWithWebAddress" in missing
    broken = tmp_path / "broken.js"
    broken.write_text("function detect( {\n")
    line = _error_line(*serve_args(dataset, broken))
    assert "--detector" in line and "broken.js:2: Unexpected end of input" in line
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        line = _error_line(*serve_args(dataset, IP_MISMATCH, port=taken.getsockname()[1]))
        assert "--port" in line and "cannot listen" in line


def test_without_a_detector_the_page_only_installs_the_module(dataset: Path) -> None:
    proc = ServeProcess(serve_args(dataset, port=0))
    try:
        sid = next(iter(dataset_rows(dataset)))
        config = json.loads(re.search(r"id='icesim-config'>(.*?)</script>", get(f"{proc.url}run/{sid}")[2])[1])
        assert config["detectorUrl"] is None and config["clock"] == "virtual"
        assert get(proc.url + "detector/ip_mismatch.mjs")[0] == 404
        assert "no detector" in "".join(proc.stderr)
    finally:
        assert proc.stop() == 0


def test_bad_sessions_name_the_serve_option(tmp_path: Path) -> None:
    assert _error_line("--serve", str(tmp_path / "missing")).startswith("icesim: error: invalid --serve ")
    (tmp_path / "empty").mkdir()
    assert "--serve" in _error_line("--serve", str(tmp_path / "empty"))
