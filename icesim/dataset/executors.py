"""Where shards run: `local` (worker processes on this machine) or `dask` (tasks on a cluster).

Local workers write their finished shards themselves (same file system, no copy through the
parent); Dask tasks return their rows and the client writes them, so workers need no access to
--out. Both report progress as sessions done.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import queue as queue_mod
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .output import DatasetDir
from .worker import Job, Shard, add_stats, raise_nofile, run_loop, run_shards

Progress = Callable[[int], None]


class WorkerFailed(RuntimeError):
    """A worker died or a session raised (e.g. out of file descriptors): the run stops."""


def run_local(job: Job, shards: list[Shard], workers: int, out: DatasetDir, progress: Progress) -> dict[str, int]:
    """Returns the summed STUN server counters of every worker."""
    stats: dict[str, int] = {}
    if not shards:
        return stats
    if workers <= 1:
        return run_loop(run_shards(job, shards, lambda s, rows, feats: out.write_shard(s.number, rows, feats), progress))
    ctx = mp.get_context("fork")
    messages = ctx.Queue()
    procs = [
        ctx.Process(target=_worker_main, args=(job, shards[w::workers], out.root, out.fmt, messages, os.getpid()), daemon=True)
        for w in range(workers) if shards[w::workers]
    ]
    for p in procs:
        p.start()
    finished = 0
    try:
        while finished < len(procs):
            try:
                kind, value = messages.get(timeout=0.5)
            except queue_mod.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise WorkerFailed(f"worker {dead[0].pid} died (exit code {dead[0].exitcode})")
                continue
            if kind == "progress":
                progress(value)
            elif kind == "done":
                add_stats(stats, value)
                finished += 1
            elif kind == "error":
                raise WorkerFailed(value)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    return stats


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive a killed `icesim dataset` (kill -9 included): it would go on
    writing shards into a directory a re-run is resuming. Linux prctl(PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _worker_main(job: Job, shards: list[Shard], root: Path, fmt: str, messages, parent: int) -> None:
    _die_with_parent(parent)
    out = DatasetDir(root, fmt)
    pending = [0]
    last = [time.monotonic()]

    def progress(n: int) -> None:
        pending[0] += n
        now = time.monotonic()
        if now - last[0] > 0.2:
            messages.put(("progress", pending[0]))
            pending[0], last[0] = 0, now

    def write(shard: Shard, rows, feats) -> None:
        out.write_shard(shard.number, rows, feats)

    try:
        raise_nofile()
        stats = run_loop(run_shards(job, shards, write, progress))
        messages.put(("progress", pending[0]))
        messages.put(("done", stats))
    except BaseException as exc:  # reported to the parent, which stops the run
        messages.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
        raise SystemExit(1)


def dask_shard(job: Job, shard: Shard) -> tuple[int, list[dict], list[dict], dict[str, int]]:
    """One shard as a Dask task: its own event loop and STUN servers, rows returned."""
    raise_nofile()
    result: list = []
    stats = run_loop(run_shards(job, [shard], lambda s, rows, feats: result.append((s.number, rows, feats))))
    return (*result[0], stats)


def run_dask(job: Job, shards: list[Shard], scheduler: str, out: DatasetDir, progress: Progress) -> dict[str, int]:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - dask is a declared dependency
        raise WorkerFailed("--executor dask needs dask[distributed] (pip install 'dask[distributed]')") from None
    with Client(scheduler, timeout="10s") as client:
        futures = [client.submit(dask_shard, job, shard, pure=False, key=f"icesim-shard-{shard.number}-{time.time_ns()}")
                   for shard in shards]
        stats: dict[str, int] = {}
        for fut in as_completed(futures):
            number, rows, feats, shard_stats = fut.result()
            out.write_shard(number, rows, feats)
            add_stats(stats, shard_stats)
            progress(len(rows))
    return stats
