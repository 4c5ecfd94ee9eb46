"""Which lab a profile's sessions run in, and the `icesim gather` arguments of each session.

Pure code, no sockets (`icesim dataset --lab` runs the sessions: lab_sessions.py).

* A profile names its lab with `network.topology`; without one, its network fields pick the
  nearest topology (NEAREST, the README's table), or the profile is refused naming the field.
  Either way the topology must agree with the profile's own `nat` and `udp_blocked`: the two
  paths (in-process and lab) then label the same network, and a row never says "eim" for a
  session that went through a symmetric NAT.
* A session's gather settings come from the in-process mapping (`session.session_config`, so
  browser, policy, media, permission, mDNS, timeout, seed and the time scale of slow-RTT
  sessions are decided in one place), then the network parts are swapped for the lab's: the
  client namespace's real addresses (under the profile's interface names and types), the lab's
  coturn as the page's servers, no in-process blocking (the router's nftables does that), and
  the profile's RTT as `--latency` (the lab kernel has no netem, so delay stays in-process).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass

from ..config import Faults, GatherConfig, Interface, ResolveRule, parse_ice_url
from ..lab.topologies import ALT_PORT, PUBLIC_IP, PUBLIC_IP2, PUBLIC_IP6, STUN_PORT, TOPOLOGIES, TURN_PASSWORD, TURN_USER, Topology
from ..profiles import Profile, ProfileError
from .nat import NatRegistry
from .plan import SessionPlan
from .session import WorkerEnv, check_runnable, session_config, session_time_scale


@dataclass(frozen=True)
class LabNetwork:
    """What a topology is in the profile's terms, and the public addresses its coturn sees."""

    nat: str  # the profile's network.nat it stands for
    udp_blocked: bool
    public_v4: str
    public_v6: str | None = None


# Every topology of `icesim lab list` (a test keeps the two in step); addresses from topologies.py.
LAB_NETWORKS: dict[str, LabNetwork] = {
    "home-nat": LabNetwork("eim", False, "203.0.113.10"),
    "symmetric-nat": LabNetwork("symmetric", False, "203.0.113.10"),
    "cgnat": LabNetwork("cgnat", False, "203.0.113.20"),
    "datacenter": LabNetwork("none", False, "203.0.113.50"),
    "vpn": LabNetwork("eim", False, "198.51.100.10"),  # the VPN exit: tun0 holds the default route
    "dual-stack": LabNetwork("eim", False, "203.0.113.10", "2001:db8:1::10"),
    "udp-blocked": LabNetwork("eim", True, "203.0.113.10"),
    "udp-rejected": LabNetwork("eim", True, "203.0.113.10"),
    "corporate": LabNetwork("eim", True, "203.0.113.30"),
    "lossy": LabNetwork("eim", False, "203.0.113.10"),
}

# The nearest topology of a profile without network.topology, first rule that matches
# (README, "Profiles and datasets"): (what the profile says, topology).
NEAREST: tuple[tuple[str, str], ...] = (
    ("udp_blocked = true", "udp-blocked"),
    ("an interface of type vpn", "vpn"),
    ("IPv4 and IPv6 interfaces", "dual-stack"),
    ("nat = none", "datacenter"),
    ("nat = symmetric", "symmetric-nat"),
    ("nat = cgnat", "cgnat"),
    ("nat = eim", "home-nat"),
)

# The page's STUN server k in a lab: coturn's two addresses and two ports (distinct
# destinations, so a symmetric NAT maps each to another port).
LAB_STUN = ((PUBLIC_IP, STUN_PORT), (PUBLIC_IP, ALT_PORT), (PUBLIC_IP2, STUN_PORT), (PUBLIC_IP2, ALT_PORT))
LAB_TURN = {"udp": f"turn:{PUBLIC_IP}:{STUN_PORT}?transport=udp", "tcp": f"turn:{PUBLIC_IP}:{ALT_PORT}?transport=tcp"}


def nearest_topology(p: Profile) -> str:
    families = {i.family for i in p.interfaces}
    if p.udp_blocked:
        return "udp-blocked"
    if any(i.adapter_type == "vpn" for i in p.interfaces):
        return "vpn"
    if families == {4, 6}:
        return "dual-stack"
    return {"none": "datacenter", "symmetric": "symmetric-nat", "cgnat": "cgnat"}.get(p.nat, "home-nat")


def lab_topology(p: Profile) -> str:
    """The profile's topology (named or nearest), checked against its network; ProfileError
    naming the field otherwise."""
    name = p.topology or nearest_topology(p)
    how = f"network.topology {name!r}" if p.topology else f"the nearest lab topology, {name!r},"
    lab = LAB_NETWORKS[name]
    if p.udp_blocked != lab.udp_blocked:
        raise ProfileError(p.source, "network.udp_blocked", p.udp_blocked,
                           f"disagrees with {how} (which {'blocks' if lab.udp_blocked else 'passes'} UDP)")
    if not lab.udp_blocked and p.nat != lab.nat:
        raise ProfileError(p.source, "network.nat", p.nat, f"disagrees with {how} (a {lab.nat!r} NAT); "
                           "name a topology with that NAT in network.topology (`icesim lab list`)")
    lab_interfaces(p, TOPOLOGIES[name])  # raises when the client cannot hold the interfaces
    return name


def check_lab_runnable(p: Profile) -> None:
    """check_runnable for `--lab`: the same engine checks, TURN served by the lab's coturn."""
    check_runnable(dataclasses.replace(p, turn=()))
    for transport in p.turn:
        if transport not in LAB_TURN:
            raise ProfileError(p.source, "page.turn", list(p.turn),
                               f"not runnable in a lab: its coturn has no {transport.upper()} listener")
    if p.needs_gather and p.stun_servers > len(LAB_STUN):
        raise ProfileError(p.source, "page.stun_servers", p.stun_servers, f"a lab serves at most {len(LAB_STUN)}")
    if p.needs_gather:
        lab_topology(p)


# -- interfaces ---------------------------------------------------------------------------

def client_addresses(topology: Topology) -> dict[int, list[tuple[str, ipaddress.IPv4Interface | ipaddress.IPv6Interface]]]:
    """The client namespace's addresses by family, the default route's interface first (the one
    an any-address socket sends from: Chrome reports its address as the host candidate)."""
    ns = topology.namespace("client")
    out: dict[int, list] = {4: [], 6: []}
    for dev, cidr in ns.addresses:
        iface = ipaddress.ip_interface(cidr)
        out[iface.version].append((dev, iface))
    for family, addrs in out.items():
        default_dev = None
        for route in ns.routes:
            words = route.split()
            if words[0] != "default" or "table" in words:
                continue
            gateway = ipaddress.ip_address(words[words.index("via") + 1])
            if gateway.version != family:
                continue
            default_dev = words[words.index("dev") + 1] if "dev" in words else next(
                (d for d, i in addrs if gateway in i.network), None)
            break
        addrs.sort(key=lambda a: a[0] != default_dev)  # stable: the rest keep their order
    return out


def lab_interfaces(p: Profile, topology: Topology) -> tuple[Interface, ...]:
    """The profile's interfaces on the lab client's real addresses, default route first: a
    `vpn`-type interface takes the client's tun device, the others its other devices in order."""
    lab = client_addresses(topology)
    if not p.interfaces:
        raise ProfileError(p.source, "network.interfaces", [], "a lab session needs at least one interface")
    pairs: list[tuple[int, Interface]] = []
    for family in (4, 6):
        wanted = [i for i in p.interfaces if i.family == family]
        tun = [a for a in lab[family] if a[0].startswith("tun")]
        other = [a for a in lab[family] if not a[0].startswith("tun")]
        for spec in wanted:
            pool = tun if spec.adapter_type == "vpn" else other
            if not pool:
                kind = "VPN " if spec.adapter_type == "vpn" else ""
                raise ProfileError(p.source, "network.interfaces", f"{spec.name} {spec.cidr}",
                                   f"lab topology {topology.name!r} has no further {kind}IPv{family} address for it "
                                   f"(its client: {', '.join(str(i.ip) for _, i in lab[family]) or 'none'})")
            dev, addr = pool.pop(0)
            rank = [d for d, _ in lab[family]].index(dev)
            pairs.append((family * 100 + rank, Interface(spec.name, addr.ip, spec.adapter_type)))
    pairs.sort(key=lambda pair: pair[0])
    seen: set[int] = set()
    out = []
    for _, iface in pairs:
        out.append(dataclasses.replace(iface, default=iface.family not in seen))
        seen.add(iface.family)
    return tuple(out)


# -- the session ---------------------------------------------------------------------------

def lab_plan(plan: SessionPlan, topology: str) -> SessionPlan:
    """The plan as it runs in the lab: the lab client's addresses and the lab's public ones (the
    web server sees the public address, or the profile's proxy address)."""
    p, net = plan.profile, LAB_NETWORKS[topology]
    interfaces = lab_interfaces(p, TOPOLOGIES[topology])
    families = {i.family for i in interfaces}
    v4 = net.public_v4 if 4 in families else None
    v6 = net.public_v6 if 6 in families else None
    web = plan.web_address if p.web_address == "proxy" else (v4 or v6 or plan.web_address)
    return dataclasses.replace(plan, interfaces=interfaces, public_v4=v4, public_v6=v6, web_address=web)


def lab_servers(p: Profile, topology: Topology) -> tuple[list, tuple[ResolveRule, ...]]:
    """The page's iceServers in the lab, and the resolver rules for servers given by name (the
    AAAA only with stun_aaaa and an IPv6 coturn, as the in-process names)."""
    servers, rules = [], []
    v6 = PUBLIC_IP6 if PUBLIC_IP6 in topology.coturn_ips and p.stun_aaaa else None
    for k, (host, port) in enumerate(LAB_STUN[:p.stun_servers]):
        if p.stun_by_name:
            name = f"stun{k}.icesim.test"
            rules.append(ResolveRule(name, tuple(ipaddress.ip_address(a) for a in (host, v6) if a)))
            host = name
        servers.append(parse_ice_url(f"stun:{host}:{port}"))
    for transport in p.turn:
        servers.append(parse_ice_url(LAB_TURN[transport], username=TURN_USER, credential=TURN_PASSWORD))
    return servers, tuple(rules)


def lab_session(plan: SessionPlan, topology: str, time_scale: float) -> tuple[SessionPlan, GatherConfig, float]:
    """(the plan as run, its GatherConfig, its time scale) for a session in a `topology` lab."""
    run = lab_plan(plan, topology)
    env = WorkerEnv(None, NatRegistry(), [], [], time_scale)  # type: ignore[arg-type]  # no sockets: URLs only
    config = session_config(run, env)
    config.servers, rules = lab_servers(run.profile, TOPOLOGIES[topology])
    # Blocking and loss are the lab's kernel's; the RTT is added in-process (no netem here).
    config.faults = Faults(latency_ms=run.rtt_ms, resolve=rules)
    return run, config, session_time_scale(run, time_scale)


def gather_args(config: GatherConfig) -> list[str]:
    """`icesim gather` options that build exactly `config` (a test round-trips every library
    profile through the gather's own parser). A GatherConfig field without an option here is an
    error, so a new page setting can never be dropped silently on its way into a lab."""
    unknown = {f.name for f in dataclasses.fields(config)} - _MAPPED
    if unknown:
        raise RuntimeError(f"GatherConfig fields with no `icesim gather` option in gather_args(): {sorted(unknown)}")
    args = [f"--browser={config.browser}"]
    turn_creds = {(s.username, s.credential) for s in config.servers if s.is_turn}
    if len(turn_creds) > 1:
        raise RuntimeError("`icesim gather` takes one TURN username/credential for all TURN servers")
    for s in config.servers:
        host = f"[{s.host}]" if ":" in s.host else s.host
        query = f"?transport={s.transport}" if s.transport else ""
        args.append(f"--{'turn' if s.is_turn else 'stun'}={s.scheme}:{host}:{s.port}{query}")
    if not config.servers:
        args.append("--stun=none")
    for username, credential in turn_creds:
        args += [f"--username={username}", f"--credential={credential}"]
    for i in config.interfaces or ():
        addr = f"[{i.address}]" if i.family == 6 else str(i.address)
        args.append(f"--interface={i.name}={addr}:{i.adapter_type}")
    args += ["--permission"] if config.permission else []
    args += [] if config.mdns else ["--no-mdns"]
    f = config.faults
    args += ["--block-udp=all"] if f.block_udp_all else []
    args += [f"--block-udp={h}:{port}" if ":" not in h else f"--block-udp=[{h}]:{port}" for h, port in sorted(f.block_udp)]
    args += [f"--drop={f.drop!r}"] if f.drop else []
    args += [f"--latency={f.latency_ms!r}"] if f.latency_ms else []
    args += [f"--resolve={r.name}=" + (",".join(str(a) for a in r.addresses) or "NXDOMAIN") for r in f.resolve]
    args.append(f"--time-scale={float(config.time_scale)!r}")
    args += [f"--timeout={float(config.timeout_ms)!r}"] if config.timeout_ms is not None else []
    args += [f"--seed={config.seed}"] if config.seed is not None else []
    args += [f"--policy={config.ip_policy}", f"--ice-transport-policy={config.ice_transport_policy}",
             f"--media={','.join(config.media)}", f"--bundle-policy={config.bundle_policy}",
             f"--pool-size={config.pool_size}", f"--pool-lead={float(config.pool_lead_ms)!r}"]
    args += ["--sdp"] if config.sdp else []
    return args


_MAPPED = {"browser", "servers", "interfaces", "permission", "mdns", "faults", "time_scale", "timeout_ms", "seed",
           "ip_policy", "ice_transport_policy", "media", "bundle_policy", "pool_size", "pool_lead_ms", "sdp"}
