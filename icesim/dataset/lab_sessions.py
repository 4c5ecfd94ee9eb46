"""`icesim dataset --lab`: every session a real `icesim gather` inside a network lab.

The labs (icesim/lab) are built once and reused: each topology the run needs gets its share
of `--labs` (at least one), built when its first session comes, and each lab runs up to
`--lab-gathers` sessions at once (every gather is its own process in the lab's client
namespace, so they share the lab's NAT as several tabs of one browser would). Sessions go in
in index order; a shard is written (atomically, by the same DatasetDir as in-process runs) as
soon as its last session ends. Pages that never reach ICE (missing_api, setup_throws) need no
lab: their rows are made here directly.

Everything runs in this process's event loop (labs and gathers are child processes): a lab
ends with the thread that started it, and a killed run takes its labs with it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import time
from collections.abc import Callable
from typing import Any

import structlog

from ..lab import Lab, LabError, find_tools
from ..lab.sandbox import privileged, sandbox_argv, unshare_failure
from .lab_network import gather_args, lab_session, lab_topology
from .plan import ProfileMix, SessionPlan, plan_session
from .session import session_row, session_time_scale
from .shard_rows import ShardRows, finished_row
from .worker import Job, Shard

log = structlog.get_logger(__name__)

# One gather's wall-clock limit: far above any browser timer at scale 1 (Chrome's 40 s STUN
# timeout); a gather this late means a stuck lab, and the run stops (resumable).
GATHER_LIMIT_S = 300.0


class TopologyLabs:
    """The labs of one topology: built on first use, each running up to `per_lab` gathers."""

    def __init__(self, topology: str, count: int, per_lab: int) -> None:
        self.topology, self.per_lab = topology, per_lab
        self.starts: list[asyncio.Future[Lab] | None] = [None] * count
        self.load = [0] * count
        self.slots = asyncio.Semaphore(count * per_lab)

    async def gather(self, args: list[str]) -> list[dict[str, Any]]:
        async with self.slots:
            i = min(range(len(self.load)), key=self.load.__getitem__)
            self.load[i] += 1
            try:
                if self.starts[i] is None:
                    self.starts[i] = asyncio.ensure_future(Lab(self.topology).start())
                lab = await asyncio.shield(self.starts[i])  # type: ignore[arg-type]
                return await asyncio.wait_for(lab.gather(args), GATHER_LIMIT_S)
            finally:
                self.load[i] -= 1

    def started(self) -> list[Lab]:
        return [s.result() for s in self.starts if s is not None and s.done() and not s.cancelled()
                and s.exception() is None]

    async def close(self) -> list[float]:
        """Stop every lab (and any still starting); their teardown times."""
        downs = []
        for start in self.starts:
            if start is None:
                continue
            if not start.done():
                start.cancel()
            try:
                lab = await start
            except BaseException:  # a cancelled or failed start left no lab behind (Lab.start)
                continue
            await lab.stop()
            downs.append(lab.down_s)
        return downs


def share_labs(counts: dict[str, int], labs: int) -> dict[str, int]:
    """`labs` labs shared in proportion to the sessions per topology (largest remainders), at
    least one per topology: max(labs, topologies) labs in all."""
    share = {t: 1 for t in counts}
    for _ in range(max(labs, len(counts)) - len(counts)):
        # the next lab goes where the sessions per lab would be highest
        t = max(counts, key=lambda t: (counts[t] / share[t], -share[t]))
        if counts[t] <= share[t]:  # more labs than sessions: the rest would idle
            break
        share[t] += 1
    return share


async def run_lab_shards(
    job: Job, shards: list[Shard], on_shard: Callable[[Shard, list[dict], list[dict]], Any],
    on_progress: Callable[[int], None], labs: int, per_lab: int,
) -> dict[str, Any]:
    """Run every session of `shards` in labs; `on_shard(shard, sessions, features)` as each
    completes. Returns the lab counters for the manifest."""
    mix = ProfileMix(list(job.profiles))
    topology_of = {p.name: lab_topology(p) for p, _ in job.profiles if p.needs_gather}
    counts: dict[str, int] = {}
    for shard in shards:
        for index in range(shard.start, shard.stop):
            p = plan_session(mix, job.seed, index).profile
            if p.needs_gather:
                counts[topology_of[p.name]] = counts.get(topology_of[p.name], 0) + 1
    pools = {t: TopologyLabs(t, n, per_lab) for t, n in share_labs(counts, labs).items()}
    admit = asyncio.Semaphore(sum(len(pool.load) for pool in pools.values()) * per_lab)
    writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="icesim-shard-writer")
    failure: list[BaseException] = []
    inflight: set[asyncio.Task] = set()
    writes: list[asyncio.Future] = []
    totals = {"gathers": 0, "browser_ms": 0.0, "unexpected_timeouts": 0}

    async def one(plan: SessionPlan) -> dict[str, Any]:
        p = plan.profile
        if not p.needs_gather:
            return session_row(plan, [], session_time_scale(plan, job.time_scale), time.perf_counter())
        topology = topology_of[p.name]
        run, config, scale = lab_session(plan, topology, job.time_scale)
        start = time.perf_counter()
        events = await pools[topology].gather(gather_args(config))
        totals["gathers"] += 1
        return session_row(run, events, scale, start, lab_topology=topology)

    start_s = time.perf_counter()
    try:
        for shard in shards:
            collected = ShardRows(shard, on_shard, writer, writes, on_progress)

            def done(task: asyncio.Task, collected=collected) -> None:
                row = finished_row(task, admit.release, inflight, failure)
                if row is None:
                    return
                f = collected.add(row)
                totals["browser_ms"] += row["browser_ms"]
                if not row["udp_blocked"] and "timed out" in f["error_texts"]:
                    totals["unexpected_timeouts"] += 1

            for index in range(shard.start, shard.stop):
                await admit.acquire()
                if failure:
                    raise failure[0]
                task = asyncio.ensure_future(one(plan_session(mix, job.seed, index)))
                inflight.add(task)
                task.add_done_callback(done)
        while inflight:
            await asyncio.wait(set(inflight))
        if failure:
            raise failure[0]
        for fut in writes:
            await fut
        wall = time.perf_counter() - start_s
        ups = [lab.up_s for pool in pools.values() for lab in pool.started()]
        stats: dict[str, Any] = {
            "labs": {t: len(pool.started()) for t, pool in pools.items()}, "gathers_per_lab": per_lab,
            "gathers": totals["gathers"], "browser_time_s": round(totals["browser_ms"] / 1000.0, 3),
            "browser_time_per_wall_s": round(totals["browser_ms"] / 1000.0 / wall, 3) if wall > 0 else None,
            "lab_up_s_mean": round(sum(ups) / len(ups), 4) if ups else None,
            "unexpected_timeouts": totals["unexpected_timeouts"],
        }
    finally:
        for task in inflight:  # a failed session ends the run: nothing may outlive it
            task.cancel()
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)
        downs = [d for pool in pools.values() for d in await pool.close()]
        writer.shutdown(wait=True)
    stats["lab_down_s_mean"] = round(sum(downs) / len(downs), 4) if downs else None
    log.info("dataset.lab_done", **{k: v for k, v in stats.items() if k != "labs"})
    return stats


def check_labs() -> None:
    """LabUnavailable (one line: what is missing) unless this machine can build labs now; run
    before the output directory is touched."""
    tools = find_tools()
    sandbox = sandbox_argv(not privileged(), tools)
    done = subprocess.run([*sandbox, "true"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise unshare_failure(done.stderr, sandbox)


def run_lab(job: Job, shards: list[Shard], out, progress: Callable[[int], None], labs: int, per_lab: int) -> dict[str, Any]:
    """The blocking entry point (build.py): its own event loop in this thread."""
    if not shards:
        return {}
    return asyncio.run(run_lab_shards(job, shards, lambda s, rows, feats: out.write_shard(s.number, rows, feats),
                                      progress, labs, per_lab))


__all__ = ["LabError", "check_labs", "run_lab", "run_lab_shards", "share_labs"]
