"""A worker: one event loop, a few embedded STUN servers, many sessions in flight.

Sessions run under a concurrency cap across shard boundaries (a timeout-bound session never
holds up the next shard); a shard is written as soon as its last session is done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from ..bench import raise_fd_limit
from ..net import RealNet
from ..profiles import Profile
from .features import session_features
from .nat import DatasetStunServer, NatRegistry
from .pacing import LagGate
from .plan import ProfileMix, plan_session
from .session import WorkerEnv, run_session

log = structlog.get_logger(__name__)

# Descriptors a worker keeps besides its sessions' sockets (STUN servers, pipes, files, logs).
FD_RESERVE = 64


@dataclass(frozen=True)
class Shard:
    number: int
    start: int  # first session index
    stop: int


@dataclass(frozen=True)
class Job:
    """Everything a worker needs, picklable (it crosses to processes and Dask workers)."""

    profiles: tuple[tuple[Profile, float], ...]
    seed: int
    time_scale: float
    concurrency: int
    max_lag_ms: float = 0.5  # admit sessions only while the loop lags less (0 = no pacing)


def run_loop(coro):
    """Run a worker's coroutine on uvloop when installed (measured: 15-30% less CPU per session
    than asyncio's loop); ICESIM_NO_UVLOOP=1 keeps asyncio's."""
    factory = None
    if not os.environ.get("ICESIM_NO_UVLOOP"):
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def fds_per_session(profile: Profile) -> int:
    """UDP sockets one gather holds: one per enumerated interface with permission, else the two
    any-address sockets (Chrome's mDNS mode); plus one for slack."""
    if not profile.needs_gather:
        return 0
    return (max(len(profile.interfaces), 1) if profile.permission == "granted" else 2) + 1


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the soft limit now in force."""
    return raise_fd_limit()[0]


def concurrency_cap(profiles: Iterable[Profile], nofile: int) -> int:
    per = max((fds_per_session(p) for p in profiles), default=1) or 1
    return max(1, (nofile - FD_RESERVE) // per)


async def open_env(job: Job) -> tuple[WorkerEnv, list[DatasetStunServer]]:
    """A STUN server on 127.0.0.1 and one on ::1 for every server slot a profile uses (the page
    sees them under public aliases, see session.stun_alias). Without IPv6 on loopback the IPv6
    servers are left out and the server names get no IPv6 address (a host-lookup 701 on IPv6
    sockets, which the run log reports)."""
    registry = NatRegistry()
    slots = max((p.stun_servers for p, _ in job.profiles), default=1) or 1
    servers: list[DatasetStunServer] = []
    v4, v6 = [], []
    for _ in range(slots):
        s4 = DatasetStunServer(registry)
        v4.append(await s4.start("127.0.0.1", 0))
        servers.append(s4)
        s6 = DatasetStunServer(registry)
        try:
            v6.append(await s6.start("::1", 0))
            servers.append(s6)
        except OSError as exc:
            log.warning("dataset.no_ipv6_loopback", error=str(exc))
    if len(v6) < len(v4):
        v6 = []
    return WorkerEnv(RealNet(), registry, v4, v6, job.time_scale), servers


async def run_shards(
    job: Job, shards: list[Shard], on_shard: Callable[[Shard, list[dict], list[dict]], Any],
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Run every session of `shards`; `on_shard(shard, sessions, features)` as each completes.
    Returns the STUN servers' counters (kernel drops must be 0: see DatasetStunServer)."""
    env, servers = await open_env(job)
    gate = LagGate(job.max_lag_ms)
    loop = asyncio.get_running_loop()
    writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="icesim-shard-writer")
    mix = ProfileMix(list(job.profiles))
    sem = asyncio.Semaphore(job.concurrency)
    failure: list[BaseException] = []
    pending_writes: list[asyncio.Future] = []
    inflight: set[asyncio.Task] = set()
    unexpected = [0]  # STUN/TURN timeouts in sessions whose profile does not block UDP
    # The collector allocates little that is cyclic; collecting thousands of live gathers'
    # objects over and over costs more than it frees (shared/reference/aioice.md: the N=1000 drop).
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        for shard in shards:
            rows: list[dict | None] = [None] * (shard.stop - shard.start)
            feats: list[dict | None] = [None] * len(rows)
            left = [len(rows)]

            def done(task: asyncio.Task, shard=shard, rows=rows, feats=feats, left=left) -> None:
                sem.release()
                inflight.discard(task)
                if task.cancelled():
                    return
                if task.exception() is not None:
                    failure.append(task.exception())
                    return
                row = task.result()
                row["loop_lag_ms"] = max(row["loop_lag_ms"], gate.lag_ms)
                slot = row["index"] - shard.start
                rows[slot] = row
                # Features per session as it ends: a whole shard's at once would stall the loop.
                f = feats[slot] = session_features({**row, "events": row.pop("_events")})
                if not row["udp_blocked"] and "timed out" in f["error_texts"]:
                    unexpected[0] += 1
                if on_progress is not None:
                    on_progress(1)
                left[0] -= 1
                if left[0] == 0:
                    # Encoding and writing a shard takes 100s of ms: in a thread, so the loop (and
                    # the browser time of every gather in flight) does not stop for it.
                    pending_writes.append(loop.run_in_executor(writer, on_shard, shard, rows, feats))

            for index in range(shard.start, shard.stop):
                await sem.acquire()
                await gate.admit()
                if failure:
                    raise failure[0]
                task = asyncio.ensure_future(run_session(plan_session(mix, job.seed, index), env, gate.lag_ms))
                inflight.add(task)
                task.add_done_callback(done)
        for _ in range(job.concurrency):  # wait for the last sessions in flight
            await sem.acquire()
        if failure:
            raise failure[0]
        for fut in pending_writes:
            await fut
        return {**server_stats(servers), "unexpected_timeouts": unexpected[0],
                "max_loop_lag_ms": round(gate.max_lag_s * 1000), "paced_admissions": gate.waits}
    finally:
        gate.close()
        for task in inflight:  # a failed session ends the run: nothing may outlive it
            task.cancel()
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)
        writer.shutdown(wait=True)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        for s in servers:
            s.close()


def server_stats(servers: list[DatasetStunServer]) -> dict[str, int]:
    return {
        "stun_requests": sum(s.stats.requests for s in servers),
        "kernel_drops": sum(s.kernel_drops() for s in servers),
        "send_failures": sum(getattr(s._transport, "sent_dropped", 0) for s in servers),
    }


def add_stats(total: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        total[k] = max(total.get(k, 0), v) if k.startswith("max_") else total.get(k, 0) + v
