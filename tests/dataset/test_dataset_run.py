"""`icesim dataset` end to end: real gathers, output files, determinism, resume, atomicity, limits."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from icesim.dataset import output
from icesim.dataset.build import DatasetOptions, build_dataset
from icesim.dataset.output import DatasetDir, read_table
from icesim.schema import validate_line

FAST = "human-chrome-windows-home-wifi,bot-residential-proxy-mismatch,bot-headless-chrome-datacenter,bot-api-removed,bot-stubbed-onicecandidate"
_PORT = re.compile(r"(?<=[ :])\d{4,5}\b")


class _NoProgress:
    def __init__(self, total: int, already: int) -> None:
        self.done = already

    def __enter__(self):
        return self.advance

    def __exit__(self, *exc) -> None:
        pass

    def advance(self, n: int) -> None:
        self.done += n


def _build(tmp: Path, **kw) -> dict:
    opts = DatasetOptions(out=tmp, **{"profiles": FAST, "sessions": 60, "shard_size": 20, "concurrency": 50, **kw})
    warnings: list[str] = []
    manifest = build_dataset(opts, _NoProgress, warnings.append)
    manifest["_warnings"] = warnings
    return manifest


def masked(events_json: str) -> list[tuple]:
    """An event stream without what is real per run: port numbers and `t` (which adds real I/O
    time to the browser's timers), sorted: two events whose browser times lie within the real
    round-trip jitter (an srflx 3 ms after its request vs the mDNS host) may come in either
    order, in Chrome too (captures: srflx may precede the host)."""
    out = []
    for e in json.loads(events_json):
        c = e.get("candidate")
        text = _PORT.sub("P", c["candidate"]) if c else None
        out.append((e["type"], e.get("state") or "", text or "", e.get("errorText") or ""))
    return sorted(out)


def _sessions(path: Path) -> list[dict]:
    return sorted(read_table(path / "sessions.parquet", "parquet").to_pylist(), key=lambda r: r["index"])


def test_dataset_files_rows_and_real_streams(tmp_path):
    manifest = _build(tmp_path)
    assert manifest["status"] == "complete" and sum(manifest["counts"].values()) == 60
    assert {p["name"] for p in manifest["profiles"]} == set(FAST.split(","))
    assert all(len(p["sha256"]) == 64 for p in manifest["profiles"])
    assert sorted(os.listdir(tmp_path / "sessions.parquet")) == [f"part-0000{i}.parquet" for i in range(3)]
    rows = _sessions(tmp_path)
    assert [r["index"] for r in rows] == list(range(60))
    feats = {r["session_id"]: r for r in read_table(tmp_path / "features.parquet", "parquet").to_pylist()}
    assert set(feats) == {r["session_id"] for r in rows}
    by_profile: dict[str, list[dict]] = {}
    for r in rows:
        by_profile.setdefault(r["profile"], []).append(r)
        for event in json.loads(r["events"]):
            validate_line(json.dumps(event))  # the event schema
    for r in by_profile["human-chrome-windows-home-wifi"]:
        f = feats[r["session_id"]]
        assert f["has_mdns_host"] and f["n_srflx"] == 1 and f["srflx_web_mismatch"] is False and f["completed"]
        assert f["srflx_class"] == "residential" and f["srflx_port_preserved"] is True
        assert r["public_v4"] in r["events"]  # the virtual NAT's address is the srflx
    for r in by_profile["bot-residential-proxy-mismatch"]:
        f = feats[r["session_id"]]
        assert f["srflx_web_mismatch"] is True and f["srflx_class"] == "datacenter" and f["web_class"] == "residential_proxy"
    for r in by_profile["bot-headless-chrome-datacenter"]:
        assert feats[r["session_id"]]["has_public_host"]
    for r in by_profile["bot-api-removed"]:
        assert r["events"] == "[]" and "RTCPeerConnection" in r["page_error"]
    for r in by_profile["bot-stubbed-onicecandidate"]:
        types = [e["type"] for e in json.loads(r["events"])]
        assert types == ["icegatheringstatechange", "icegatheringstatechange"]


def test_same_seed_same_sessions_apart_from_ports(tmp_path):
    _build(tmp_path / "a", seed=5)
    _build(tmp_path / "b", seed=5, concurrency=7, shard_size=60)  # another schedule, same sessions
    _build(tmp_path / "c", seed=6)
    a, b, c = (_sessions(tmp_path / d) for d in "abc")
    stable = ("session_id", "seed", "label", "profile", "user_agent", "web_address", "public_v4", "interfaces", "rtt_ms")
    assert [[r[k] for k in stable] for r in a] == [[r[k] for k in stable] for r in b]
    assert [masked(r["events"]) for r in a] == [masked(r["events"]) for r in b]
    assert [r["web_address"] for r in a] != [r["web_address"] for r in c]


def test_jsonl_format(tmp_path):
    _build(tmp_path, fmt="jsonl", sessions=10, shard_size=5)
    lines = (tmp_path / "features.jsonl" / "part-00001.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["session_id"] == "0-5"


def test_unsupported_profile_fails_clearly_or_is_skipped(tmp_path):
    """A setting the engine refuses for the profile's browser (Firefox's SDP with audio m-lines is
    not modelled) or that `icesim dataset` cannot serve (TURN) exits 2 naming the field; nothing
    is written."""
    sdp = tmp_path / "ff-sdp.toml"
    sdp.write_text('label = "human"\n[browser]\nname = "firefox"\nversions = { "153" = 1.0 }\n[page]\nsdp = true\n'
                   'media = ["audio", "data"]\n')
    turn = tmp_path / "turn.toml"
    turn.write_text('label = "bot"\n[page]\nturn = ["udp"]\n')
    for path, field, value in ((sdp, "page.sdp", "audio,data"), (turn, "page.turn", "udp")):
        r = subprocess.run([sys.executable, "-m", "icesim", "dataset", "--profiles", str(path), "--sessions", "5",
                            "--out", str(tmp_path / "x"), "--no-progress"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert field in r.stderr and value in r.stderr and path.name in r.stderr and "--skip-unsupported" in r.stderr
        assert not (tmp_path / "x").exists()
    manifest = _build(tmp_path / "y", profiles=f"{sdp},bot-api-removed", skip_unsupported=True, sessions=5)
    assert [p["name"] for p in manifest["profiles"]] == ["bot-api-removed"]
    assert any("ff-sdp" in w for w in manifest["_warnings"])


def test_page_settings_reach_the_gather(tmp_path):
    """Policy, m-lines, pool, page timeout and SDP from the profile shape the stream."""
    page = tmp_path / "page.toml"
    page.write_text('label = "human"\n[page]\nmedia = ["audio", "video", "data"]\nbundle_policy = "balanced"\n'
                    'pool_size = 1\nsdp = true\n')
    _build(tmp_path / "ds", profiles=f"{page},bot-policy-disable-non-proxied-udp", sessions=20)
    feats = {r["session_id"]: r for r in read_table(tmp_path / "ds" / "features.parquet", "parquet").to_pylist()}
    for r in _sessions(tmp_path / "ds"):
        f = feats[r["session_id"]]
        if r["profile"] == "page":
            assert f["n_transports"] == 3 and r["sdp"].startswith("v=0") and "m=audio" in r["sdp"]
            events = json.loads(r["events"])
            first_gathering = next(i for i, e in enumerate(events) if e.get("state") == "gathering")
            assert first_gathering > 0  # the pooled transport's candidates come before "gathering"
        else:
            assert f["n_candidates"] == 0 and f["n_errors"] == 0 and f["completed"] and r["sdp"] is None


def test_rerun_with_other_settings_refuses(tmp_path):
    _build(tmp_path, sessions=20)
    with pytest.raises(output.ProfileError, match="seed differs"):
        _build(tmp_path, sessions=20, seed=9)


def test_a_failed_write_leaves_no_part(tmp_path, monkeypatch):
    out = DatasetDir(tmp_path, "parquet")
    out.prepare()

    def disk_full(self, batch, *args, **kw):  # the part file exists, half written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.pq.ParquetWriter, "write_table", disk_full)
    with pytest.raises(OSError):
        out.write_shard(0, [], [])
    assert os.listdir(out.sessions_dir) == [] and out.finished_shards() == set()


def test_resume_after_kill_9(tmp_path):
    """kill -9 mid-run: finished shards are whole, nothing half-written looks like data; the re-run
    only does the missing shards."""
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "icesim", "dataset", "--profiles", "human-chrome-linux-home-ethernet", "--sessions", "400",
           "--shard-size", "20", "--concurrency", "2", "--workers", "2", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "features.parquet").glob("part-*"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the workers die with the parent: nothing is written after this
    before = {f.name: f.stat().st_mtime_ns for f in (out / "features.parquet").glob("part-*")}
    time.sleep(0.5)
    assert {f.name for f in (out / "features.parquet").glob("part-*")} == set(before), "a worker outlived the kill"
    assert 2 <= len(before) < 20, "the run should have been killed part-way"
    for d in ("sessions.parquet", "features.parquet"):
        for f in (out / d).iterdir():
            if not f.name.startswith("."):
                assert pq.read_table(f).num_rows == 20  # every visible part is whole
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"] == {"human": 400}
    assert manifest["resumed_shards"] >= len(before) and manifest["sessions_this_run"] <= 400 - 20 * len(before)
    for name, mtime in before.items():
        assert (out / "features.parquet" / name).stat().st_mtime_ns == mtime  # not redone
    rows = read_table(out / "sessions.parquet", "parquet").column("index").to_pylist()
    assert sorted(rows) == list(range(400))
    assert not [f for d in ("sessions.parquet", "features.parquet") for f in os.listdir(out / d) if f.startswith(".")]


def test_low_fd_limit_caps_concurrency_with_a_message_and_loses_nothing(tmp_path):
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    r = subprocess.run([sys.executable, "-m", "icesim", "dataset", "--profiles", "human-chrome-windows-home-wifi",
                        "--sessions", "300", "--concurrency", "5000", "--out", str(tmp_path), "--no-progress"],
                       capture_output=True, text=True, timeout=120, preexec_fn=low_limit)
    assert r.returncode == 0, r.stderr
    assert "--concurrency 5000 capped to 45" in r.stderr and "RLIMIT_NOFILE is 200" in r.stderr
    feats = read_table(tmp_path / "features.parquet", "parquet").to_pylist()
    assert len(feats) == 300 and all(f["n_srflx"] == 1 and f["n_host"] == 1 for f in feats)


def test_thousands_in_flight_lose_no_stun_answer(tmp_path):
    """The shared STUN servers keep up with 1500 gathers in flight: every session of a profile that
    does not block UDP gets its srflx, and the server sockets drop nothing."""
    manifest = _build(tmp_path, profiles="human-chrome-windows-home-wifi,bot-headless-chrome-datacenter",
                      sessions=3000, shard_size=1000, concurrency=1500)
    stats = manifest["stun_server"]
    assert stats["kernel_drops"] == 0 and stats["unexpected_timeouts"] == 0 and stats["stun_requests"] >= 3000
    feats = read_table(tmp_path / "features.parquet", "parquet").to_pylist()
    assert all(f["n_srflx"] == 1 and f["n_701"] == 0 for f in feats)


def test_dialects_and_names_from_profiles(tmp_path):
    """Firefox/Safari profiles speak their dialect (a Chrome UA on a Firefox stream is caught);
    the page's servers carry public aliases, never loopback (Firefox would refuse them); an IPv6
    stack whose server name has no AAAA gets the benign host-lookup 701, a dual-stack home an
    IPv6 srflx."""
    profiles = ("human-firefox-windows-home,bot-chrome-ua-firefox-stream,human-ios-safari-cgnat,"
                "human-ipv6-no-route,human-chrome-dualstack-ipv6-home")
    _build(tmp_path, profiles=profiles, sessions=40, shard_size=40)
    rows = _sessions(tmp_path)
    feats = {r["session_id"]: r for r in read_table(tmp_path / "features.parquet", "parquet").to_pylist()}
    seen = set()
    for r in rows:
        f, p = feats[r["session_id"]], r["profile"]
        seen.add(p)
        assert "127.0.0.1" not in r["events"] and "::1" not in r["events"]
        if p == "human-firefox-windows-home":
            assert r["browser"].startswith("firefox@") and f["dialect_consistent"] is True and f["n_srflx"] == 1
        elif p == "bot-chrome-ua-firefox-stream":
            assert r["browser"].startswith("firefox@") and "Chrome/" in r["user_agent"] and f["dialect_consistent"] is False
        elif p == "human-ios-safari-cgnat":
            assert r["browser"].startswith("safari@") and f["dialect_consistent"] is True and f["srflx_class"] == "mobile_carrier"
        elif p == "human-ipv6-no-route":
            assert f["error_texts"] == "STUN host lookup received error." and f["n_701"] == 1 and f["n_srflx"] == 1
        else:
            assert f["n_701"] == 0 and f["n_srflx"] == 2 and f["n_ipv6_candidates"] == 1
    assert len(seen) == 5


def test_slow_paths_keep_srflx_one_round_trip_after_the_request(tmp_path):
    """A 150 ms path under --time-scale 1000: the session runs on real timers, so its srflx comes
    one RTT after gathering starts, not after Chrome's scaled 250 ms retransmission."""
    slow = tmp_path / "slow.toml"
    slow.write_text('label = "human"\n[network]\nrtt_ms = 150.0\nrtt_sigma = 0.0\n')
    fast = tmp_path / "fast.toml"
    fast.write_text('label = "human"\n[network]\nrtt_ms = 20.0\nrtt_sigma = 0.0\n')
    _build(tmp_path / "ds", profiles=f"{slow},{fast}", sessions=20, concurrency=20)
    for r in _sessions(tmp_path / "ds"):
        events = json.loads(r["events"])
        t_gathering = next(e["t"] for e in events if e.get("state") == "gathering")
        t_srflx = next(e["t"] for e in events if (e.get("candidate") or {}).get("type") == "srflx")
        assert r["time_scale"] == (1.0 if r["profile"] == "slow" else 1000.0)
        assert r["rtt_ms"] - 0.2 <= t_srflx - t_gathering < r["rtt_ms"] + 60  # t is rounded to 0.1 ms


def test_shard_numbers_beyond_five_digits(tmp_path):
    out = DatasetDir(tmp_path, "jsonl")
    out.prepare()
    out.write_shard(123456, [], [])
    out.write_shard(7, [], [])
    assert out.finished_shards() == {7, 123456}
