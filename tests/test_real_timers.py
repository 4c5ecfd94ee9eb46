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


# Capture F5b (shared/captures): 701 at 11168 ms after t0, "gathering" at 67 ms.
F5B_ERROR_AFTER_GATHERING_MS = 11168 - 67


@pytest.mark.slow
async def test_firefox_dropped_stun_701_after_real_11_seconds(closed_port) -> None:
    """Firefox's unscaled schedule: 7 sends, the 701 ~11.1 s after "gathering" (F5b), on the
    wall clock too. The server is a public alias of a closed loopback port (Firefox refuses
    loopback servers outright)."""
    from alias_net import AliasNet

    public = ("203.0.113.2", closed_port)
    config = icesim.GatherConfig(
        browser="firefox", servers=[icesim.parse_ice_url(f"stun:203.0.113.2:{closed_port}")],
        interfaces=[icesim.Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", True)], seed=12,
    )
    start = time.monotonic()
    events = [e.to_dict() async for e in icesim.gather(config, AliasNet({public: ("127.0.0.1", closed_port)}))]
    wall_ms = (time.monotonic() - start) * 1000
    gathering = next(e["t"] for e in events if e.get("state") == "gathering")
    (err,) = [e for e in events if e["type"] == "icecandidateerror"]
    assert (err["errorCode"], err["errorText"], err["address"], err["port"]) == (701, "", None, None)
    assert abs((err["t"] - gathering) - F5B_ERROR_AFTER_GATHERING_MS) <= 30
    assert [e.get("state") or (e.get("candidate") or {}).get("candidate") for e in events[-3:]] == ["", "complete", None]
    assert abs(wall_ms - events[-1]["t"]) <= 0.01 * wall_ms + 60
