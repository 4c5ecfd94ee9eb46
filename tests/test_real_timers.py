"""Chrome's real STUN timers, unscaled: the one test that waits the full ~40 s (capture S5).

Every other timer test runs under --time-scale; this one proves the unscaled schedule and the
browser-time `t` agree with the wall clock."""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path

import pytest

import icesim
from icesim.config import Faults

S5 = Path(__file__).parents[1] / ".." / "shared" / "captures" / "S5_chromium_stun_udp_dropped.json"
# Capture S5: 701 39930.4 ms after t0, "gathering" at 41.4 ms.
S5_ERROR_AFTER_GATHERING_MS = 39930.4 - 41.4


@pytest.mark.slow
async def test_dropped_stun_701_after_real_40_seconds(closed_port) -> None:
    config = icesim.GatherConfig(
        servers=[icesim.parse_ice_url(f"stun:127.0.0.1:{closed_port}")],
        interfaces=[icesim.Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", True)],
        faults=Faults(block_udp_all=True), seed=11,
    )
    start = time.monotonic()
    events = [e.to_dict() async for e in icesim.gather(config)]
    wall_ms = (time.monotonic() - start) * 1000
    gathering = next(e["t"] for e in events if e.get("state") == "gathering")
    (err,) = [e for e in events if e["type"] == "icecandidateerror"]
    assert err["errorText"] == "STUN binding request timed out."
    assert abs((err["t"] - gathering) - S5_ERROR_AFTER_GATHERING_MS) <= 0.01 * S5_ERROR_AFTER_GATHERING_MS
    # Unscaled: browser time is wall time (give or take the createOffer offset and loop lateness).
    assert abs(wall_ms - events[-1]["t"]) <= 0.01 * wall_ms + 60
    if S5.exists():  # the same shape as the capture's error
        cap = [e for e in json.loads(S5.read_text())["page"]["events"] if e["kind"] == "icecandidateerror"]
        assert {k: v for k, v in cap[0]["error"].items() if k not in ("port", "hostCandidate", "url")} == {
            k: v for k, v in err.items() if k in ("address", "errorCode", "errorText")
        }
