"""The lag gate: admissions stop while the loop is stalled and resume once it is free."""

from __future__ import annotations

import asyncio
import time

from icesim.dataset.pacing import LagGate


async def test_gate_grows_its_burst_on_a_free_loop_and_halves_it_on_a_stalled_one():
    # A generous budget so a machine busy with other work still counts as a free loop here.
    gate = LagGate(budget_ms=40.0, period_s=0.002)
    try:
        await asyncio.sleep(0.1)
        grown = gate.burst
        assert grown > 3
        time.sleep(0.15)  # a callback hogs the loop for 150 ms
        for _ in range(2):  # one loop iteration for the overdue tick to run
            await asyncio.sleep(0)
        assert gate.lag_s > 0.1 and gate.burst <= grown // 2 and gate.max_lag_s > 0.1
    finally:
        gate.close()


async def test_admissions_wait_for_tokens_and_zero_budget_never_waits():
    gate = LagGate(budget_ms=5.0, period_s=0.005)
    try:
        gate.tokens = 0
        start = time.monotonic()
        await gate.admit()  # waits for the next tick's tokens
        assert time.monotonic() - start >= 0.003 and gate.waits == 1
    finally:
        gate.close()
    free = LagGate(budget_ms=0.0)
    try:
        free.tokens = 0
        await asyncio.wait_for(free.admit(), 0.001)
    finally:
        free.close()
