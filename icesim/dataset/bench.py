"""Dataset throughput for `icesim bench`: sessions/s with 2 workers, non-timeout profiles and a
50/50 mix with timeout-bound ones (UDP blocked: Chrome's 40 s STUN timeout under the time scale).

Besides wall-clock rates it reports CPU ms per session (parent + workers, from getrusage), which
is stable on a shared machine where the wall-clock rate is not.
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import tempfile
import time
from pathlib import Path

from .build import DatasetOptions, build_dataset

NON_TIMEOUT = ("human-chrome-windows-home-wifi", "human-chrome-linux-home-ethernet",
               "bot-headless-chrome-datacenter", "bot-residential-proxy-mismatch")
TIMEOUT_BOUND = ("human-corporate-udp-blocked", "bot-proxy-blocks-udp")
GOALS = {"dataset_per_s": ">= 3000", "dataset_mix_per_s": ">= 1000"}


@contextlib.contextmanager
def _no_progress(total: int, already: int):
    yield lambda n: None


def _cpu_s() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure_dataset(sessions: int = 20000, workers: int = 2, concurrency: int = 1000, time_scale: float = 1000.0) -> dict:
    mix = ",".join([f"{n}=1" for n in NON_TIMEOUT] + [f"{n}=2" for n in TIMEOUT_BOUND])  # 4:4 = 50/50
    runs = {"dataset_per_s": ",".join(NON_TIMEOUT), "dataset_mix_per_s": mix}
    details: dict = {"sessions": sessions, "workers": workers, "concurrency": concurrency, "time_scale": time_scale,
                     "profiles": {k: v for k, v in runs.items()}, "goals": dict(GOALS)}
    out: dict = {}
    for key, spec in runs.items():
        tmp = Path(tempfile.mkdtemp(prefix="icesim-dataset-bench-"))
        warnings: list[str] = []
        try:
            cpu, start = _cpu_s(), time.perf_counter()
            manifest = build_dataset(DatasetOptions(
                profiles=spec, sessions=sessions, out=tmp, workers=workers, concurrency=concurrency,
                shard_size=max(1000, sessions // (workers * 4)), time_scale=time_scale,
            ), _no_progress, warnings.append)
            wall = time.perf_counter() - start
            cpu_used = _cpu_s() - cpu
            inflation = srflx_inflation(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        out[key] = round(sessions / wall, 1)
        details[key.replace("_per_s", "")] = {
            "wall_s": round(wall, 3), "cpu_ms_per_session": round(cpu_used / sessions * 1000, 3),
            "counts": manifest["counts"], "stun_server": manifest["stun_server"], "warnings": warnings,
            "srflx_late_ms": inflation,
        }
    details["goals_met"] = {k: out[k] >= float(GOALS[k].split()[1]) for k in GOALS}
    return {**out, "dataset": details}


def srflx_inflation(directory: Path) -> dict[str, float] | None:
    """How much later than one RTT after "gathering" each srflx came, in browser ms (p50/p90/p99):
    real time the worker spent elsewhere is counted as network time, so this is the timing error
    a run's load put into the data (0 = as a browser on that path)."""
    import json

    from .output import read_table

    table = read_table(directory / "sessions.parquet", "parquet").select(["rtt_ms", "events"]).to_pylist()
    late = []
    for row in table:
        events = json.loads(row["events"])
        t0 = next((e["t"] for e in events if e.get("state") == "gathering"), None)
        t1 = next((e["t"] for e in events if (e.get("candidate") or {}).get("type") == "srflx"), None)
        if t0 is not None and t1 is not None:
            late.append(t1 - t0 - row["rtt_ms"])
    if not late:
        return None
    late.sort()
    return {f"p{q}": round(late[min(len(late) - 1, len(late) * q // 100)], 1) for q in (50, 90, 99)}


def format_dataset(result: dict) -> str:
    d = result["dataset"]
    lines = []
    for key in GOALS:
        run = d[key.replace("_per_s", "")]
        lines.append(f"{key}: {result[key]:.0f} sessions/s (goal {GOALS[key]}, {'met' if d['goals_met'][key] else 'NOT met'}; "
                     f"{run['cpu_ms_per_session']} CPU ms/session, {d['workers']} workers x {d['concurrency']} in flight; "
                     f"srflx late by {run['srflx_late_ms']} browser ms)")
    return "\n".join(lines)
