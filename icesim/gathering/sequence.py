"""One network's allocation sequence (libwebrtc's AllocationSequence): bind the UDP socket,
host candidate, srflx per STUN server at once, TURN at the relay phase, TCP active
candidates at the end. Each step runs on its own browser timeline."""

from __future__ import annotations

import asyncio
import errno
import functools
from typing import Any, Awaitable, Callable, Iterable

import structlog

from ..clock import Timeline
from ..config import IceServerUrl
from ..dialects.base import NetworkPlan
from .ports import UdpPort
from .relay import gather_relay
from .session import GatherSession
from .srflx import gather_srflx

log = structlog.get_logger(__name__)


# A machine without that IP family: the browser simply has no such socket.
_NO_FAMILY = {errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT}


def cancel_all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    for task in tasks:
        if not task.done():
            task.cancel()


class NetworkSequence:
    def __init__(
        self, session: GatherSession, index: int, plan: NetworkPlan, tl: Timeline,
        stun_servers: list[IceServerUrl], turns: list[tuple[IceServerUrl, int]], seq_done: float,
    ) -> None:
        self.session = session
        self.dialect = session.dialect
        self.index = index
        self.plan = plan
        self.tl = tl
        self.stun_servers = stun_servers
        self.turns = turns
        self.seq_done = seq_done
        self.start = tl.now()
        self.tasks: list[asyncio.Future] = []
        self.ends: list[tuple[float, str]] = []  # (browser time, kind) of each port's end

    async def run(self) -> list[tuple[float, str]]:
        host_passed = tcp_passed = False
        try:
            port = await self._bind()
            if port is None:
                return []
            self.tasks += [self._spawn(functools.partial(gather_srflx, self.session, port, s)) for s in self.stun_servers]
            await self._host(port)
            self.session.hosts.passed(self.tl.now())
            host_passed = True
            if self.turns:
                await self.tl.sleep_until(self.start + self.dialect.timers.relay_phase_ms)
                self.tasks += [
                    self._spawn(functools.partial(gather_relay, self.session, port, s, p)) for s, p in self.turns
                ]
            await self._tcp_active()
            self.session.tcp_hosts.passed(self.tl.now())
            tcp_passed = True
            self.tl.close()
            await asyncio.gather(*self.tasks)
            return self.ends
        finally:
            # A sequence that ends early (no socket of its family, cancelled) releases the barriers.
            if not host_passed:
                self.session.hosts.passed(None)
            if not tcp_passed:
                self.session.tcp_hosts.passed(None)
            self.tl.close()
            cancel_all(self.tasks)  # cancelled early (page timeout, consumer gone): stop every step

    def _spawn(self, step: Callable[[Timeline], Awaitable[str]]) -> asyncio.Future:
        async def run_step(child: Timeline) -> None:
            with child:
                kind = await step(child)
                if kind == "skipped":
                    return
                t_end = child.now()
                if kind == "relay":  # the UDP TURN port settles after its candidate (ChromeTimers)
                    t_end += self.session.jitter(self.dialect.timers.relay_settle_ms)
                    self.session.relays_settled_t = max(self.session.relays_settled_t, t_end)
                self.ends.append((t_end, kind))

        return asyncio.ensure_future(run_step(self.tl.fork()))

    async def _bind(self) -> UdpPort | None:
        plan, net = self.plan, self.session.net
        try:
            sock = await net.bind_udp(plan.bind_address, 0)
        except OSError as exc:
            if plan.any_address and exc.errno in _NO_FAMILY:
                log.info("gather.family_unavailable", network=plan.key, error=str(exc))
                return None
            if plan.any_address or exc.errno != errno.EADDRNOTAVAIL:
                raise  # e.g. EMFILE: never swallowed (a silently missing socket skews datasets)
            # A configured interface this machine does not have: keep its socket on the any
            # address so the gather still runs, and report the configured address.
            log.info("gather.virtual_interface", network=plan.key)
            sock = await net.bind_udp("0.0.0.0" if plan.family == 4 else "::", 0)
        port = UdpPort(plan, sock)
        self.session.ports.append(port)
        return port

    async def _host(self, port: UdpPort) -> None:
        s, plan = self.session, self.plan
        host = self.dialect.host_candidate(s.ident, plan, port.port, s.mdns, s.mid, s.mline)
        if host is not None:
            if s.mdns and plan.any_address:
                # The mDNS name registration delays the host candidate (captures: srflx may precede
                # it); registrations are served in order, the IPv6 one ~1 ms after the IPv4 one (S1-S8).
                await self.tl.sleep(s.mdns_delay + self.index * s.jitter((0.3, 1.5)))
                if self.index and s.lookup_done_t:
                    timers = self.dialect.timers
                    await self.tl.sleep_until(max(s.lookup_done_t.values()) + s.jitter(timers.host_after_lookup_ms))
            s.emit_candidate(self.tl.now(), host)
            self.ends.append((self.tl.now(), "host"))
        port.host_t = self.tl.now()
        port.host_done.set()

    async def _tcp_active(self) -> None:
        s = self.session
        tcp = self.dialect.tcp_active_candidate(s.ident, self.plan, s.mdns, s.mid, s.mline)
        if tcp is not None:
            # TCP active candidates close each sequence, in network order, and only once every
            # UDP TURN port that has allocated has settled (capture B2: both networks' TCP
            # candidates right after the relay's settle time, though only IPv4 had a relay).
            gap = self.index * s.jitter(self.dialect.timers.tcp_gap_ms)
            # ...and never before every network's host candidate, however late a socket's
            # bind or mDNS name (Firefox: all UDP hosts, then all TCP hosts; F1, F3d, F8c).
            last_host = await s.hosts.wait()
            await self.tl.sleep_until(max(self.seq_done, last_host) + gap)
            await self.tl.sleep_until(max(self.seq_done, s.relays_settled_t) + gap)
            s.emit_candidate(self.tl.now(), tcp)
            self.ends.append((self.tl.now(), "tcp"))
