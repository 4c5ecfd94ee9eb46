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
from .flag import Flag
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
        # Set when this network's UDP host step is over (or it has no socket): every
        # network's TCP active candidates wait for all of them (see _tcp_active).
        self.host_step_over = Flag()
        session.host_steps.append(self.host_step_over)
        # The browser time of this network's TCP active candidate (0.0: none), which the next
        # network's follows (see _tcp_active).
        self.prev_tcp = session.tcp_steps[-1] if session.tcp_steps else None
        self.tcp_out: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        session.tcp_steps.append(self.tcp_out)

    async def run(self) -> list[tuple[float, str]]:
        try:
            port = await self._bind()
            if port is None:
                self.host_step_over.set()
                return []
            if any(s.host_literal is None for s in self.stun_servers):
                port.lookup_delivered = asyncio.get_running_loop().create_future()
                self.session.lookup_ports[self.index] = port
            self.tasks += [
                self._spawn(functools.partial(gather_srflx, self.session, port, s))
                for s in self.stun_servers if not self._skips(port, s)
            ]
            await self._host(port)
            if self.turns:
                await self.tl.sleep_until(self.start + self.dialect.timers.relay_phase_ms)
                self.tasks += [
                    self._spawn(functools.partial(gather_relay, self.session, port, s, p)) for s, p in self.turns
                ]
            await self._tcp_active()
            if not self.tcp_out.done():
                self.tcp_out.set_result(0.0)  # the TCP step is over without a candidate (srflx.after_tcp_hosts)
            self.tl.close()
            await asyncio.gather(*self.tasks)
            return self.ends
        finally:
            self.host_step_over.set()  # a failed bind must not keep the other networks waiting
            if not self.tcp_out.done():
                self.tcp_out.set_result(0.0)  # no TCP candidate: the next network need not wait
            self.tl.close()
            cancel_all(self.tasks)  # cancelled early (page timeout, consumer gone): stop every step

    def _skips(self, port: UdpPort, server: IceServerUrl) -> bool:
        """An IP-literal server of the other family, where gather_srflx would return "skipped"
        at once (captures README "An IPv6 socket skips an IPv4-literal server"): known now, so
        no step is spawned for it (a task and a timeline per socket and server, most sessions).
        Firefox's steps wait for the TCP host candidates first, so theirs still run."""
        literal = server.host_literal
        return (literal is not None and literal.version != port.plan.family
                and not self.dialect.timers.transactions_after_tcp_hosts)

    def _spawn(self, step: Callable[[Timeline], Awaitable[str]]) -> asyncio.Future:
        async def run_step(child: Timeline) -> None:
            with child:
                kind = await step(child)
                if kind == "skipped":
                    return
                t_end = child.now()
                policy = self.session.policy
                if kind == "relay_stream" and policy is not None and not policy.udp:
                    # With no UDP at all (disable_non_proxied_udp) a TCP/TLS TURN port settles
                    # like a UDP one: complete ~60 ms after it (captures P3 +59.9, P3g +58.9).
                    kind = "relay"
                    t_end += self.session.jitter(self.dialect.timers.relay_settle_ms)
                elif kind == "relay":  # the UDP TURN port settles after its candidate (ChromeTimers)
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
                # ... and queue behind an earlier socket's name lookup until its result is out
                # (captures E: host6 0.1-2.6 ms after the IPv4 host-lookup 701, never before).
                earlier = [p.lookup_delivered for i, p in s.lookup_ports.items() if i < self.index]
                if earlier:
                    delivered = [await asyncio.shield(f) for f in earlier if f is not None]
                    await self.tl.sleep_until(max(delivered) + s.jitter(self.dialect.timers.host_after_lookup_ms))
            # Host candidates come in network order whatever order the binds finish in (every
            # Firefox capture: interface 126's host, then 127's; Chrome: IPv4, then IPv6).
            for step in s.host_steps[:self.index]:
                await step.wait()
            self.tl.advance_to(s.hosts_out_t)
            s.emit_candidate(self.tl.now(), host)
            self.ends.append((self.tl.now(), "host"))
        port.host_t = self.tl.now()
        s.hosts_out_t = max(s.hosts_out_t, port.host_t)
        port.host_done.set()
        self.host_step_over.set()

    async def _tcp_active(self) -> None:
        s = self.session
        tcp = self.dialect.tcp_active_candidate(s.ident, self.plan, s.mdns, s.mid, s.mline)
        if tcp is not None:
            # TCP active candidates close each sequence, in network order, and only once every
            # UDP TURN port that has allocated has settled (capture B2: both networks' TCP
            # candidates right after the relay's settle time, though only IPv4 had a relay).
            # Every UDP host candidate of the gather comes first (every Firefox capture: udp,
            # udp, tcp, tcp; B1): a slow bind must not let a TCP candidate overtake a host.
            # In network order: a positive gap keeps network 1's TCP after network 0's.
            gap = self.index * max(s.jitter(self.dialect.timers.tcp_gap_ms), 0.01)
            await self.tl.sleep_until(self.seq_done + gap)
            for step in list(s.host_steps):
                await step.wait()
            if self.dialect.timers.tcp_waits_for_relays:
                await self.tl.sleep_until(max(self.seq_done, s.relays_settled_t, s.hosts_out_t) + gap)
            else:  # Firefox: TCP before the relays (F8c, two_turn)
                await self.tl.sleep_until(max(self.seq_done, s.hosts_out_t) + gap)
            if self.prev_tcp is not None:
                # After the previous network's TCP candidate whatever the event loop's latency
                # (under load a late wake-up would otherwise stamp network 0's after network 1's).
                prev_t = await self.prev_tcp
                if prev_t:
                    self.tl.advance_to(prev_t + max(s.jitter(self.dialect.timers.tcp_gap_ms), 0.01))
            s.emit_candidate(self.tl.now(), tcp)
            self.ends.append((self.tl.now(), "tcp"))
            self.tcp_out.set_result(self.tl.now())
