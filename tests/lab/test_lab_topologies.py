"""Every topology, built for real (namespaces, nftables, coturn): the candidates a gather sees."""

from __future__ import annotations

import pytest

from icesim.lab import Lab
from lab_helpers import cands, errors, lab_events, nft_counter, stun_probe

pytestmark = pytest.mark.usefixtures("lab_tools")

FAST = ["--time-scale", "100", "--seed", "7"]
STUN_TIMEOUT = "STUN binding request timed out."


async def test_home_nat_maps_to_the_router_with_the_host_port() -> None:
    async with Lab("home-nat") as lab:
        events = await lab_events(lab, [*FAST, "--no-mdns", "--stun", "stun:203.0.113.1:3478",
                                        "--stun", "stun:203.0.113.1:443"])
    (host,) = cands(events, "host")
    srflx = cands(events, "srflx")
    assert host["address"] == "192.168.1.10"
    # endpoint-independent and port-preserving: both STUN servers see 203.0.113.10:<host port>
    assert {(c["address"], c["port"]) for c in srflx} == {("203.0.113.10", host["port"])}
    assert all(c["relatedAddress"] == "192.168.1.10" for c in srflx)
    assert not errors(events)


async def test_home_nat_default_servers_give_a_relay_from_coturn() -> None:
    async with Lab("home-nat") as lab:
        events = await lab_events(lab, FAST)
    (relay,) = cands(events, "relay")
    assert relay["address"] == "203.0.113.1" and 49152 <= relay["port"] <= 49999
    assert relay["url"] == "turn:203.0.113.1:3478?transport=udp" and relay["relatedAddress"] == "203.0.113.10"


async def test_symmetric_nat_maps_each_stun_server_to_another_port() -> None:
    async with Lab("symmetric-nat") as lab:
        events = await lab_events(lab, [*FAST, "--no-mdns"])
    srflx = cands(events, "srflx")
    assert {c["url"] for c in srflx} == {"stun:203.0.113.1:3478", "stun:203.0.113.1:443"}
    assert {c["address"] for c in srflx} == {"203.0.113.10"}
    assert len({c["port"] for c in srflx}) == 2, srflx


async def test_cgnat_srflx_is_the_carriers_address_and_port_block() -> None:
    async with Lab("cgnat") as lab:
        events = await lab_events(lab, [*FAST, "--no-mdns"])
    (srflx,) = cands(events, "srflx")
    assert srflx["address"] == "203.0.113.20"
    assert 40000 <= srflx["port"] <= 40999
    assert cands(events, "host")[0]["address"] == "192.168.1.10"
    (relay,) = cands(events, "relay")
    assert relay["relatedAddress"] == "203.0.113.20"


async def test_datacenter_host_is_public_and_never_translated() -> None:
    async with Lab("datacenter") as lab:
        events = await lab_events(lab, [*FAST, "--no-mdns"])
    hosts = cands(events, "host")
    assert [c["address"] for c in hosts] == ["203.0.113.50"]
    assert all(c["address"] == "203.0.113.50" and c["port"] == hosts[0]["port"] for c in cands(events, "srflx"))
    assert cands(events, "relay")[0]["relatedAddress"] == "203.0.113.50"


async def test_vpn_default_route_exits_through_the_vpn() -> None:
    async with Lab("vpn") as lab:
        default = await lab_events(lab, [*FAST, "--no-mdns"])
        permitted = await lab_events(lab, [*FAST, "--no-mdns", "--permission"])
    assert [c["address"] for c in cands(default, "srflx")] == ["198.51.100.10"]
    assert [c["address"] for c in cands(default, "host")] == ["10.8.0.2"]
    # with the interfaces enumerated, policy routing sends eth0's traffic out of the home NAT
    srflx = {c["relatedAddress"]: c["address"] for c in cands(permitted, "srflx")}
    assert srflx == {"192.168.1.10": "203.0.113.10", "10.8.0.2": "198.51.100.10"}


async def test_dual_stack_ipv6_is_not_translated_and_answers_at_once() -> None:
    async with Lab("dual-stack") as lab:
        # right after the build: every request answered (no cold neighbour cache, no DAD wait)
        assert await stun_probe(lab, "client", "2001:db8:ff::1", 3478, 3) == 3
        events = await lab_events(lab, [*FAST, "--no-mdns", "--permission"])
    hosts = {c["address"].strip("[]") for c in cands(events, "host") if c["protocol"] == "udp"}  # Chrome brackets IPv6
    assert {"192.168.1.10", "2001:db8:1::10", "fd12:3456:789a:1::10"} <= hosts
    srflx = {c["address"].strip("[]") for c in cands(events, "srflx")}
    assert "203.0.113.10" in srflx and srflx <= {"203.0.113.10", "2001:db8:1::10"}  # no NAT66
    # the ULA is not routed past the router: its requests to the IPv6 server time out (701);
    # the global address's are answered (it has no srflx only because it would equal the host)
    v6_errors = [e for e in errors(events) if "2001:db8" in e["url"]]
    assert v6_errors and all(e["address"].startswith("[fd12:3456:789a:") for e in v6_errors), v6_errors
    assert all(e["errorCode"] == 701 for e in v6_errors)


@pytest.mark.parametrize("topology,table", [("udp-blocked", "icesim_filter"), ("udp-rejected", "icesim_filter")])
async def test_udp_blocked_or_rejected_gives_701_and_a_tcp_relay(topology: str, table: str) -> None:
    async with Lab(topology) as lab:
        events = await lab_events(lab, FAST)
        dropped = await nft_counter(lab, "router", table)
    assert not cands(events, "srflx")
    stun_errors = [e for e in errors(events) if e["url"] == "stun:203.0.113.1:3478"]
    assert stun_errors and all(e["errorCode"] == 701 and e["errorText"] == STUN_TIMEOUT for e in stun_errors)
    assert {c["relayProtocol"] for c in cands(events, "relay")} == {"tcp"}
    assert dropped > 0  # the router's rule saw the STUN requests (rejected: it answered ICMP)


async def test_udp_rejected_icmp_reaches_the_client_which_still_sees_701s() -> None:
    watch = ("table inet isl_watch {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
             "    icmp type destination-unreachable counter\n  }\n}\n")
    async with Lab("udp-rejected") as lab:
        rc, _, err = await lab.run("client", ["nft", "-f", "-"], input=watch.encode())
        assert rc == 0, err
        events = await lab_events(lab, FAST)
        unreachable = await nft_counter(lab, "client", "isl_watch")
    assert unreachable > 0  # the router's ICMP port unreachable arrived...
    assert [e["errorCode"] for e in errors(events) if e["url"].startswith("stun:")] == [701]  # ...and changed nothing


async def test_corporate_only_relays_over_tcp_443() -> None:
    async with Lab("corporate") as lab:
        events = await lab_events(lab, [*FAST, "--no-mdns"])
    assert [c["type"] for c in cands(events)] == ["host", "relay"]
    (relay,) = cands(events, "relay")
    assert relay["relayProtocol"] == "tcp" and relay["url"] == "turn:203.0.113.1:443?transport=tcp"
    assert relay["relatedAddress"] == "203.0.113.30"
    assert {e["url"] for e in errors(events)} == {"stun:203.0.113.1:3478", "turn:203.0.113.1:3478?transport=udp"}
    assert all(e["errorCode"] == 701 for e in errors(events))


async def test_lossy_router_drops_some_packets_and_stun_retries_through() -> None:
    async with Lab("lossy") as lab:
        answered = await stun_probe(lab, "client", "203.0.113.1", 3478, 200)
        dropped = await nft_counter(lab, "router", "icesim_filter")
        events = await lab_events(lab, [*FAST, "--no-mdns"])
    # 20% loss each way: ~64% of 200 answered; both bounds are many standard deviations out
    assert 60 < answered < 190, answered
    assert dropped > 10
    assert [c["address"] for c in cands(events, "srflx")] == ["203.0.113.10"]


async def test_labs_run_in_parallel_without_sharing_anything() -> None:
    import asyncio

    labs = [Lab("home-nat") for _ in range(3)]
    await asyncio.gather(*(lab.start() for lab in labs))
    pids = {lab.runner_pid for lab in labs}
    try:
        results = await asyncio.gather(*(lab_events(lab, [*FAST, "--no-mdns"]) for lab in labs))
    finally:
        await asyncio.gather(*(lab.stop() for lab in labs))
    assert len(pids) == 3 and 0 not in pids
    for events in results:  # each lab has its own 192.168.1.10 and 203.0.113.10
        assert [c["address"] for c in cands(events, "srflx")] == ["203.0.113.10"]
