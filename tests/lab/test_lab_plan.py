"""The topologies and the planned commands, as pure data (no root, no namespaces)."""

from __future__ import annotations

import ipaddress
import re

import click
import pytest

from icesim.config import ConfigError
from icesim.lab import TOPOLOGIES, get_topology
from icesim.lab.lab import resolve_gather_args
from icesim.lab.plan import create_batch, namespace_batch, plan_up, render_script

ALLOWED = [ipaddress.ip_network(n) for n in (
    "203.0.113.0/24", "198.51.100.0/24", "100.64.0.0/10", "2001:db8::/32",  # documentation / CGNAT
    "192.168.0.0/16", "10.0.0.0/8", "fd12:3456:789a::/48",  # private, inside the lab only
)]
FORBIDDEN = [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("fd00::/64")]
ADDRESS_RE = re.compile(r"(?<![\w.])(\d+\.\d+\.\d+\.\d+)(?![\w.])|(?<![\w:])([0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7})(?![\w:])")


def _addresses(text: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out = []
    for match in ADDRESS_RE.finditer(text):
        try:
            out.append(ipaddress.ip_address(match.group(1) or match.group(2)))
        except ValueError:
            continue
    return out


@pytest.mark.parametrize("name", list(TOPOLOGIES))
def test_every_address_a_lab_uses_is_allowed(name: str) -> None:
    plan = plan_up(TOPOLOGIES[name])
    script = render_script(plan, ["unshare"], name) + " ".join(TOPOLOGIES[name].servers)
    found = _addresses(script)
    assert len(found) >= 6 and ipaddress.ip_address("203.0.113.1") in found
    for addr in found:
        assert any(addr in net for net in ALLOWED), (name, addr)
        assert not any(addr in net for net in FORBIDDEN), (name, addr)


@pytest.mark.parametrize("name", list(TOPOLOGIES))
def test_topology_is_consistent(name: str) -> None:
    topo = TOPOLOGIES[name]
    names = [ns.name for ns in topo.namespaces]
    assert "client" in names and "public" in names and len(set(names)) == len(names)
    ends = {(v.a, v.a_dev) for v in topo.links} | {(v.b, v.b_dev) for v in topo.links}
    assert len(ends) == 2 * len(topo.links)  # no device name used twice in one namespace
    for v in topo.links:
        assert v.a in names and v.b in names
    for ns in topo.namespaces:  # every addressed device is one end of a veth
        for dev, cidr in ns.addresses:
            assert (ns.name, dev) in ends, (ns.name, dev)
            ipaddress.ip_interface(cidr)
    assert topo.summary and topo.expect and topo.servers


def test_veths_are_created_inside_namespaces_never_in_the_machines() -> None:
    for topo in TOPOLOGIES.values():
        for line in create_batch(topo).splitlines():
            if line.startswith("link add"):
                assert re.fullmatch(r"link add \S+ netns \S+ type veth peer name \S+ netns \S+", line), line


def test_home_nat_plan_is_exactly_these_commands() -> None:
    script = render_script(plan_up(get_topology("home-nat")), ["unshare", "--net"], "home-nat")
    body = [line for line in script.splitlines() if not line.startswith("#")]
    assert body[:3] == ["mkdir -p /run/netns", "mount -t tmpfs -o mode=0755 icesim-lab /run/netns", "ip -batch - <<'EOF'"]
    assert "link add eth0 netns client type veth peer name lan0 netns router" in body
    assert "netns exec router sysctl -q -w net.ipv4.ip_forward=1" in body
    assert "ip -n client -batch - <<'EOF'" in body and "route add default via 192.168.1.1" in body
    assert '    oifname "wan0" masquerade' in body
    coturn = body[-1]
    assert coturn.startswith("ip netns exec public turnserver -n --listening-ip=203.0.113.1 --listening-ip=203.0.113.2")
    for flag in ("--relay-ip=203.0.113.1", "--alt-listening-port=443", "--user=test:secret", "--userdb=:memory:",
                 "--pidfile=/dev/null"):
        assert flag in coturn
    assert coturn.endswith(" &")


def test_nat_rules_by_topology() -> None:
    nft = {name: " ".join(ns.nft for ns in t.namespaces) for name, t in TOPOLOGIES.items()}
    assert "masquerade fully-random" in nft["symmetric-nat"]
    assert "snat to 203.0.113.20:40000-40999" in nft["cgnat"]
    assert "meta l4proto udp counter drop" in nft["udp-blocked"]
    assert "meta l4proto udp counter reject" in nft["udp-rejected"]
    assert "tcp dport 443 accept" in nft["corporate"] and "policy drop" in nft["corporate"]
    assert "numgen random mod 100 < 20" in nft["lossy"]


def test_ipv6_labs_switch_dad_off_and_forwarding_on_before_links_exist() -> None:
    batch = create_batch(get_topology("dual-stack")).splitlines()
    first_link = next(i for i, line in enumerate(batch) if line.startswith("link add"))
    sysctl_lines = [i for i, line in enumerate(batch) if "sysctl" in line]
    assert sysctl_lines and max(sysctl_lines) < first_link
    assert any("net.ipv6.conf.all.forwarding=1" in batch[i] for i in sysctl_lines)
    assert "accept_dad" not in create_batch(get_topology("home-nat"))
    client = namespace_batch(get_topology("dual-stack").namespace("client")).splitlines()
    assert client.index("link set eth0 up") < client.index("addr add 2001:db8:1::10/64 dev eth0 nodad")


def test_gather_args_get_the_lab_servers_unless_the_caller_names_some() -> None:
    topo = get_topology("corporate")
    assert resolve_gather_args(topo, ["--seed", "3"]) == [*topo.servers, "--seed", "3"]
    own = ["--stun", "stun:203.0.113.1:443"]
    assert resolve_gather_args(topo, own) == own


def test_bad_gather_args_fail_before_any_lab_is_built() -> None:
    topo = get_topology("home-nat")
    with pytest.raises(ConfigError, match="--time-scale"):
        resolve_gather_args(topo, ["--time-scale", "fast"])
    with pytest.raises(click.UsageError, match="--bogus"):
        resolve_gather_args(topo, ["--bogus"])
    with pytest.raises(ConfigError, match="TOPOLOGY"):
        get_topology("nat-of-doom")
