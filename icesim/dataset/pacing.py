"""Admission by event-loop lag: keep browser time honest under load.

A session's `t` is browser time: timers at their browser length plus the REAL time spent
waiting for the network. When a worker's loop is saturated, an answer waits in the ready queue
and that wait is counted as network time: at 1000 gathers in flight (no pacing) srflx candidates
came ~400 ms late in browser time. The gate admits a new session only while the loop's measured
lag is under a budget, so throughput adapts to the CPU there is and timing features stay real.
Idle sessions (waiting on 40 s timers) add no lag, so they still run by the thousand.
"""

from __future__ import annotations

import asyncio


class LagGate:
    """Admission tokens handed out by a periodic timer, as many per tick as the loop can take:
    the burst grows by one while the measured lag stays under half the budget and halves when it
    goes over (AIMD). A saturated loop runs its timer late, so the lag is measured where it hurts."""

    def __init__(self, budget_ms: float, period_s: float = 0.002) -> None:
        self.budget_s = budget_ms / 1000.0
        self.period_s = period_s
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self.burst = 1
        self.tokens = 1
        self.waits = 0  # admissions that had to wait for a token
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + period_s
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self._loop.time()
        self.lag_s = max(0.0, now - self._due)
        self.max_lag_s = max(self.max_lag_s, self.lag_s)
        if self.lag_s > self.budget_s:
            self.burst = max(1, self.burst // 2)
        elif self.lag_s < self.budget_s / 2:
            self.burst += 1
        self.tokens = self.burst
        self._ready.set()
        self._due = now + self.period_s
        self._handle = self._loop.call_at(self._due, self._tick)

    async def admit(self) -> None:
        if self.budget_s <= 0:
            return
        if self.tokens <= 0:
            self.waits += 1
            while self.tokens <= 0:
                self._ready.clear()
                await self._ready.wait()
        self.tokens -= 1

    @property
    def lag_ms(self) -> float:
        return round(self.lag_s * 1000.0, 3)

    def close(self) -> None:
        self._handle.cancel()
