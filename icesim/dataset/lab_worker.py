"""Many gathers in one process inside a lab's client namespace (`icesim dataset --lab`).

A `python -m icesim gather` process per session costs ~0.3-0.5 s of CPU to start, which is
most of a lab session's cost; this process starts once per lab and runs its sessions' gathers
side by side, each from the same `icesim gather` options through the gather's own parser
(`build_config`), each with its own sockets: through the lab's kernel NAT exactly as separate
processes would be. It is a process of the lab's sandbox, so it ends with the lab.

Protocol, JSON lines: stdin `{"id": N, "args": [...]}`; stdout `{"id": N, "events": [...],
"lag_ms": L}` (the `meta` line first, as `icesim gather --format jsonl` prints; L the loop's lag
when it started) or `{"id": N, "error": "..."}`. End of stdin: finish the gathers in flight, exit.
Gathers start only while the loop lags less than `--max-lag` (pacing.LagGate, as in-process
workers): a late answer in the ready queue would count as network time in `t` (measured: 32
gathers started at once put srflx candidates up to 250 ms late).

    python -m icesim.dataset.lab_worker [MAX_LAG_MS]
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from ..cli import build_config, gather_cmd
from ..config import ConfigError
from ..gathering import gather
from .pacing import LagGate
from .worker import run_loop


async def run_one(request: dict[str, Any], lag_ms: float) -> dict[str, Any]:
    try:
        ctx = gather_cmd.make_context("icesim gather", list(request["args"]))
        config, embedded = build_config({k: v for k, v in ctx.params.items() if k not in ("fmt", "log_level")})
        if embedded:
            raise ConfigError("--stun", None, "a lab session names its servers (the lab's coturn)")
        return {"id": request["id"], "events": [event.to_dict() async for event in gather(config)], "lag_ms": lag_ms}
    except Exception as exc:  # noqa: BLE001 - reported per gather; the parent stops the run
        return {"id": request["id"], "error": f"{type(exc).__name__}: {exc}"}


async def serve(max_lag_ms: float) -> None:
    loop = asyncio.get_running_loop()
    gate = LagGate(max_lag_ms)
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task] = set()

    def reply(task: asyncio.Task) -> None:
        tasks.discard(task)
        sys.stdout.write(json.dumps(task.result(), separators=(",", ":")) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        await gate.admit()
        task = asyncio.ensure_future(run_one(json.loads(line), gate.lag_ms))
        tasks.add(task)
        task.add_done_callback(reply)
    while tasks:
        await asyncio.wait(set(tasks))
    gate.close()


if __name__ == "__main__":
    from .. import logs

    logs.configure("warning")
    run_loop(serve(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5))
