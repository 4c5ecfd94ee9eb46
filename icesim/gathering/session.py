"""Per-gather state shared by the gathering steps: identity, sockets, emitter, resolver."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..clock import OrderedEmitter
from ..dialects.base import Dialect, GatherIdentity, RetransmitSchedule
from ..events import CandidateEvent, IceCandidate
from ..net import GatherResolver, Net, TcpStream
from .ports import UdpPort


class StepBarrier:
    """Set once every network's sequence has passed a step; `t` = the latest time it did."""

    def __init__(self) -> None:
        self.pending = 0
        self.t = 0.0
        self.done = asyncio.Event()

    def expect(self, count: int) -> None:
        self.pending = count
        if count <= 0:
            self.done.set()

    def passed(self, t: float | None) -> None:
        """One sequence passed the step (t None: it never reached it, e.g. no socket)."""
        if t is not None:
            self.t = max(self.t, t)
        self.pending -= 1
        if self.pending <= 0:
            self.done.set()

    async def wait(self) -> float:
        await self.done.wait()
        return self.t


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
    # Browser time of "gathering": transaction start offsets count from it (start_offset_ms).
    started_t: float = 0.0
    # Errors the browser delivers only together with "complete" (see ChromeTimers).
    held_errors: list[Any] = field(default_factory=list)
    # Barriers across the networks' sequences: every host candidate emitted (TCP active
    # candidates never come before one), every TCP active step done (Firefox starts its STUN
    # and TURN transactions only then). Each holds the latest browser time of its step.
    hosts: "StepBarrier" = field(default_factory=lambda: StepBarrier())
    tcp_hosts: "StepBarrier" = field(default_factory=lambda: StepBarrier())

    _schedule: RetransmitSchedule | None = None

    def schedule(self) -> RetransmitSchedule:
        """One schedule per gather: the browser's timers share one thread, so their slack is
        alike across its transactions (STUN and TURN 701s keep their ~50-60 ms spacing)."""
        if self._schedule is None:
            self._schedule = self.dialect.retransmit_schedule(self.timing_rng)
        return self._schedule

    def jitter(self, bounds: tuple[float, float]) -> float:
        return self.timing_rng.uniform(*bounds)

    def emit(self, event: Any) -> None:
        self.emitter.push(event.t, event)

    def emit_candidate(self, t: float, cand: IceCandidate) -> None:
        self.emitter.push(t, CandidateEvent(t=t, candidate=cand))
