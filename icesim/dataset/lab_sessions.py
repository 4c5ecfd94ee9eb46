"""`icesim dataset --lab`: every session a real `icesim gather` inside a network lab.

The labs (icesim/lab) are built once and reused: each topology the run needs gets its share
of `--labs` (at least one), built when its first session comes, and each lab runs up to
`--lab-gathers` sessions at once, in one gather process in its client namespace
(lab_worker.py; every gather with its own sockets, through the lab's NAT as several tabs of one
browser would go). Sessions go in
in index order; a shard is written (atomically, by the same DatasetDir as in-process runs) as
soon as its last session ends. Pages that never reach ICE (missing_api, setup_throws) need no
lab: their rows are made here directly.

Everything runs in this process's event loop (labs and gathers are child processes): a lab
ends with the thread that started it, and a killed run takes its labs with it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import structlog

from ..lab import Lab, LabError, find_tools
from ..lab.lab import gather_env
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
STREAM_LIMIT = 1 << 24  # one reply line holds a session's events (and SDP)


class LabGatherer:
    """One lab and one gather process in its client namespace (lab_worker.py) that runs the
    lab's sessions side by side: a gather process per session would cost ~0.3-0.5 s of CPU
    each just to start."""

    def __init__(self, topology: str, max_lag_ms: float) -> None:
        self.lab = Lab(topology)
        self.max_lag_ms = max_lag_ms
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.next_id = 0
        self.dead: LabError | None = None
        self.stderr: collections.deque[str] = collections.deque(maxlen=20)
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> LabGatherer:
        await self.lab.start()
        try:
            argv = self.lab.enter_argv("client", [sys.executable, "-m", "icesim.dataset.lab_worker", repr(self.max_lag_ms)])
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=gather_env(), limit=STREAM_LIMIT)
        except BaseException:
            await self.lab.stop()
            raise
        self.tasks = [asyncio.ensure_future(self._replies()), asyncio.ensure_future(self._stderr())]
        return self

    async def _replies(self) -> None:
        assert self.proc and self.proc.stdout
        async for line in self.proc.stdout:
            reply = json.loads(line)
            fut = self.pending.pop(reply["id"], None)
            if fut is None or fut.done():
                continue
            if "error" in reply:
                fut.set_exception(LabError(f"lab {self.lab.topology.name}: gather failed: {reply['error']}"))
            else:
                fut.set_result((reply["events"], reply["lag_ms"]))
        code = await self.proc.wait()
        self.dead = LabError(f"lab {self.lab.topology.name}: its gather process exited ({code}): "
                             + " | ".join(self.stderr)[-400:])
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(self.dead)
        self.pending.clear()

    async def _stderr(self) -> None:  # drained (a full pipe would stall the gathers), tail kept for errors
        assert self.proc and self.proc.stderr
        async for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").strip())

    async def gather(self, args: list[str]) -> tuple[list[dict[str, Any]], float]:
        """The gather's events as dicts (the `meta` line first), and the loop lag at its start."""
        if self.dead is not None:
            raise self.dead
        assert self.proc and self.proc.stdin
        request_id, self.next_id = self.next_id, self.next_id + 1
        fut = self.pending[request_id] = asyncio.get_running_loop().create_future()
        try:
            self.proc.stdin.write(json.dumps({"id": request_id, "args": args}).encode() + b"\n")
            await self.proc.stdin.drain()
            return await asyncio.wait_for(fut, GATHER_LIMIT_S)
        except asyncio.TimeoutError:
            raise LabError(f"lab {self.lab.topology.name}: a gather took over {GATHER_LIMIT_S:g} s") from None
        finally:
            self.pending.pop(request_id, None)

    async def stop(self) -> float:
        """End the gather process and the lab (the kernel ends everything in it); teardown time."""
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
        await self.lab.stop()
        if self.proc is not None:
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return self.lab.down_s


class TopologyLabs:
    """The labs of one topology: built on first use, each running up to `per_lab` gathers."""

    def __init__(self, topology: str, count: int, per_lab: int, max_lag_ms: float) -> None:
        self.topology, self.per_lab, self.max_lag_ms = topology, per_lab, max_lag_ms
        self.starts: list[asyncio.Future[LabGatherer] | None] = [None] * count
        self.load = [0] * count
        self.slots = asyncio.Semaphore(count * per_lab)

    async def gather(self, args: list[str]) -> tuple[list[dict[str, Any]], float]:
        async with self.slots:
            i = min(range(len(self.load)), key=self.load.__getitem__)
            self.load[i] += 1
            try:
                if self.starts[i] is None:
                    self.starts[i] = asyncio.ensure_future(LabGatherer(self.topology, self.max_lag_ms).start())
                lab = await asyncio.shield(self.starts[i])  # type: ignore[arg-type]
                return await lab.gather(args)
            finally:
                self.load[i] -= 1

    def started(self) -> list[LabGatherer]:
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
            downs.append(await lab.stop())
        return downs


def share_labs(counts: dict[str, int], labs: int) -> dict[str, int]:
    """`labs` labs shared in proportion to the sessions per topology (largest remainders), at
    least one per topology: max(labs, topologies) labs in all."""
    share = {t: 1 for t in counts}
    for _ in range(max(labs, len(counts)) - len(counts) if counts else 0):
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
    pools = {t: TopologyLabs(t, n, per_lab, job.max_lag_ms) for t, n in share_labs(counts, labs).items()}
    admit = asyncio.Semaphore(max(1, sum(len(pool.load) for pool in pools.values()) * per_lab))  # 1: no page reaches ICE
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
        events, lag_ms = await pools[topology].gather(gather_args(config))
        totals["gathers"] += 1
        return session_row(run, events, scale, start, lag_ms, lab_topology=topology)

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
        ups = [g.lab.up_s for pool in pools.values() for g in pool.started()]
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
