"""Reading sessions for `icesim replay` (icesim/replay/sessions.py) from real `icesim dataset`
runs (Parquet and JSONL) and from `icesim gather` streams; the filters; and bad --sessions input,
which is one line naming the option and the value, exit 2, nothing on stdout."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from icesim.config import ConfigError
from icesim.replay.document import replay_document
from icesim.replay.sessions import SessionFilter, read_sessions
from test_replay_document import engine_sdp_as_replayed

ROOT = Path(__file__).resolve().parents[2]
PROFILES = "human-chrome-linux-home-ethernet,bot-proxy-blocks-udp"
SDP_PROFILES = {
    "icl-chrome-sdp": 'label = "human"\nscenario = "sdp-check"\n[browser]\nversions = { "156" = 1.0 }\n'
                      '[page]\nsdp = true\nmedia = ["audio", "video", "data"]\nbundle_policy = "max-bundle"\n',
    "icl-firefox-sdp": 'label = "bot"\nscenario = "sdp-check"\n[browser]\nname = "firefox"\nversions = { "153" = 1.0 }\n'
                       '[page]\nsdp = true\n',
}


def icesim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "icesim", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def build(out: Path, profiles: str, sessions: int, fmt: str = "parquet") -> Path:
    done = icesim("dataset", "--sessions", str(sessions), "--profiles", profiles, "--workers", "1", "--out", str(out),
                  "--format", fmt, "--no-progress")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("icl-replay-datasets")
    paths = {fmt: build(root / fmt, PROFILES, 40, fmt) for fmt in ("parquet", "jsonl")}
    for name, text in SDP_PROFILES.items():
        (root / f"{name}.toml").write_text(text)
    paths["sdp"] = build(root / "sdp", ",".join(str(root / f"{n}.toml") for n in SDP_PROFILES), 12)
    return paths


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_dataset_reads_back_every_session(datasets, fmt) -> None:
    rows = read_sessions(datasets[fmt])
    assert len(rows) == 40
    assert {r["profile"] for r in rows} == set(PROFILES.split(","))
    assert all(r["media"] == "data" and r["bundle_policy"] == "balanced" for r in rows)
    docs = [replay_document(r) for r in rows]
    assert {(d["profile"], d["label"], d["scenario"]) for d in docs} == {
        ("human-chrome-linux-home-ethernet", "human", "home-nat"), ("bot-proxy-blocks-udp", "bot", "udp-blocked")}
    blocked = [d for d in docs if d["profile"] == "bot-proxy-blocks-udp"]
    assert all(any(e["type"] == "icecandidateerror" and e["errorCode"] == 701 for e in d["events"]) for d in blocked)
    assert all(d["web_address"] and d["user_agent"] for d in docs)


def test_both_formats_give_the_same_documents(datasets) -> None:
    parquet = [replay_document(r) for r in read_sessions(datasets["parquet"])]
    jsonl = [replay_document(r) for r in read_sessions(datasets["jsonl"])]
    assert [d["session_id"] for d in parquet] == [d["session_id"] for d in jsonl]
    # Same seed, same identity: the SDP differs only where real port numbers do.
    for a, b in zip(parquet, jsonl):
        assert a["offer_sdp"] == b["offer_sdp"] and a["offer_ms"] == b["offer_ms"]


def test_rows_with_their_own_sdp_end_in_that_sdp(datasets) -> None:
    """Exactly the row's `sdp`; Chrome's names the replay certificate's fingerprint instead of
    the dialect's drawn one (test_replay_certificate.py)."""
    rows = read_sessions(datasets["sdp"])
    assert {r["profile"] for r in rows} == set(SDP_PROFILES)
    for row in rows:
        assert row["sdp"], row["session_id"]
        doc = replay_document(row)
        assert doc["local_descriptions"][-1][1] == engine_sdp_as_replayed(doc, row["sdp"]), row["profile"]
    chrome = next(r for r in rows if r["profile"] == "icl-chrome-sdp")
    assert (chrome["media"], chrome["bundle_policy"]) == ("audio,video,data", "max-bundle")


def test_a_stubbed_callback_session_keeps_its_candidates_for_the_sdp_and_stats(tmp_path: Path) -> None:
    rows = read_sessions(build(tmp_path / "stubbed", "bot-stubbed-onicecandidate", 4, "jsonl"))
    for row in rows:
        whole = json.loads(row["stubbed_events"])
        assert not any(e["type"] == "icecandidate" for e in json.loads(row["events"]))
        hosts = [e for e in whole if e["type"] == "icecandidate" and e["candidate"]]
        assert hosts
        doc = replay_document(row)
        assert doc["webrtc"] == "stubbed_callback" and not any(e["type"] == "icecandidate" for e in doc["events"])
        last = doc["local_descriptions"][-1][1]
        assert all(f"a={re.sub(r' ufrag [^ ]+', '', e['candidate']['candidate'])}" in last for e in hosts)
        assert len([e for _, e in doc["stats"] if e["type"] == "local-candidate"]) >= len(hosts)


def test_a_dataset_without_the_new_columns_defaults_to_one_data_m_line(datasets) -> None:
    row = read_sessions(datasets["parquet"], SessionFilter(limit=1))[0]
    old = {k: v for k, v in row.items() if k not in ("media", "bundle_policy", "stubbed_events")}
    assert replay_document(old) == replay_document(row)


def test_filters(datasets) -> None:
    path = datasets["parquet"]
    assert {r["scenario"] for r in read_sessions(path, SessionFilter(scenarios=("udp-*",)))} == {"udp-blocked"}
    assert {r["profile"] for r in read_sessions(path, SessionFilter(profiles=("human-*",)))} == {"human-chrome-linux-home-ethernet"}
    limited = read_sessions(path, SessionFilter(profiles=("bot-proxy-blocks-udp",), limit=3))
    assert len(limited) == 3 and all(r["profile"] == "bot-proxy-blocks-udp" for r in limited)
    with pytest.raises(ConfigError, match="no session matches --scenario nope"):
        read_sessions(path, SessionFilter(scenarios=("nope",)))


def test_a_gather_stream_is_one_unlabelled_session(tmp_path: Path) -> None:
    done = icesim("gather", "--seed", "5", "--sdp", "--time-scale", "10", "--interface", "eth0=198.51.100.2")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "home.jsonl"
    path.write_text(done.stdout)
    (row,) = read_sessions(path)
    assert (row["session_id"], row["label"], row["scenario"], row["seed"]) == ("home", None, None, 5)
    doc = replay_document(row)
    engine_sdp = json.loads(done.stdout.splitlines()[-1])["sdp"]
    assert doc["local_descriptions"][-1][1] == engine_sdp_as_replayed(doc, engine_sdp)
    assert [e["type"] for e in doc["events"]][0] == "icegatheringstatechange"
    # Two streams in one file: two sessions.
    path.write_text(done.stdout + done.stdout)
    assert [r["session_id"] for r in read_sessions(path)] == ["home#1", "home#2"]


@pytest.mark.parametrize("bundle_policy", ["balanced", "max-bundle"])
def test_a_gather_streams_m_lines_are_read_back(tmp_path: Path, bundle_policy: str) -> None:
    args = ("gather", "--seed", "8", "--time-scale", "10", "--interface", "eth0=198.51.100.2",
            "--media", "audio,video,data", "--bundle-policy", bundle_policy)
    with_sdp = icesim(*args, "--sdp")
    assert with_sdp.returncode == 0, with_sdp.stderr
    (tmp_path / "avd.jsonl").write_text(with_sdp.stdout)
    (row,) = read_sessions(tmp_path / "avd.jsonl")
    assert (row["media"], row["bundle_policy"]) == ("audio,video,data", bundle_policy)
    doc = replay_document(row)
    engine_sdp = json.loads(with_sdp.stdout.splitlines()[-1])["sdp"]
    assert doc["local_descriptions"][-1][1] == engine_sdp_as_replayed(doc, engine_sdp)
    if bundle_policy == "balanced":  # without --sdp: three m-lines in Chrome's order
        without = icesim(*args)
        (tmp_path / "avd2.jsonl").write_text(without.stdout)
        (row,) = read_sessions(tmp_path / "avd2.jsonl")
        assert (row["media"], row["bundle_policy"]) == ("audio,video,data", "balanced")


def _bad(tmp_path: Path, path: str, *more: str) -> str:
    detector = tmp_path / "d.js"
    detector.write_text("function detect(cb) { cb(false); }")
    done = icesim("replay", "--sessions", path, "--detector", str(detector), *more)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_bad_sessions_input_is_one_line_and_exit_2(tmp_path: Path, datasets) -> None:
    missing = tmp_path / "nope"
    assert _bad(tmp_path, str(missing)) == f"icesim: error: invalid --sessions '{missing}': no such file or directory"
    (tmp_path / "plain").mkdir()
    assert "is not an icesim dataset directory (no manifest.json)" in _bad(tmp_path, str(tmp_path / "plain"))
    empty_ds = tmp_path / "empty-ds"
    empty_ds.mkdir()
    (empty_ds / "manifest.json").write_text("{}")
    assert "has no sessions.parquet/ or sessions.jsonl/ parts" in _bad(tmp_path, str(empty_ds))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert _bad(tmp_path, str(empty)).endswith(f"'{empty}': holds no sessions")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert f"invalid --sessions '{text}:1': is not JSON" in _bad(tmp_path, str(text))
    headless = tmp_path / "events.jsonl"
    headless.write_text('{"type": "icecandidate", "t": 1, "candidate": null}\n')
    assert "its first line is not a meta line" in _bad(tmp_path, str(headless))
    assert "no session matches --profile x" in _bad(tmp_path, str(datasets["parquet"]), "--profile", "x")
    broken = tmp_path / "broken"
    shutil.copytree(datasets["parquet"], broken)
    (part,) = (broken / "sessions.parquet").glob("part-*.parquet")
    part.write_bytes(part.read_bytes()[:200])  # a part cut short
    assert "unreadable sessions part" in _bad(tmp_path, str(broken))
    alien = tmp_path / "alien.jsonl"
    alien.write_text(json.dumps({"type": "meta", "schema": "icesim.events/1", "browser": "netscape@4", "seed": 1}) + "\n")
    assert _bad(tmp_path, str(alien)) == ("icesim: error: invalid --sessions 'netscape@4': session alien: "
                                          "must be chrome[@VERSION], firefox or safari")


def test_bad_options_are_one_line_and_exit_2(tmp_path: Path, datasets) -> None:
    ds = str(datasets["parquet"])
    done = icesim("replay", "--sessions", ds, "--detector", str(tmp_path / "missing.js"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"icesim: error: invalid --detector '{tmp_path / 'missing.js'}': no such file"
    assert "invalid --export 'a-b': is not a JavaScript identifier" in _bad(tmp_path, ds, "--export", "a-b")
    assert "invalid --jobs 0: must be >= 1" in _bad(tmp_path, ds, "--jobs", "0")
    assert "invalid --wall-timeout 0.0: must be > 0" in _bad(tmp_path, ds, "--wall-timeout", "0")
    done = icesim("replay", "--sessions", ds)
    assert done.returncode == 2 and "invalid --detector None: is required" in done.stderr


def test_no_node_is_one_line_and_exit_2(tmp_path: Path, datasets) -> None:
    detector = tmp_path / "d.js"
    detector.write_text("function detect(cb) { cb(false); }")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": str(tmp_path)}  # no node on PATH
    done = subprocess.run([sys.executable, "-m", "icesim", "replay", "--sessions", str(datasets["parquet"]),
                           "--detector", str(detector)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().startswith("icesim: error: icesim replay needs Node.js >= 18: install it")
