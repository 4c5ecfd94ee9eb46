"""`icesim dataset`: profiles -> shards -> a labelled dataset directory (resumable)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from ..config import ConfigError
from ..profiles import ProfileError, load_library, select_profiles
from .executors import run_dask, run_local
from .output import FORMATS, DatasetDir
from .session import check_runnable
from .worker import Job, Shard, concurrency_cap, raise_nofile

log = structlog.get_logger(__name__)


@dataclass
class DatasetOptions:
    profiles: str = "*"
    sessions: int = 1000
    out: Path = Path("dataset")
    fmt: str = "parquet"
    seed: int = 0
    workers: int = 1
    concurrency: int = 500
    executor: str = "local"
    scheduler: str | None = None
    shard_size: int = 1000
    time_scale: float = 1000.0
    skip_unsupported: bool = False
    max_lag_ms: float = 0.5

    def validate(self) -> None:
        if self.sessions < 1:
            raise ConfigError("--sessions", self.sessions, "must be >= 1")
        if self.fmt not in FORMATS:
            raise ConfigError("--format", self.fmt, "must be parquet or jsonl")
        if self.workers < 1:
            raise ConfigError("--workers", self.workers, "must be >= 1")
        if self.concurrency < 1:
            raise ConfigError("--concurrency", self.concurrency, "must be >= 1")
        if self.shard_size < 1:
            raise ConfigError("--shard-size", self.shard_size, "must be >= 1")
        if not self.max_lag_ms >= 0:
            raise ConfigError("--max-lag", self.max_lag_ms, "must be >= 0 (0 = no pacing)")
        if not self.time_scale > 0:
            raise ConfigError("--time-scale", self.time_scale, "must be > 0")
        if self.executor not in ("local", "dask"):
            raise ConfigError("--executor", self.executor, "must be local or dask")
        if self.executor == "dask" and not self.scheduler:
            raise ConfigError("--scheduler", None, "--executor dask needs --scheduler tcp://HOST:PORT")
        if self.executor == "local" and self.scheduler:
            raise ConfigError("--scheduler", self.scheduler, "only with --executor dask")


def resolve_profiles(opts: DatasetOptions, warn: Callable[[str], None]) -> list:
    weighted = select_profiles(opts.profiles, load_library())
    runnable = []
    for profile, weight in weighted:
        try:
            check_runnable(profile)
        except ProfileError as exc:
            if not opts.skip_unsupported:
                raise ProfileError(profile.source, exc.field_name.split(": ", 1)[-1], exc.value,
                                   exc.reason + " (--skip-unsupported leaves such profiles out)") from None
            warn(f"skipping profile {profile.name}: {exc}")
            continue
        runnable.append((profile, weight))
    if not runnable:
        raise ProfileError("--profiles", "spec", opts.profiles, "no runnable profile left (see --skip-unsupported)")
    return runnable


def build_dataset(opts: DatasetOptions, progress_factory, warn: Callable[[str], None]) -> dict[str, Any]:
    """Run (or resume) the dataset; returns the final manifest."""
    opts.validate()
    profiles = resolve_profiles(opts, warn)
    nofile = raise_nofile()
    cap = concurrency_cap((p for p, _ in profiles), nofile)
    concurrency = opts.concurrency
    if concurrency > cap:
        warn(f"--concurrency {concurrency} capped to {cap} per worker: RLIMIT_NOFILE is {nofile} and these "
             f"profiles hold up to {(nofile - 64) // cap} sockets per session (raise `ulimit -n` for more)")
        concurrency = cap
    identity = {
        "seed": opts.seed, "sessions": opts.sessions, "shard_size": opts.shard_size, "format": opts.fmt,
        "time_scale": opts.time_scale, "max_lag_ms": opts.max_lag_ms,
        "profiles": [{"name": p.name, "weight": w, "sha256": p.digest, "label": p.label} for p, w in profiles],
    }
    out = DatasetDir(opts.out, opts.fmt)
    opts.out.mkdir(parents=True, exist_ok=True)
    out.check_resumable(identity)
    out.prepare()
    done = out.finished_shards()
    shards = [
        Shard(n, start, min(start + opts.shard_size, opts.sessions))
        for n, start in enumerate(range(0, opts.sessions, opts.shard_size)) if n not in done
    ]
    from .. import __version__

    manifest = {**identity, "icesim_version": __version__, "status": "running", "executor": opts.executor,
                "workers": opts.workers, "concurrency": concurrency, "python": platform.python_version()}
    out.write_manifest(manifest)
    job = Job(profiles=tuple(profiles), seed=opts.seed, time_scale=opts.time_scale, concurrency=concurrency,
              max_lag_ms=opts.max_lag_ms)
    already = sum(min(opts.shard_size, opts.sessions - n * opts.shard_size) for n in done)
    log.info("dataset.start", shards=len(shards), resumed_shards=len(done), concurrency=concurrency)
    start = time.perf_counter()
    with progress_factory(opts.sessions, already) as advance:
        if opts.executor == "dask":
            stats = run_dask(job, shards, opts.scheduler or "", out, advance)
        else:
            stats = run_local(job, shards, opts.workers, out, advance)
    wall = time.perf_counter() - start
    ran = opts.sessions - already
    manifest.update({
        "status": "complete", "counts": out.label_counts(), "wall_time_s": round(wall, 3),
        "sessions_this_run": ran, "sessions_per_s": round(ran / wall, 1) if wall > 0 else None,
        "resumed_shards": len(done), "stun_server": stats,
    })
    if stats.get("unexpected_timeouts"):
        warn(f"{stats['unexpected_timeouts']} sessions of profiles that do not block UDP got a STUN/TURN timeout "
             "(an overloaded worker answers late): lower --concurrency or --time-scale")
    if stats.get("kernel_drops"):
        warn(f"the embedded STUN servers' sockets dropped {stats['kernel_drops']} requests (queue full): some "
             "sessions may carry 701s or late srflx their profile did not ask for; lower --concurrency")
    out.write_manifest(manifest)
    return manifest
