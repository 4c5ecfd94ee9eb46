"""The gathering engine with permission (enumerated interfaces) on real sockets: host and TCP
active candidates with the real IPs, network ranks, network-id and network-cost, and the
srflx related address.

Expected behaviour: shared/reference/browser-ice.md (B5, B6) and the "Observed facts" of
shared/captures/README.md (Chromium 156). Every line is validated against the schema and every
stream must be in t order (engine_helpers.gather_lines).
"""

from __future__ import annotations

import ipaddress
import re

import pytest

from engine_helpers import MDNS_RE, cands, errors, gather_lines
from icesim.config import Interface, parse_ice_url
from icesim.interfaces import machine_interfaces


# ---------------------------------------------------------------------------------------------
# Permission (enumerated interfaces): host + TCP active only, real IPs
# ---------------------------------------------------------------------------------------------

_COST = {"ethernet": None, "wifi": "10", "unknown": "50", "cellular": "900"}


async def test_permission_enumerated_host_and_tcp_active():
    usable = [
        i for i in machine_interfaces()
        if i.adapter_type != "loopback" and not i.address.is_loopback and not i.address.is_link_local
    ]
    if not usable:
        pytest.skip("this machine has no non-loopback interface to enumerate")
    events = await gather_lines([], interfaces=list(machine_interfaces()), permission=True)
    assert not errors(events)
    udp, tcp = cands(events, "host", "udp"), cands(events, "host", "tcp")
    assert len(cands(events)) == len(udp) + len(tcp)
    addr = lambda i: f"[{i.address}]" if i.address.version == 6 else str(i.address)  # noqa: E731
    by_addr = {addr(i): i for i in usable}
    assert sorted(c["address"] for c in udp) == sorted(by_addr) == sorted(c["address"] for c in tcp)
    # Ranks 127, 126, ... : one per network, in priority order.
    ranks = sorted(((c["priority"] >> 16) & 0xFF for c in udp), reverse=True)
    assert ranks == list(range(127, 127 - len(udp), -1))
    net_ids = set()
    for c in udp:
        fields = dict(re.findall(r" (network-id|network-cost) (\d+)", c["candidate"]))
        assert not MDNS_RE.match(c["address"]) and ".local" not in c["candidate"]
        assert c["priority"] >> 24 == 126 and c["port"] > 0
        assert fields.get("network-cost") == _COST.get(by_addr[c["address"]].adapter_type, fields.get("network-cost"))
        net_ids.add(fields["network-id"])
        (t,) = [x for x in tcp if x["address"] == c["address"]]
        assert (t["port"], t["tcpType"], t["protocol"]) == (9, "active", "tcp")
        assert " tcptype active " in t["candidate"] and t["priority"] >> 24 == 90
        assert t["priority"] & 0xFFFFFF == c["priority"] & 0xFFFFFF  # same network rank and precedence
        assert f"network-id {fields['network-id']}" in t["candidate"]
    assert len(net_ids) == len(udp)
    # TCP candidates come in the TCP phase, after every UDP host candidate (B6: +100 ms).
    order = [e["candidate"]["protocol"] for e in events if e["type"] == "icecandidate" and e["candidate"]]
    assert order == ["udp"] * len(udp) + ["tcp"] * len(tcp)


async def test_permission_srflx_raddr_is_real_base(coturn):
    """With permission: srflx raddr/rport = the real local address and port (B5), enumerated
    priority (rank 126: the ULA network ranks first) and the network-id of its network.
    The capture addresses are not on this machine: icesim binds the any address for them."""
    events = await gather_lines([parse_ice_url(coturn.stun_url)], permission=True)
    assert not errors(events)
    host4 = next(c for c in cands(events, "host", "udp") if c["address"] == "198.51.100.2")
    (srflx,) = cands(events, "srflx")
    assert srflx["priority"] == (100 << 24) | (((126 << 8) | 30) << 8) | 255 == 1685987071
    assert (srflx["relatedAddress"], srflx["relatedPort"]) == ("198.51.100.2", host4["port"])
    assert (srflx["address"], srflx["port"]) == ("127.0.0.1", host4["port"])
    assert srflx["candidate"].endswith(" network-id 1") and host4["candidate"].endswith(" network-id 1")
    assert host4["priority"] == 2122194687


async def test_permission_loopback_only_gathers_nothing():
    lo = [Interface("lo", ipaddress.ip_address("127.0.0.1"), "loopback")]
    events = await gather_lines([], interfaces=lo, permission=True)
    assert [e["type"] for e in events] == ["icegatheringstatechange", "icegatheringstatechange", "icecandidate"]
