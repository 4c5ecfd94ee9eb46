"""A later socket's mDNS host candidate queues behind an earlier socket's name lookup until its
result is out (captures E_nx, E_nx_2: host4, its host-lookup 701, then host6 and its 701).
Found by `icesim repro 701 stun-dns-failure` under some seeds: the IPv6 host used to wait only
for the lookup itself, so it could overtake the IPv4 701 when the IPv4 host came late."""

from __future__ import annotations

import pytest

from engine_helpers import gather_lines
from icesim.config import Faults, parse_ice_url, parse_resolve
from test_captures import label

NX = Faults(resolve=(parse_resolve("nx.test=NXDOMAIN"),))


@pytest.mark.parametrize("time_scale", [1.0, 200.0])
async def test_ipv6_host_waits_for_the_ipv4_lookup_result(time_scale):
    # Seeds 5 and 11 drew a late IPv4 host and a fast lookup: the order broke before the fix.
    for seed in range(16):
        lines = await gather_lines([parse_ice_url("stun:nx.test:3478")], seed=seed, faults=NX, time_scale=time_scale)
        seq = [(label(x), x.get("address", "")[:3]) for x in lines[1:-2]]
        assert seq == [("host4", ""), ("error 701 stun", "0.0"), ("host6", ""), ("error 701 stun", "[0:")], (seed, seq)
