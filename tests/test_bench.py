"""The bench harness runs end to end and reports every key (no speed thresholds: a functional test)."""

from __future__ import annotations

import json

from icesim.bench import format_table, run_bench


async def test_run_bench_small_reports_every_key() -> None:
    result = await run_bench(ns=(1, 5), repeats=1, mem_n=20, lab_n=2)

    for mode in ("icesim_per_s", "aioice_per_s"):
        rates = result[mode]
        assert set(rates) == {"1", "5"}
        assert all(isinstance(v, float) and v > 0 for v in rates.values()), (mode, rates)
    assert result["ratio_n100"] is None  # N=100 was not run
    assert set(result["ratios"]) == {"1", "5"} and all(r > 0 for r in result["ratios"].values())
    assert isinstance(result["kib_per_gather"], float) and result["kib_per_gather"] > 0
    assert result["icesim_time_scale"] == 1000

    failures = result["failures"]
    assert failures["icesim"] == {"1": 0, "5": 0}
    assert failures["aioice"] == {"1": 0, "5": 0}
    assert failures["memory"] == 0
    assert isinstance(failures["examples"], list)

    assert isinstance(result["notes"], list) and all(isinstance(n, str) for n in result["notes"])
    assert isinstance(result["python"], str) and result["python"]
    assert isinstance(result["machine"]["nproc"], int) and result["machine"]["nproc"] >= 1
    assert result["goals"] == {"ratio_n100": ">= 0.8", "kib_per_gather": "<= 40"}
    assert set(result["goals_met"]) == {"ratio_n100", "kib_per_gather"}
    assert result["goals_met"]["ratio_n100"] is None
    assert isinstance(result["goals_met"]["kib_per_gather"], bool)

    if "lab_up_s" in result:  # this machine can build network labs (CI can)
        assert 0 < result["lab_up_s"] and 0 < result["lab_down_s"]
        assert len(result["lab_runs"]["up_s"]) == 2 and set(result["lab_goals_met"]) == {"lab_up_s", "lab_down_s"}
    else:
        assert any(n.startswith("lab_up_s/lab_down_s not measured: ") for n in result["notes"]), result["notes"]

    assert json.loads(json.dumps(result)) == result  # one JSON object, as `icesim bench --json` prints
    table = format_table(result)
    assert "icesim/s" in table and "KiB per live gather" in table
