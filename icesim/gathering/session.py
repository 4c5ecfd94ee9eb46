"""Per-gather state shared by the gathering steps: identity, sockets, emitter, resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..clock import OrderedEmitter
from ..dialects.base import Dialect, GatherIdentity, RetransmitSchedule
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
    # Browser time of "gathering": transaction start offsets count from it (start_offset_ms).
    started_t: float = 0.0
    # Errors the browser delivers only together with "complete" (see ChromeTimers).
    held_errors: list[Any] = field(default_factory=list)

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
