"""Browser time under a time scale, and an emitter that releases events in browser-time order.

Why per-task timelines: with `--time-scale F` the browser's timers (RTOs, phase delays) run F
times faster, but real network I/O still takes real time. Each task keeps its own browser
clock: a timer wait adds its full browser duration, real waiting adds real milliseconds. An
event's `t` is the browser time of the task that produced it, so a 701 at 39.88 s reads 39.88 s
whatever the scale, and an srflx one real RTT after its request reads one RTT later.

Tasks run concurrently, so an event may be produced (in real time) before another task's
earlier-browser-time event. The OrderedEmitter holds events until no live timeline can still
produce an earlier one (conservative synchronisation), so the stream is always in `t` order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any


class Timeline:
    """A task's browser clock, in ms since the gather started."""

    __slots__ = ("_emitter", "_t", "_real_ref", "_loop", "closed")

    def __init__(self, emitter: "OrderedEmitter", t: float) -> None:
        self._emitter = emitter
        self._loop = emitter.loop
        self._t = t
        self._real_ref = self._loop.time()
        self.closed = False

    def now(self) -> float:
        return self._t + (self._loop.time() - self._real_ref) * 1000.0

    async def sleep(self, ms: float) -> None:
        """Wait `ms` of browser time (ms / scale of real time)."""
        start = self.now()
        ms = max(ms, 0.0)  # a deadline already passed: browser time never runs backwards
        if ms > 0:
            await asyncio.sleep(ms / 1000.0 / self._emitter.scale)
        self._resume(start + ms)

    async def wait_for(self, fut: "asyncio.Future[Any]", ms: float, min_real_s: float = 0.0) -> bool:
        """Wait up to `ms` browser time for `fut`; True if it completed (time = real elapsed).

        `min_real_s` floors the real wait: a scaled timer must not expire before a real
        round trip could have answered (spurious retransmits and false 701s under load)."""
        start = self.now()
        if not fut.done():
            waiter = self._loop.create_future()

            def wake(_: object = None) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            handle = self._loop.call_later(max(max(ms, 0.0) / 1000.0 / self._emitter.scale, min_real_s), wake)
            fut.add_done_callback(wake)
            try:
                await waiter
            finally:
                handle.cancel()
                fut.remove_done_callback(wake)
        if fut.done():
            return True
        self._resume(start + max(ms, 0.0))
        return False

    def _resume(self, scheduled: float) -> None:
        """After a timer: browser time is the scheduled time, or later if the loop woke us late.
        Never earlier than what now() already reported: the emitter released events on it."""
        self._t = max(scheduled, self.now())
        self._real_ref = self._loop.time()
        self._emitter.poke()

    async def sleep_until(self, t: float) -> None:
        await self.sleep(t - self.now())

    def advance_to(self, t: float) -> None:
        """Jump forward to a computed browser time (no waiting)."""
        if t > self.now():
            self._t = t
            self._real_ref = self._loop.time()

    def fork(self) -> "Timeline":
        return self._emitter.timeline(self.now())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._emitter._timelines.discard(self)
            self._emitter.poke()

    def __enter__(self) -> "Timeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OrderedEmitter:
    """Collects (t, event) from many timelines; yields them in t order as soon as it is safe."""

    def __init__(self, scale: float = 1.0) -> None:
        self.loop = asyncio.get_running_loop()
        self.scale = scale
        self._timelines: set[Timeline] = set()
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        # The page's stream waiting for a push or poke (a bare future: an asyncio.Event per
        # gather costs a lock, a deque and a future per wait on the worker's hottest path).
        self._waiter: asyncio.Future[None] | None = None
        self._last_t = 0.0

    def timeline(self, t: float = 0.0) -> Timeline:
        tl = Timeline(self, t)
        self._timelines.add(tl)
        return tl

    def push(self, t: float, event: Any) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), event))
        self.poke()

    def poke(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def horizon(self) -> float:
        """No live timeline can still produce an event earlier than this."""
        if not self._timelines:
            return float("inf")
        return min(tl.now() for tl in self._timelines)

    def ready(self) -> list[Any]:
        """Events no live timeline can precede any more."""
        out = []
        horizon = self.horizon()
        while self._heap and self._heap[0][0] <= horizon:
            t, _, ev = heapq.heappop(self._heap)
            self._last_t = max(self._last_t, t)
            out.append(ev)
        return out

    async def wait(self) -> None:
        """Sleep until something may be releasable: a push or poke, or the moment the
        horizon (advancing with real time) reaches the earliest held event."""
        waiter = self._waiter = self.loop.create_future()
        handle = None
        if self._heap:
            delay = max(0.0, (self._heap[0][0] - self.horizon()) / 1000.0)
            handle = self.loop.call_later(delay, self.poke)
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    @property
    def live(self) -> bool:
        """Whether some timeline is still open (the horizon is a real browser time)."""
        return bool(self._timelines)

    @property
    def pending(self) -> int:
        return len(self._heap)
