"""`icesim dataset --lab` end to end: sessions gathered in real labs (kernel NAT, nftables drops,
coturn), the same output files, resume after a lost shard and after kill -9, and the one-line
refusal where namespaces are not permitted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from icesim.schema import validate_line
from lab_helpers import alive, cmdline, descendants

pytestmark = pytest.mark.usefixtures("lab_tools")
REPO = str(Path(__file__).resolve().parents[2])
ENV = {**os.environ, "PYTHONPATH": REPO}
HOME, BLOCKED = "human-chrome-linux-home-ethernet", "human-corporate-udp-blocked"
# A profile naming its lab (the carrier NAT's pool is 203.0.113.20:40000-40999).
CGNAT_PROFILE = """# A phone behind a carrier NAT, run in the `cgnat` lab.
label = "human"
scenario = "mobile-cgnat"

[page]
permission = "granted"

[network]
nat = "cgnat"
topology = "cgnat"
interfaces = [{ name = "rmnet_data0", type = "cellular", cidr = "100.64.0.0/10" }]
rtt_ms = 5.0
"""


def _dataset(out: Path, profiles: str, sessions: int, *extra: str, timeout: float = 240) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "icesim", "dataset", "--lab", "--profiles", profiles, "--sessions", str(sessions),
            "--shard-size", "6", "--labs", "3", "--seed", "5", "--out", str(out), "--no-progress", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=REPO)


def _cands(events: list[dict], type_: str) -> list[dict]:
    return [e["candidate"] for e in events if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["type"] == type_]


@pytest.fixture(scope="module")
def cgnat_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("isdl-profiles") / "isdl-cgnat-phone.toml"
    path.write_text(CGNAT_PROFILE)
    return path


@pytest.fixture(scope="module")
def lab_dataset(tmp_path_factory: pytest.TempPathFactory, cgnat_profile: Path) -> tuple[Path, str, dict]:
    out = tmp_path_factory.mktemp("isdl-ds") / "ds"
    spec = f"{HOME},{BLOCKED},{cgnat_profile}"
    done = _dataset(out, spec, 18)
    assert done.returncode == 0, done.stderr
    return out, spec, json.loads(done.stdout)


def test_sessions_are_kernel_real_per_topology(lab_dataset: tuple[Path, str, dict]) -> None:
    out, _, summary = lab_dataset
    rows = pq.read_table(out / "sessions.parquet").to_pylist()
    feats = {f["session_id"]: f for f in pq.read_table(out / "features.parquet").to_pylist()}
    assert summary["status"] == "complete" and len(rows) == 18 and len(feats) == 18
    topology = {HOME: "home-nat", BLOCKED: "udp-blocked", "isdl-cgnat-phone": "cgnat"}
    assert {r["profile"] for r in rows} == set(topology)
    for row in rows:
        events = json.loads(row["events"])
        for event in events:
            validate_line(json.dumps(event))
        assert row["lab_topology"] == topology[row["profile"]]
        assert events[-1] == {"type": "icecandidate", "t": events[-1]["t"], "candidate": None}
        host, srflx = _cands(events, "host"), _cands(events, "srflx")
        errors = [e for e in events if e["type"] == "icecandidateerror"]
        f = feats[row["session_id"]]
        assert row["browser_ms"] == max(e["t"] for e in events)
        if row["profile"] == HOME:
            # The router's masquerade: its public address, the host's port kept (Linux keeps a free port).
            assert [c["address"] for c in srflx] == ["203.0.113.10"] and row["public_v4"] == "203.0.113.10"
            assert srflx[0]["port"] == host[0]["port"] and f["srflx_port_preserved"] is True
            assert host[0]["address"].endswith(".local") and not errors
        elif row["profile"] == BLOCKED:
            # The router drops UDP: Chrome's STUN timeout, browser time ~40 s, no srflx.
            assert not srflx and f["n_701"] == 1
            assert [(e["errorCode"], e["errorText"], e["url"]) for e in errors] == [
                (701, "STUN binding request timed out.", "stun:203.0.113.1:3478")]
            assert 39_000 < row["browser_ms"] < 41_000 and row["udp_blocked"]
        else:
            # Permission granted: the client's real LAN address; the carrier's pool and port range.
            assert {(c["address"], c["protocol"]) for c in host} == {("192.168.1.10", "udp"), ("192.168.1.10", "tcp")}
            assert srflx[0]["relatedAddress"] == "192.168.1.10"
            assert [c["address"] for c in srflx] == ["203.0.113.20"] and 40000 <= srflx[0]["port"] <= 40999
            assert row["nat"] == "cgnat" and "cellular" in row["interfaces"]
            assert " network-cost 900" in srflx[0]["candidate"]  # the profile's cellular adapter type


def test_turn_profiles_get_the_labs_coturn_corporate_relays_over_tcp_only(tmp_path: Path) -> None:
    """In a lab the page's TURN servers are real (coturn): behind the corporate firewall (TCP 443
    only) the relay comes over TURN/TCP, STUN and TURN/UDP end in 701s."""
    path = tmp_path / "isdl-corporate-turn.toml"
    path.write_text('label = "human"\n[page]\nturn = ["udp", "tcp"]\n[network]\nudp_blocked = true\ntopology = "corporate"\n')
    done = _dataset(tmp_path / "ds", str(path), 4)
    assert done.returncode == 0, done.stderr
    for row in pq.read_table(tmp_path / "ds" / "sessions.parquet").to_pylist():
        events = json.loads(row["events"])
        assert row["lab_topology"] == "corporate" and row["public_v4"] == "203.0.113.30"
        relay = _cands(events, "relay")
        assert [(c["address"], c["relayProtocol"], c["relatedAddress"]) for c in relay] == [("203.0.113.1", "tcp", "203.0.113.30")]
        assert not _cands(events, "srflx")
        assert sorted((e["errorCode"], e["url"]) for e in events if e["type"] == "icecandidateerror") == [
            (701, "stun:203.0.113.1:3478"), (701, "turn:203.0.113.1:3478?transport=udp")]


def test_manifest_says_kernel_real_and_labs_are_reused(lab_dataset: tuple[Path, str, dict]) -> None:
    out, _, _ = lab_dataset
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["network"] == "lab" and manifest["kernel_real"] is True
    assert manifest["lab_topologies"] == {HOME: "home-nat", BLOCKED: "udp-blocked", "isdl-cgnat-phone": "cgnat"}
    lab = manifest["lab"]
    assert lab["gathers"] == 18
    assert set(lab["labs"]) == {"home-nat", "udp-blocked", "cgnat"} and sum(lab["labs"].values()) <= 3
    rows = pq.read_table(out / "sessions.parquet").to_pylist()
    assert lab["browser_time_s"] == pytest.approx(sum(r["browser_ms"] for r in rows) / 1000.0, abs=0.01)
    blocked = sum(r["profile"] == BLOCKED for r in rows)
    assert blocked and lab["browser_time_s"] > blocked * 39  # their 40 s timeouts, in browser time
    assert lab["lab_up_s_mean"] > 0 and lab["unexpected_timeouts"] == 0


def test_resume_reruns_only_the_lost_shard_and_refuses_an_in_process_run(lab_dataset: tuple[Path, str, dict], tmp_path: Path) -> None:
    out, spec, _ = lab_dataset
    before = {r["session_id"]: r["profile"] for r in pq.read_table(out / "sessions.parquet").to_pylist()}
    (out / "features.parquet" / "part-00001.parquet").unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "sessions.parquet").glob("part-*") if p.name != "part-00001.parquet"}
    done = _dataset(out, spec, 18)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sessions_this_run"] == 6
    assert {p.name: p.stat().st_mtime_ns for p in (out / "sessions.parquet").glob("part-*") if p.name in kept} == kept
    after = {r["session_id"]: r["profile"] for r in pq.read_table(out / "sessions.parquet").to_pylist()}
    assert after == before
    # The same dataset in-process is another dataset: exit 2, one line, nothing touched.
    argv = [sys.executable, "-m", "icesim", "dataset", "--profiles", spec, "--sessions", "18", "--shard-size", "6",
            "--seed", "5", "--out", str(out), "--no-progress"]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=ENV, cwd=REPO)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "network differs" in refused.stderr


def test_kill_9_mid_run_leaves_no_lab_and_a_rerun_completes(tmp_path: Path) -> None:
    """Blocked sessions under --time-scale 100 take 0.4 s each, two at a time: the run is killed
    with shards still to go, whatever the machine's speed."""
    out = tmp_path / "ds"
    run = ["--profiles", BLOCKED, "--sessions", "12", "--shard-size", "2", "--labs", "1", "--lab-gathers", "2",
           "--time-scale", "100", "--seed", "9", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "icesim", "dataset", "--lab", *run], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=REPO)
    deadline = time.monotonic() + 120
    while not list((out / "features.parquet").glob("part-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    tree = descendants(proc.pid)
    assert sum("unshare" in cmdline(p) for p in tree) == 1  # the lab runs
    assert any("icesim.dataset.lab_worker" in cmdline(p) for p in tree)  # and its gather process
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(tree)  # the lab, its coturn and gathers went with it
    finished = len(list((out / "features.parquet").glob("part-*")))
    assert 1 <= finished < 6
    done = subprocess.run([sys.executable, "-m", "icesim", "dataset", "--lab", *run], capture_output=True, text=True,
                          timeout=240, env=ENV, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sessions_this_run"] == 12 - 2 * finished
    rows = pq.read_table(out / "sessions.parquet").to_pylist()
    assert sorted(r["index"] for r in rows) == list(range(12))
    assert all(r["lab_topology"] == "udp-blocked" and r["time_scale"] == 100.0 for r in rows)


def test_without_namespaces_one_line_exit_2_and_nothing_written(tmp_path: Path) -> None:
    """As tests/lab/test_lab_rootless.py: a user namespace with no room for more and no capabilities."""
    if subprocess.run(["unshare", "--user", "--map-root-user", "true"]).returncode:
        pytest.skip("cannot create the restricted user namespace this test needs")
    out = tmp_path / "ds"
    script = ("echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --inh-caps=-all --bounding-set=-all -- "
              f"{sys.executable} -m icesim dataset --lab --profiles {HOME} --sessions 4 --out {out} --no-progress")
    done = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script], capture_output=True, text=True,
                          timeout=60, env=ENV, cwd=REPO)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert done.stderr.startswith("icesim: error: lab: cannot create the sandbox `") and "--user --map-root-user" in done.stderr
    assert not out.exists()


def test_bench_measures_lab_dataset_throughput() -> None:
    from icesim.dataset.lab_bench import format_lab_dataset, measure_lab_dataset

    result = measure_lab_dataset(sessions=40)
    assert result["dataset_lab_per_s"] > 0, result
    d = result["dataset_lab"]
    assert len(d["labs"]) >= 3 and d["unexpected_timeouts"] == 0 and d["lab_up_s_mean"] > 0
    assert format_lab_dataset(result).startswith("dataset_lab_per_s: ")
