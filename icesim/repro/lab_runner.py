"""Run a repro case in a real kernel network lab (`icesim repro 701 CASE --lab`).

The same case data, with the faults made by the kernel instead of FaultyNet: the page's
gather runs in the lab's `client` namespace behind a home router (NAT), the servers are in
`public` (coturn on 203.0.113.1, a STUN error responder when the case needs one, and closed
ports where nothing listens, so the kernel answers ICMP port unreachable or RST), and the
router's nftables forward chain drops UDP as the case says. Name lookups stay resolver rules
(`--resolve`): the lab has no DNS server.
"""

from __future__ import annotations

import asyncio
import sys
import time

from ..lab import Lab, LabError
from ..lab.lab import gather_env
from ..lab.topologies import (
    FORWARD4, FORWARD6, HOME_LINKS, PUBLIC_IP, PUBLIC_IP6, STUN_PORT, TURN_PASSWORD, TURN_USER, Namespace, Topology,
    forward_filter, masquerade, public,
)
from .model import Case, Endpoint
from .runner import CaseRun, LineSink

CLOSED_PORT = 3999  # nothing listens there in `public`
ERROR_PORT = 3479  # the STUN error responder in `public`
# The embedded STUN server answering the case's error code, run inside `public`. It exits when
# its stdin closes: nsenter forks it, so killing the process we started would not reach it.
_ERROR_SERVER = (
    "import asyncio, os, sys, threading\n"
    "threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n"
    "from icesim.stun_server import run_stun_server\n"
    "host, port, code, reason = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]\n"
    "asyncio.run(run_stun_server(host, port, ready=lambda a: print('ready', flush=True), error_code=(code, reason)))\n"
)
# Cases whose expected stream holds only for a private (loopback) server: a TURN/TCP error
# for a public server reaches the page at once as "0.0.0.x:0" (capture C2), not held as ":0".
PRIVATE_SERVER_CASES = {"turn-tcp-refused", "corporate-firewall"}


def lab_refusal(case: Case) -> str | None:
    """Why `case` has no lab run, or None."""
    if case.name in PRIVATE_SERVER_CASES:
        return ("its expected stream is for a private (loopback) TURN server; the lab's is public, "
                "which Chrome reports differently (capture C2)")
    return None


def lab_topology(case: Case, blocked: list[tuple[str, int]], browser: str = "chrome") -> Topology:
    """Home NAT with a global IPv6 beside IPv4 (as the capture namespace), faults in the router."""
    rules = []
    if case.network_for(browser).block_udp_all:
        rules.append("meta l4proto udp counter drop")
    rules += [f"ip daddr {ip} udp dport {port} counter drop" for ip, port in blocked]
    router_nft = masquerade("wan0") + (forward_filter(*rules) if rules else "")
    return Topology(
        f"repro-{case.name}", case.summary, "the case's expected stream",
        (
            Namespace("client", addresses=(("eth0", "192.168.1.10/24"), ("eth0", "2001:db8:1::10/64")),
                      routes=("default via 192.168.1.1", "default via 2001:db8:1::1")),
            Namespace("router", addresses=(("lan0", "192.168.1.1/24"), ("lan0", "2001:db8:1::1/64"),
                                           ("wan0", "203.0.113.10/24"), ("wan0", "2001:db8:ff::10/64")),
                      sysctls=(FORWARD4, FORWARD6), nft=router_nft),
            public(("eth0", f"{PUBLIC_IP6}/64"), routes=("2001:db8:1::/64 via 2001:db8:ff::10",)),
        ),
        HOME_LINKS, (),
    )


def _endpoint(kind: Endpoint, fixed: int | None) -> tuple[str, int]:
    if kind in (Endpoint.STUN, Endpoint.COTURN):
        return PUBLIC_IP, STUN_PORT
    if kind is Endpoint.STUN_ERROR:
        return PUBLIC_IP, ERROR_PORT
    if kind is Endpoint.CLOSED:
        return PUBLIC_IP, CLOSED_PORT
    assert fixed is not None
    return PUBLIC_IP, fixed


async def run_case_in_lab(case: Case, browser: str, *, time_scale: float, seed: int | None,
                          sink: LineSink | None = None) -> CaseRun:
    """Build the case's lab, gather once in it, tear it down. LabError when it cannot.
    `sink` gets each line (the meta line first) as dicts, as the gather prints them."""
    run = CaseRun(case, browser, lab=True)
    started = time.monotonic()
    network = case.network_for(run.browser_name)
    args = ["--browser", browser, "--time-scale", f"{time_scale:g}", "--policy", network.ip_policy,
            "--ice-transport-policy", network.ice_transport_policy]
    if seed is not None:
        args += ["--seed", str(seed)]
    blocked: list[tuple[str, int]] = []
    for i, server in enumerate(case.servers):
        ip, port = _endpoint(server.endpoint, server.port)
        host = server.name or ip
        if server.name:
            args += ["--resolve", f"{server.name}={ip if server.name_resolves else 'NXDOMAIN'}"]
        query = f"?transport={server.transport}" if server.transport else ""
        run.servers[f"s{i}"] = f"{host}:{port}"
        run.urls.append(f"{server.scheme}:{host}:{port}{query}")
        args += [f"--{server.scheme}", run.urls[-1]]
        if server.scheme == "turn":  # one pair for every --turn URL (the cases have one)
            args += ["--username", TURN_USER if server.username is not None else "",
                     "--credential", (TURN_PASSWORD if server.credential == "secret" else server.credential or "")]
        if network.block_udp_to_servers:
            blocked.append((ip, port))
    async with Lab(lab_topology(case, blocked, run.browser_name)) as lab:
        responder = None
        if case.stun_error is not None:
            code, reason = case.stun_error
            responder = await asyncio.create_subprocess_exec(
                *lab.enter_argv("public", [sys.executable, "-c", _ERROR_SERVER, PUBLIC_IP, str(ERROR_PORT),
                                           str(code), reason]),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=gather_env())
            assert responder.stdout and responder.stderr
            if not (await asyncio.wait_for(responder.stdout.readline(), 10.0)).startswith(b"ready"):
                err = (await responder.stderr.read()).decode(errors="replace").strip().splitlines()
                raise LabError(f"lab: the STUN error responder did not start: {err[-1] if err else '?'}")
        try:
            async for line in lab.gather_stream(args):
                if line["type"] != "meta":
                    run.lines.append(line)
                if sink is not None:
                    sink(None, line)
        finally:
            if responder is not None and responder.stdin is not None:
                responder.stdin.close()  # the responder exits (see _ERROR_SERVER)
                try:
                    await asyncio.wait_for(responder.wait(), 5.0)
                except asyncio.TimeoutError:
                    pass  # the lab's teardown ends everything in its namespaces anyway
    run.wall_s = time.monotonic() - started
    return run
