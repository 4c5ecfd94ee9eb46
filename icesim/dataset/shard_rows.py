"""One shard's rows as its sessions end, in index order; written once the last one is in.

Shared by the in-process worker (worker.py) and `--lab` runs (lab_sessions.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .features import session_features

if TYPE_CHECKING:
    from .worker import Shard


class ShardRows:
    def __init__(self, shard: Shard, on_shard: Callable[[Shard, list[dict], list[dict]], Any],
                 writer: concurrent.futures.Executor, writes: list[asyncio.Future],
                 on_progress: Callable[[int], None] | None = None) -> None:
        self.shard, self.on_shard, self.writer, self.writes, self.on_progress = shard, on_shard, writer, writes, on_progress
        self.rows: list[dict | None] = [None] * (shard.stop - shard.start)
        self.feats: list[dict | None] = [None] * len(self.rows)
        self.left = len(self.rows)

    def add(self, row: dict[str, Any]) -> dict[str, Any]:
        """Keep a finished session's row (its `_events` become the features); returns the features."""
        slot = row["index"] - self.shard.start
        self.rows[slot] = row
        # Features per session as it ends: a whole shard's at once would stall the loop.
        f = self.feats[slot] = session_features({**row, "events": row.pop("_events")})
        if self.on_progress is not None:
            self.on_progress(1)
        self.left -= 1
        if self.left == 0:
            # Encoding and writing a shard takes 100s of ms: in a thread, so the loop (and the
            # browser time of every gather in flight) does not stop for it.
            loop = asyncio.get_running_loop()
            self.writes.append(loop.run_in_executor(self.writer, self.on_shard, self.shard, self.rows, self.feats))
        return f


def finished_row(task: asyncio.Task, release: Callable[[], None], inflight: set[asyncio.Task],
                 failure: list[BaseException]) -> dict[str, Any] | None:
    """A session task's done-callback bookkeeping: its slot released, its row, or None when it
    was cancelled or failed (the failure is kept: the run stops with it)."""
    release()
    inflight.discard(task)
    if task.cancelled():
        return None
    if task.exception() is not None:
        failure.append(task.exception())  # type: ignore[arg-type]
        return None
    return task.result()
