"""Per-gather state shared by the gathering steps: identity, sockets, emitter, resolver."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..clock import OrderedEmitter
from ..dialects.base import Dialect, GatherIdentity, GatherPolicy, RetransmitSchedule
from ..events import CandidateEvent, IceCandidate
from ..net import GatherResolver, Net, TcpStream
from .ports import UdpPort


@dataclass(slots=True)
class GatherSession:
    dialect: Dialect
    ident: GatherIdentity
    emitter: OrderedEmitter
    net: Net
    resolver: GatherResolver
    timing_rng: Any  # a random.Random, or the random module's shared one
    mdns: bool
    mid: str = "0"
    mline: int = 0
    mdns_delay: float = 0.0
    ports: list[UdpPort] = field(default_factory=list)
    streams: list[TcpStream] = field(default_factory=list)
    allocations: list[tuple[Any, ...]] = field(default_factory=list)
    # The page's timeout: how long it keeps listening (None: until the null candidate).
    listen_until: float | None = None
    # Work that outlives "complete" (STUN keepalives); cancelled when the stream ends.
    background: list[Any] = field(default_factory=list)
    # When the last allocated UDP TURN port settles (TCP active candidates wait for it).
    relays_settled_t: float = 0.0
    # Browser time each server name's lookup completes (one lookup per name per gather).
    lookup_done_t: dict[str, float] = field(default_factory=dict)
    # Sequence index -> its socket, for the sockets that look up a STUN server name.
    lookup_ports: dict[int, UdpPort] = field(default_factory=dict)
    # Browser time of "gathering": transaction start offsets count from it (start_offset_ms).
    started_t: float = 0.0
    # Each network's "UDP host step over" event, and when the last UDP host came out: TCP
    # active candidates follow every UDP host (NetworkSequence._tcp_active).
    host_steps: list[Any] = field(default_factory=list)
    hosts_out_t: float = 0.0
    # Each network's TCP-candidate-out future (its browser time; 0.0 = none), in order; per
    # transport (for_transport starts a new list).
    tcp_steps: list[Any] = field(default_factory=list)
    # Errors the browser delivers only together with "complete" (see ChromeTimers).
    held_errors: list[Any] = field(default_factory=list)

    # What the allocator signals (policy, permission, iceTransportPolicy); None = everything.
    policy: GatherPolicy | None = None
    # A transport that took a pooled session: it gathered before setLocalDescription (t_sld);
    # until the page's setLocalDescription surfaces it (`flush_pool`) its candidates wait in
    # `pool_held`; errors from before t_sld reach nobody (capture Q1).
    pooled: bool = False
    pool_sld: float | None = None
    pool_held: list[tuple[float, Any]] | None = None
    pool_floor: float = float("-inf")

    _schedule: RetransmitSchedule | None = None

    def for_transport(self, mid: str, mline: int, pooled: bool = False, t_sld: float | None = None) -> "GatherSession":
        """The view one transport gathers through: its own mid, m-line and settle time; the
        sockets, allocations, lookups, held errors and retransmission schedule stay shared
        (the lists are the same objects), so cleanup and timers cover every transport."""
        schedule = self.schedule()
        view = GatherSession.__new__(GatherSession)  # dataclasses.replace, at a fifth of its cost
        for name in _FIELD_NAMES:
            setattr(view, name, getattr(self, name))
        view.mid, view.mline, view.pooled, view.pool_sld = mid, mline, pooled, t_sld if pooled else None
        view.pool_held, view.pool_floor, view.relays_settled_t, view.tcp_steps = [] if pooled else None, float("-inf"), 0.0, []
        view._schedule = schedule
        return view

    def flush_pool(self, t: float, gaps: list[float]) -> float:
        """setLocalDescription took this pooled session: its candidates reach the page at once
        (Q1/Q2: 0.1-0.4 ms apart, right before "gathering"), in the order they were found.
        Returns the time of the last one (or `t`); later events never precede it."""
        held, self.pool_held = sorted(self.pool_held or [], key=lambda item: item[0]), None
        for (t_found, event), gap in zip(held, gaps):
            if isinstance(event, IceCandidate):
                t += gap
                self.emitter.push(t, CandidateEvent(t=t, candidate=event))
        self.pool_floor = t
        for t_found, event in held:
            if not isinstance(event, IceCandidate):
                self.emit(event)
        return t

    def schedule(self) -> RetransmitSchedule:
        """One schedule per gather: the browser's timers share one thread, so their slack is
        alike across its transactions (STUN and TURN 701s keep their ~50-60 ms spacing)."""
        if self._schedule is None:
            self._schedule = self.dialect.retransmit_schedule(self.timing_rng)
        return self._schedule

    async def paced_start(self, tl: Any, offset_ms: float) -> None:
        """A browser that paces its transactions (offset > 0: Firefox) creates every host and
        TCP candidate first and starts transaction k `offset` after they are out (nICEr:
        stun_delay timers), so no server's answer can precede them however loaded the machine;
        Chrome (offset 0) starts each one at once."""
        if offset_ms <= 0:
            return
        for step in list(self.host_steps):
            await step.wait()
        last_tcp = 0.0
        for tcp_t in list(self.tcp_steps):
            last_tcp = max(last_tcp, await tcp_t)
        await tl.sleep_until(max(self.started_t, self.hosts_out_t, last_tcp) + offset_ms)

    def jitter(self, bounds: tuple[float, float]) -> float:
        return self.timing_rng.uniform(*bounds)

    def emit(self, event: Any) -> None:
        if self.pooled and self.pool_sld is not None:
            if event.t < self.pool_sld:
                return  # found by the pool before the page listened: nobody hears it (Q1)
            if self.pool_held is not None:
                self.pool_held.append((event.t, event))
                return
            if event.t < self.pool_floor:
                event = _at(event, self.pool_floor)
        self.emitter.push(event.t, event)

    def emit_candidate(self, t: float, cand: IceCandidate) -> None:
        if self.policy is not None:
            surfaced = self.dialect.surface(cand, self.policy, self.pooled)
            if surfaced is None:
                return  # gathered, not signalled (policy / candidate filter)
            cand = surfaced
        if self.pool_held is not None:
            self.pool_held.append((t, cand))
            return
        t = max(t, self.pool_floor)
        self.emitter.push(t, CandidateEvent(t=t, candidate=cand))


_FIELD_NAMES = tuple(f.name for f in fields(GatherSession))


def _at(event: Any, t: float) -> Any:
    return replace(event, t=t)
