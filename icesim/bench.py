"""`icesim bench`: icesim's gather throughput next to aioice's, and memory per live gather.

Everything runs against one embedded STUN server on 127.0.0.1 (no other traffic):

* gathers/s: N concurrent gathers run to completion, for each N, each mode `repeats` times
  (icesim then aioice per repeat, so both see the same machine state); the median is kept.
  A gather counts only if it produced a srflx candidate; rates are ok gathers / wall time.
* KiB per live gather: `mem_n` gathers held mid-gather (their STUN server never answers, so
  they sit in retransmission at real time), measured with tracemalloc once every one has
  emitted its host candidate, then closed with aclose().
"""

from __future__ import annotations

import asyncio
import functools
import gc
import ipaddress
import json
import os
import platform
import resource
import statistics
import time
import tracemalloc
from typing import Any

import aioice

import icesim
from icesim.stun_server import StunServer

TIME_SCALE = 1000.0  # browser timers (~125 ms to "complete") run 1000x faster: I/O dominates
GOALS = {"ratio_n100": ">= 0.8", "kib_per_gather": "<= 40"}
_IFACE = icesim.Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True)


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (N=1000 icesim gathers hold 2000 sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@functools.lru_cache(maxsize=8)
def _stun_url(port: int) -> icesim.IceServerUrl:
    return icesim.parse_ice_url(f"stun:127.0.0.1:{port}")


def _config(port: int, seed: int, time_scale: float = TIME_SCALE) -> icesim.GatherConfig:
    return icesim.GatherConfig(servers=[_stun_url(port)], interfaces=[_IFACE], time_scale=time_scale, seed=seed)


def _is_type(event: Any, type_: str) -> bool:
    cand = getattr(event, "candidate", None)
    return event.type == "icecandidate" and cand is not None and cand.type == type_


async def _one_icesim(port: int, seed: int) -> bool:
    ok = False
    async for event in icesim.gather(_config(port, seed)):
        ok = ok or _is_type(event, "srflx")
    return ok


async def _one_aioice(port: int) -> bool:
    conn = aioice.Connection(ice_controlling=True, stun_server=("127.0.0.1", port), use_ipv6=False)
    try:
        await conn.gather_candidates()
        return any(c.type == "srflx" for c in conn.local_candidates)
    finally:
        await conn.close()


async def _timed(make, n: int, errors: list[str]) -> tuple[float, int]:
    """Run n coroutines concurrently; (ok gathers per second, failures)."""
    gc.collect()
    start = time.perf_counter()
    results = await asyncio.gather(*(make(i) for i in range(n)), return_exceptions=True)
    elapsed = time.perf_counter() - start
    ok = sum(1 for r in results if r is True)
    errors += [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)][: 5 - len(errors)]
    return ok / elapsed, n - ok


async def _settle(srv: StunServer, quiet_s: float = 0.05, cap_s: float = 2.0) -> None:
    """Wait until the server has read every queued datagram (stale retransmissions of the last
    run would otherwise fill its receive buffer and make the next run's requests drop)."""
    last, waited = -1, 0.0
    while srv.stats.received != last and waited < cap_s:
        last = srv.stats.received
        await asyncio.sleep(quiet_s)
        waited += quiet_s


async def _closed_server() -> tuple[asyncio.DatagramTransport, int]:
    """A UDP socket on loopback that never answers: gathers stay in retransmission."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    return transport, transport.get_extra_info("sockname")[1]


async def measure_memory(n: int = 200) -> tuple[float, int, list[str]]:
    """(KiB per live gather, gathers that never showed a host candidate, top allocation sites)."""
    transport, port = await _closed_server()
    gens: list = []

    async def until_host(agen) -> bool:
        async for event in agen:  # returning here leaves the generator suspended, still live
            if _is_type(event, "host"):
                return True
        return False

    try:
        warm = icesim.gather(_config(port, seed=0))  # lazy imports and caches out of the figure
        await until_host(warm)
        await warm.aclose()
        gc.collect()
        tracemalloc.start()
        before_snap = tracemalloc.take_snapshot()
        before = tracemalloc.get_traced_memory()[0]
        gens = [icesim.gather(_config(port, seed=i, time_scale=1.0)) for i in range(n)]
        seen = await asyncio.gather(*(until_host(g) for g in gens), return_exceptions=True)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        snap = tracemalloc.take_snapshot()
        tracemalloc.stop()
        top = [f"{s.traceback[0].filename.rsplit('/', 2)[-1]}:{s.traceback[0].lineno} {s.size_diff / 1024 / n:.2f} KiB"
               for s in snap.compare_to(before_snap, "lineno")[:5]]
        return (after - before) / 1024 / n, sum(1 for s in seen if s is not True), top
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await asyncio.gather(*(g.aclose() for g in gens), return_exceptions=True)
        transport.close()


async def run_bench(ns=(1, 100, 1000), repeats: int = 3, mem_n: int = 200, lab_n: int = 5) -> dict:
    """Both modes in one run; logging is icesim's (stderr, set up on import)."""
    ns = [int(n) for n in ns]
    soft, hard = raise_fd_limit()
    notes = [
        f"icesim runs with time_scale={TIME_SCALE:g} so Chrome's fixed phase timers (~125 ms to "
        "'complete') do not dominate; scaled STUN retransmissions still wait at least "
        "MIN_REAL_RTO_S (100 ms) of real time, so they fire only when a real answer is late",
        "aioice enumerates the machine's interfaces (ifaddr) on every gather_candidates(); that is "
        "its normal behaviour and is included in its rate",
        "icesim: one configured interface (eth0 198.51.100.2), Chrome any-address sockets "
        "(0.0.0.0 and ::: 2 sockets per gather); aioice binds each non-loopback IPv4 address",
        f"rates: gathers with a srflx per wall-clock second, median of {repeats}, modes alternating "
        "per repeat; the in-process STUN server's CPU counts against both modes",
        "between runs the bench waits until the STUN server has read every queued datagram (asyncio "
        "reads one per loop iteration); stun_requests_per_gather includes retransmissions",
        f"kib_per_gather: tracemalloc growth over {mem_n} gathers held mid-gather (a server that "
        "never answers, time_scale 1) once each emitted its host candidate; Python heap only",
        f"RLIMIT_NOFILE soft={soft} hard={hard}",
    ]
    srv = StunServer()
    _, port = await srv.start("127.0.0.1", 0)
    icesim_rates: dict[str, list[float]] = {str(n): [] for n in ns}
    aioice_rates: dict[str, list[float]] = {str(n): [] for n in ns}
    failures: dict[str, Any] = {m: {str(n): 0 for n in ns} for m in ("icesim", "aioice")}
    sent: dict[str, dict[str, int]] = {m: {str(n): 0 for n in ns} for m in ("icesim", "aioice")}
    errors: list[str] = []
    try:
        await _one_icesim(port, seed=-1)  # warm-up, not timed
        await _one_aioice(port)
        modes = (
            ("icesim", icesim_rates, lambda i: _one_icesim(port, seed=i)),
            ("aioice", aioice_rates, lambda i: _one_aioice(port)),
        )
        for n in ns:
            for _ in range(repeats):
                for name, rates, make in modes:
                    await _settle(srv)
                    received = srv.stats.received
                    rate, bad = await _timed(make, n, errors)
                    await _settle(srv)
                    rates[str(n)].append(rate)
                    failures[name][str(n)] += bad
                    sent[name][str(n)] += srv.stats.received - received
    finally:
        srv.close()
    kib, mem_failed, top = await measure_memory(mem_n)  # after the rate runs: caches are warm
    failures["memory"] = mem_failed
    failures["examples"] = errors
    notes.append("largest tracemalloc growth per gather: " + "; ".join(top))

    lab = await _measure_labs(lab_n, notes)

    icesim_per_s = {k: round(statistics.median(v), 1) for k, v in icesim_rates.items()}
    aioice_per_s = {k: round(statistics.median(v), 1) for k, v in aioice_rates.items()}
    ratios = {k: round(icesim_per_s[k] / aioice_per_s[k], 3) if aioice_per_s[k] else None for k in icesim_per_s}
    ratio_n100 = ratios.get("100")
    return {
        "icesim_per_s": icesim_per_s,
        "aioice_per_s": aioice_per_s,
        "ratio_n100": ratio_n100,
        "ratios": ratios,
        "kib_per_gather": round(kib, 2),
        "icesim_time_scale": int(TIME_SCALE),
        "repeats": repeats,
        "runs": {"icesim": icesim_rates, "aioice": aioice_rates},
        "stun_requests_per_gather": {
            name: {k: round(v / (int(k) * repeats), 2) for k, v in per_n.items()} for name, per_n in sent.items()
        },
        "failures": failures,
        "notes": notes,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform()},
        "goals": dict(GOALS),
        "goals_met": {"ratio_n100": None if ratio_n100 is None else ratio_n100 >= 0.8, "kib_per_gather": kib <= 40},
        **lab,
    }


async def _measure_labs(n: int, notes: list[str]) -> dict:
    """lab_up_s / lab_down_s (icesim.lab.timing), or {} and a note saying why not."""
    if n < 1:
        return {}
    from .lab import LabError
    from .lab.timing import measure_labs

    try:
        result = await measure_labs(n)
    except LabError as exc:
        notes.append(f"lab_up_s/lab_down_s not measured: {exc}")
        return {}
    notes.append(f"lab_up_s/lab_down_s: medians of {n} home-nat labs built then torn down one at a time "
                 "(up: sandbox start to coturn answering STUN; down: stdin closed to the sandbox gone)")
    return result


def format_table(result: dict) -> str:
    """A small human table of a run_bench() result."""
    ice, aio = result["icesim_per_s"], result["aioice_per_s"]
    lines = [f"{'N':>6}  {'icesim/s':>10}  {'aioice/s':>10}  {'ratio':>6}"]
    for n in ice:
        ratio = result.get("ratios", {}).get(n)
        lines.append(f"{n:>6}  {ice[n]:>10.1f}  {aio[n]:>10.1f}  {ratio if ratio is not None else '-':>6}")
    met, goals = result["goals_met"], result["goals"]
    verdict = {True: "met", False: "NOT met", None: "not measured"}
    lines.append(f"ratio at N=100: {result['ratio_n100']} (goal {goals['ratio_n100']}, {verdict[met['ratio_n100']]})")
    lines.append(f"KiB per live gather: {result['kib_per_gather']} (goal {goals['kib_per_gather']}, "
                 f"{verdict[met['kib_per_gather']]})")
    if "lab_up_s" in result:
        lab_met = result["lab_goals_met"]
        lines.append(f"lab up {result['lab_up_s']} s (goal < 0.3, {verdict[lab_met['lab_up_s']]}), "
                     f"down {result['lab_down_s']} s (goal < 0.1, {verdict[lab_met['lab_down_s']]})")
    f = result["failures"]
    bad = sum(f["icesim"].values()) + sum(f["aioice"].values()) + f["memory"]
    lines.append(f"failures: {bad}" + (f" {json.dumps(f)}" if bad else ""))
    lines.append(f"{result['python']}, nproc={result['machine']['nproc']}, icesim time_scale={result['icesim_time_scale']}")
    return "\n".join(lines)


def main_json(ns=(1, 100, 1000), repeats: int = 3) -> str:
    """Run the bench in a fresh event loop and return the result as one JSON line."""
    return json.dumps(asyncio.run(run_bench(ns, repeats)))


if __name__ == "__main__":
    print(main_json())
