"""Command planning, pure code: a topology -> the exact `ip`/`nft`/`turnserver` command lines.

This is what `icesim lab ... --dry-run` prints (as a shell script) and what the sandbox runner
executes, step by step; unit tests check it without root. All commands run inside the lab's
private sandbox (see sandbox.py): a fresh user/mount/network/PID namespace where /run/netns is a
private tmpfs, so the named namespaces below exist only there.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass

from .topologies import ALT_PORT, STUN_PORT, TURN_PASSWORD, TURN_REALM, TURN_USER, Namespace, Topology

NETNS_DIR = "/run/netns"
COTURN_RELAY_PORTS = (49152, 49999)


@dataclass(frozen=True)
class Step:
    """One command; `stdin` is fed to it (an `ip -batch` script or an nft ruleset)."""

    argv: tuple[str, ...]
    stdin: str | None = None

    def shell(self) -> str:
        line = shlex.join(self.argv)
        if self.stdin is None:
            return line
        return f"{line} <<'EOF'\n{self.stdin.rstrip()}\nEOF"


@dataclass(frozen=True)
class LabPlan:
    topology: Topology
    steps: tuple[Step, ...]
    coturn: tuple[str, ...]  # argv, started last and left running in `public`
    probe: tuple[str, int]  # coturn is ready once it answers a STUN Binding request here

    def to_json(self) -> dict:
        return {
            "steps": [{"argv": list(s.argv), "stdin": s.stdin} for s in self.steps],
            "coturn": list(self.coturn), "probe": list(self.probe),
        }


def _in_ns(ns: str, argv: list[str]) -> tuple[str, ...]:
    return ("ip", "netns", "exec", ns, *argv)


def _is_v6(cidr: str) -> bool:
    return ipaddress.ip_interface(cidr).version == 6


# IPv6 duplicate address detection holds addresses (link-local ones too) "tentative" for ~1 s,
# and a router whose links came up before forwarding was on drops forwarded IPv6 for ~1 s more:
# both are set before any link exists (measured: the first STUN request then gets through).
NO_DAD = ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")


def has_ipv6(topology: Topology) -> bool:
    return any(_is_v6(cidr) for ns in topology.namespaces for _, cidr in ns.addresses)


def namespace_sysctls(topology: Topology, ns: Namespace) -> tuple[str, ...]:
    return (NO_DAD if has_ipv6(topology) else ()) + ns.sysctls


def create_batch(topology: Topology) -> str:
    """Namespaces, their sysctls, then veth pairs, each end created directly in its namespace."""
    lines = [f"netns add {ns.name}" for ns in topology.namespaces]
    for ns in topology.namespaces:
        if sysctls := namespace_sysctls(topology, ns):
            lines.append(f"netns exec {ns.name} sysctl -q -w {' '.join(sysctls)}")
    lines += [f"link add {v.a_dev} netns {v.a} type veth peer name {v.b_dev} netns {v.b}" for v in topology.links]
    return "\n".join(lines) + "\n"


def namespace_batch(ns: Namespace) -> str:
    """Addresses (IPv6 without duplicate address detection, so they are usable at once), links
    up, routes and policy rules of one namespace."""
    devices = dict.fromkeys(dev for dev, _ in ns.addresses)
    lines = ["link set lo up", *(f"link set {dev} up" for dev in devices)]
    lines += [f"addr add {cidr} dev {dev}" + (" nodad" if _is_v6(cidr) else "") for dev, cidr in ns.addresses]
    lines += [f"route add {route}" for route in ns.routes]
    lines += [f"rule add {rule}" for rule in ns.rules]
    return "\n".join(lines) + "\n"


def coturn_argv(topology: Topology, binary: str = "turnserver") -> tuple[str, ...]:
    """coturn in `public`: long-term credentials, no TLS, nothing written to disk (in-memory
    user DB, pid file /dev/null, log on stdout for the runner to keep)."""
    listen = [f"--listening-ip={ip}" for ip in topology.coturn_ips]
    lo, hi = COTURN_RELAY_PORTS
    return _in_ns("public", [
        binary, "-n", *listen, f"--relay-ip={topology.coturn_ips[0]}", f"--listening-port={STUN_PORT}",
        f"--alt-listening-port={ALT_PORT}",
        f"--min-port={lo}", f"--max-port={hi}", "--lt-cred-mech", f"--user={TURN_USER}:{TURN_PASSWORD}",
        f"--realm={TURN_REALM}", "--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout", "--simple-log",
        "--pidfile=/dev/null", "--userdb=:memory:",
    ])


def plan_up(topology: Topology, turnserver: str = "turnserver") -> LabPlan:
    steps = [
        Step(("mkdir", "-p", NETNS_DIR)),
        Step(("mount", "-t", "tmpfs", "-o", "mode=0755", "icesim-lab", NETNS_DIR)),
        Step(("ip", "-batch", "-"), create_batch(topology)),
    ]
    steps += [Step(("ip", "-n", ns.name, "-batch", "-"), namespace_batch(ns)) for ns in topology.namespaces]
    steps += [Step(_in_ns(ns.name, ["nft", "-f", "-"]), ns.nft) for ns in topology.namespaces if ns.nft]
    return LabPlan(topology, tuple(steps), coturn_argv(topology, turnserver), (topology.coturn_ips[0], STUN_PORT))


def render_script(plan: LabPlan, sandbox: list[str], name: str) -> str:
    """The plan as a shell script a user can read (or run as root inside `sandbox`)."""
    out = [
        f"# icesim lab {name!r}: topology {plan.topology.name} — {plan.topology.summary}",
        "# Everything below runs inside one private sandbox (the lab's PID 1 is icesim's runner):",
        f"#   {shlex.join(sandbox)}",
        "# so no namespace, link, rule or process outlives it.",
    ]
    out += [s.shell() for s in plan.steps]
    out.append(shlex.join(plan.coturn) + " &")
    out.append(f"# ready when coturn answers a STUN Binding request on {plan.probe[0]}:{plan.probe[1]}")
    return "\n".join(out) + "\n"
