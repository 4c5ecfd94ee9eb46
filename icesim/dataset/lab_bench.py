"""`icesim bench`: `icesim dataset --lab` throughput (sessions/s through real labs).

The library's runnable profiles (the docker-bridges bot needs more interfaces than a lab client
has and is left out), so every topology the library maps to runs: 7 labs, built once each.
Where labs cannot be built, a note says why instead of a figure.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ..lab import LabError
from .bench import _cpu_s, _no_progress
from .build import DatasetOptions, build_dataset


def measure_lab_dataset(sessions: int = 2000, lab_gathers: int = 32) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="icesim-lab-dataset-bench-"))
    warnings: list[str] = []
    try:
        cpu, start = _cpu_s(), time.perf_counter()
        manifest = build_dataset(DatasetOptions(
            profiles="*", sessions=sessions, out=tmp, lab=True, lab_gathers=lab_gathers, skip_unsupported=True,
            shard_size=max(100, sessions // 8),
        ), _no_progress, warnings.append)
        wall = time.perf_counter() - start
        cpu_used = _cpu_s() - cpu
    except LabError as exc:
        return {"dataset_lab_note": f"dataset_lab_per_s not measured: {exc}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lab = manifest["lab"]
    return {"dataset_lab_per_s": round(sessions / wall, 1), "dataset_lab": {
        "sessions": sessions, "wall_s": round(wall, 3), "labs": lab["labs"], "lab_gathers": lab_gathers,
        "cpu_ms_per_session": round(cpu_used / sessions * 1000, 3), "lab_up_s_mean": lab["lab_up_s_mean"],
        "unexpected_timeouts": lab["unexpected_timeouts"], "warnings": warnings,
    }}


def format_lab_dataset(result: dict) -> str:
    if "dataset_lab_per_s" not in result:
        return result.get("dataset_lab_note", "")
    d = result["dataset_lab"]
    return (f"dataset_lab_per_s: {result['dataset_lab_per_s']:.0f} sessions/s through real labs "
            f"({sum(d['labs'].values())} labs x {d['lab_gathers']} gathers, {d['sessions']} sessions of the library; "
            f"CPU {d['cpu_ms_per_session']} ms/session, icesim and its gathers)")
