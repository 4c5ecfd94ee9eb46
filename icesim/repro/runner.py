"""Run a repro case for real: start its servers on loopback, build the page's configuration
and the network's faults, and gather through the engine (real sockets, FaultyNet faults).

The case says what the servers are; this module decides where they listen. It never reads
the expected stream: matching is `matching.py`'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import ConstructorRefusal, Faults, GatherConfig, IceServerUrl, Interface, parse_ice_url, parse_resolve
from ..dialects import Dialect, get_dialect
from ..dialects.constructor_rules import undefined_global_message
from ..events import Event, GatherMeta
from ..gathering import gather
from ..net.alias import AliasNet
from ..stun_server import StunServer
from .coturn import Coturn, CoturnMissing
from .model import Case, Endpoint, Server

# The page's machine: the capture namespace's eth0 (tests/data/chromium156/README), so every
# run shows the same networks whatever this machine has. With mDNS the addresses stay hidden;
# the sockets bind the any address, as Chrome's do without permission.
CASE_INTERFACES = (
    Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True),
    Interface("eth0", ipaddress.ip_address("2001:db8:5::2"), "ethernet", default=True),
)
# Browser timers run this much faster by default: the ~40 s timeouts take well under 2 s of
# wall time (a STUN retransmission still waits >= 100 ms real, clock.py), `t` stays browser time.
DEFAULT_TIME_SCALE = 200.0
# For a browser that refuses loopback servers, the servers are reached through this address
# (the Firefox captures' server, 203.0.113.2), rewritten to loopback in-process (AliasNet).
PUBLIC_ALIAS = "203.0.113.2"


@dataclass
class CaseRun:
    """What one run produced: the lines a page saw (dicts, as printed) and the URL context."""

    case: Case
    browser: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    servers: dict[str, str] = field(default_factory=dict)  # "s0" -> "127.0.0.1:41234"
    urls: list[str] = field(default_factory=list)  # the page's iceServers URLs
    aliased: bool = False  # servers reached through PUBLIC_ALIAS (the browser refuses loopback)
    lab: bool = False  # run in a kernel network lab (lab_runner), faults by nftables
    wall_s: float = 0.0

    @property
    def browser_name(self) -> str:
        """The dialect's name, the key of Case.expected ("chrome@156" -> "chrome")."""
        return self.browser.partition("@")[0].strip().lower()

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [x for x in self.lines if x["type"] in ("icecandidateerror", "exception")]


LineSink = Callable[[Event | None, dict[str, Any]], None]


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening on UDP nor TCP (ICMP unreachable / RST)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _endpoint(server: Server, case: Case, stack: contextlib.AsyncExitStack,
                    coturn: Coturn | None) -> tuple[str, int]:
    if server.endpoint is Endpoint.COTURN:
        if coturn is None:
            raise CoturnMissing(f"case {case.name} needs coturn's turnserver, which is not installed "
                                "(apt-get install coturn)")
        return coturn.host, coturn.port
    if server.endpoint in (Endpoint.STUN, Endpoint.STUN_ERROR):
        error = case.stun_error if server.endpoint is Endpoint.STUN_ERROR else None
        stun = await stack.enter_async_context(StunServer(error_code=error))
        return stun.address
    if server.endpoint is Endpoint.CLOSED:
        return "127.0.0.1", closed_port()
    assert server.port is not None, f"{case.name}: Endpoint.FIXED needs a port"
    return "127.0.0.1", server.port


def _refuses_loopback(dialect: Dialect) -> bool:
    """Firefox refuses STUN/TURN servers on loopback before gathering (captures README)."""
    probe = parse_ice_url("stun:127.0.0.1:3478")
    return dialect.refused_server_error(probe, 0.0, random.Random(0)) is not None


def _constructor_line(exc: ConstructorRefusal) -> dict[str, Any]:
    """The page's view of a configuration the browser's RTCPeerConnection constructor rejects
    (the dialect's constructor_error carries the browser's own name and message)."""
    return {"type": "exception", "name": exc.exception_name, "message": exc.exception_message}


async def run_case(case: Case, browser: str = "chrome", *, time_scale: float = DEFAULT_TIME_SCALE,
                   seed: int | None = None, coturn: Coturn | None = None,
                   sink: LineSink | None = None) -> CaseRun:
    """Run `case` once and return every line the page saw; `sink` gets each as it comes."""
    run = CaseRun(case, browser)
    started = time.monotonic()

    def emit(event: Event | None, line: dict[str, Any]) -> None:
        if line["type"] != "meta":
            run.lines.append(line)
        if sink is not None:
            sink(event, line)

    async with contextlib.AsyncExitStack() as stack:
        urls: list[IceServerUrl] = []
        blocked: set[tuple[str, int]] = set()
        rules = []
        dialect = get_dialect(browser)
        aliases: dict[tuple[str, int], tuple[str, int]] = {}
        network = case.network_for(dialect.name)
        for i, server in enumerate(case.servers):
            ip, port = await _endpoint(server, case, stack, coturn)
            if _refuses_loopback(dialect):
                aliases[(PUBLIC_ALIAS, port)] = (ip, port)
                ip, run.aliased = PUBLIC_ALIAS, True
            host = server.name or ip
            if server.name:
                rules.append(parse_resolve(f"{server.name}={ip if server.name_resolves else 'NXDOMAIN'}"))
            run.servers[f"s{i}"] = f"{host}:{port}"
            query = f"?transport={server.transport}" if server.transport else ""
            creds = (server.username, server.credential) if server.scheme == "turn" else (None, None)
            run.urls.append(f"{server.scheme}:{host}:{port}{query}")
            urls.append(parse_ice_url(run.urls[-1], username=creds[0], credential=creds[1]))
            if network.block_udp_to_servers:
                blocked.add((ip, port))
        faults = Faults(block_udp_all=network.block_udp_all, block_udp=frozenset(blocked), resolve=tuple(rules))
        config = GatherConfig(
            browser=browser, servers=urls, interfaces=list(CASE_INTERFACES), faults=faults,
            time_scale=time_scale, seed=seed, ip_policy=network.ip_policy,
            ice_transport_policy=network.ice_transport_policy,
        )
        try:
            if network.peer_connection_disabled:
                raise ConstructorRefusal("--browser", browser, "ReferenceError",
                                         undefined_global_message(dialect.name, "RTCPeerConnection"))
            config.validate()
        except ConstructorRefusal as exc:
            line = _constructor_line(exc)
            meta = GatherMeta(browser=f"{dialect.name}@{dialect.version}", time_scale=time_scale, seed=seed,
                              servers=tuple(run.urls))
            emit(meta, meta.to_dict())
            emit(None, line)
        else:
            async for event in gather(config, AliasNet(aliases) if aliases else None):
                emit(event, event.to_dict())
    run.wall_s = time.monotonic() - started
    return run


async def run_cases(cases: list[Case], browser: str, *, time_scale: float, seed: int | None,
                    coturn: Coturn | None) -> list[CaseRun | BaseException]:
    """Every case concurrently in one event loop; a failing case does not stop the others."""
    return await asyncio.gather(
        *(run_case(c, browser, time_scale=time_scale, seed=seed, coturn=coturn) for c in cases),
        return_exceptions=True,
    )
