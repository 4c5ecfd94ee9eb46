"""Scale-out on a real distributed.LocalCluster, and the report files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from icesim.dataset.output import read_table

from test_dataset_run import FAST, _build, _sessions, masked

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")


def test_dask_local_cluster_writes_the_same_dataset(tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        manifest = _build(tmp_path / "dask", seed=3, executor="dask", scheduler=cluster.scheduler_address)
    local = _build(tmp_path / "local", seed=3)
    assert manifest["status"] == "complete" and manifest["counts"] == local["counts"]
    d, l = _sessions(tmp_path / "dask"), _sessions(tmp_path / "local")
    assert [r["session_id"] for r in d] == [f"3-{i}" for i in range(60)]
    assert [(r["profile"], r["web_address"], masked(r["events"])) for r in d] == \
        [(r["profile"], r["web_address"], masked(r["events"])) for r in l]
    assert len(read_table(tmp_path / "dask" / "features.parquet", "parquet")) == 60


def test_scheduler_needed_for_dask(tmp_path):
    r = subprocess.run([sys.executable, "-m", "icesim", "dataset", "--executor", "dask", "--profiles", FAST,
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--scheduler" in r.stderr


def test_report_writes_html_plots_and_auc_table(tmp_path):
    _build(tmp_path, sessions=80, profiles="human-chrome-windows-home-wifi,bot-residential-proxy-mismatch")
    r = subprocess.run([sys.executable, "-m", "icesim", "dataset", "report", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    for png in ("class_balance.png", "candidate_types.png", "errors_701_by_scenario.png",
                "t_first_candidate_ms.png", "t_complete_ms.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG" and png in page
    aucs = json.loads((tmp_path / "feature_auc.json").read_text())
    # The proxy bot's srflx never equals the address the web server sees; the person's always does.
    mismatch = next(a for a in aucs if a["feature"] == "srflx_web_mismatch")
    assert (mismatch["auc"], mismatch["direction"], mismatch["defined"]) == (1.0, "higher for bots", 80)
    assert aucs[0]["separation"] == 1.0 and "<td>srflx_web_mismatch</td><td>1.000</td>" in page
    r = subprocess.run([sys.executable, "-m", "icesim", "dataset", "report", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "manifest.json" in r.stderr


def test_bench_reports_dataset_rates(tmp_path):
    """`icesim bench` gains dataset_per_s and dataset_mix_per_s (functional: no speed threshold)."""
    from icesim.dataset.bench import GOALS, format_dataset, measure_dataset

    result = measure_dataset(sessions=200, workers=2, concurrency=100)
    for key in GOALS:
        assert result[key] > 0
    d = result["dataset"]
    assert sum(d["dataset"]["counts"].values()) == 200 and set(d["dataset_mix"]["counts"]) == {"human", "bot"}
    assert d["dataset_mix"]["stun_server"]["unexpected_timeouts"] == 0
    assert d["dataset_mix"]["cpu_ms_per_session"] > 0 and set(d["goals_met"]) == set(GOALS)
    assert set(d["dataset"]["srflx_late_ms"]) == {"p50", "p90", "p99"}
    assert "dataset_mix_per_s" in format_dataset(result)
    assert json.loads(json.dumps(result)) == result
