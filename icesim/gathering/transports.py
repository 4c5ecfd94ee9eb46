"""All of a connection's ICE transports, gathered together: one candidate set per transport
(its own sockets, ports and sdpMid/sdpMLineIndex; ufrag, tiebreaker and mDNS names shared),
a transport that took a pooled session first, then "gathering", and "complete" once every
transport is done (pc/jsep_transport_controller.cc; captures M1-M6, Q1-Q2)."""

from __future__ import annotations

import asyncio
import dataclasses

import structlog

from ..clock import Timeline
from ..config import GatherConfig
from ..dialects.base import GatherPolicy, TransportPlan
from ..events import GatheringStateChange
from .sequence import NetworkSequence, cancel_all
from .session import GatherSession

log = structlog.get_logger(__name__)


async def run_transports(
    root: GatherSession, config: GatherConfig, interfaces, main: Timeline,
    transports: list[TransportPlan], policy: GatherPolicy, refused: set, t_gathering: float,
) -> None:
    d = root.dialect
    plans = d.plan_networks(interfaces, policy.enumerate)
    d.prepare(root.ident, plans, config.servers, policy)  # refused servers still count (Firefox foundations)
    servers = [s for s in config.servers if s not in refused]
    # disable_non_proxied_udp: no STUN and no TURN/UDP port; TURN over TCP/TLS remains (P3).
    stun_servers = d.stun_servers(servers) if policy.udp else []
    turn_servers = [s for s in servers if s.is_turn]
    turns = [
        (s, pref) for s, pref in zip(turn_servers, d.relay_preferences(len(turn_servers)))
        if policy.udp or s.relay_protocol != "udp"
    ]
    # Nothing to gather (Firefox relay only, no TURN): no STUN transaction, no "gathering".
    announce_gathering = not d.skips_gathering_state(policy, turns)
    if not announce_gathering:
        stun_servers = []
    t_sld = t_gathering  # setLocalDescription: the browser starts (or takes) its transports
    views: list[GatherSession] = []
    runs: list[asyncio.Future] = []
    seq_dones: list[float] = [t_sld]

    def start(transport: TransportPlan, t_start: float) -> None:
        view = root.for_transport(transport.mid, transport.mline, transport.pooled, t_sld)
        view.started_t = t_start
        # No UDP port at all: the sequences end sooner (P3s +99.4, R_policy_no_udp +111).
        seq_done = t_start + root.jitter(d.timers.sequences_done_ms if policy.udp else d.timers.sequences_done_no_udp_ms)
        seq_dones.append(seq_done)
        sequences = [
            NetworkSequence(view, i, plan, root.emitter.timeline(t_start), stun_servers, turns, seq_done)
            for i, plan in enumerate(plans)
        ]
        views.append(view)
        # Holds the stream until this transport's own end events are out (see _transport_done).
        hold = root.emitter.timeline(t_start)
        runs.append(asyncio.ensure_future(_transport_done(view, sequences, seq_done, hold)))

    pooled = [t for t in transports if t.pooled]
    fresh = [t for t in transports if not t.pooled]
    try:
        # The pool started gathering when the page constructed the connection, before createOffer.
        for transport in pooled:
            start(transport, -config.pool_lead_ms)
        t_state = t_sld
        if pooled:
            await _reach(main, root, t_sld)
            for view in views:
                count = len(view.pool_held or [])
                t_state = max(t_state, view.flush_pool(t_sld, [root.jitter(d.timers.pooled_gap_ms) for _ in range(count)]))
            t_state += root.jitter(d.timers.pooled_gap_ms)
        if announce_gathering:
            root.emit(GatheringStateChange(t=t_state, state="gathering"))
        # Transports start one after another, each a little later (M1, M5: mid 1 and 2 follow mid 0).
        t_start = t_state
        for transport in fresh:
            start(transport, t_start)
            t_start += root.jitter(d.timers.transport_gap_ms)
        await main.sleep_until(max(seq_dones))
        main.close()  # parked: the remaining events are computed, not waited for
        completes = await asyncio.gather(*runs)
    finally:
        cancel_all(runs)  # the page went away early: no task may outlive the gather
    t_complete = max([t_state + root.jitter(d.timers.complete_after_relay_ms), *completes])
    for event in root.held_errors:
        held_t = max(event.t, t_complete - root.jitter(d.timers.held_error_before_complete_ms))
        root.emit(dataclasses.replace(event, t=held_t))
    # The connection's end (Chrome: complete then null; Firefox: complete, null after each
    # m-line's "" marker; Safari: null, complete).
    first = transports[0] if transports else TransportPlan("0", 0)
    for event in d.completion_events(root.ident, t_complete, root.jitter, first.mid, first.mline):
        root.emit(event)
    log.info("gather.complete", t=round(t_complete, 1), transports=len(transports), networks=len(plans))


async def _reach(main: Timeline, root: GatherSession, t: float) -> None:
    """Wait until every timeline has passed browser time `t` (the pooled sessions, started
    earlier, run on their own): only then is everything the pool found before `t` known."""
    await main.sleep_until(t)
    while root.emitter.horizon() < t:  # the pool's timelines advance with real time
        await asyncio.sleep(0.002)


async def _transport_done(view: GatherSession, sequences: list[NetworkSequence], seq_done: float, hold: Timeline) -> float:
    """Run one transport's network sequences; return when it completes (browser time), after
    signalling its own end (Dialect.transport_done_events) while `hold` keeps the stream from
    running past it."""
    d = view.dialect
    tasks = [asyncio.ensure_future(seq.run()) for seq in sequences]
    with hold:
        try:
            ends = [end for result in await asyncio.gather(*tasks) for end in result]
        finally:
            cancel_all(tasks)
        t_complete = max(seq_done, view.pool_floor)
        for t_end, kind in ends:
            t_complete = max(t_complete, t_end + view.jitter(_complete_after(d.timers, kind)))
        # Never behind what the stream has released already (the other transports run on).
        t_marker = max(t_complete, hold.now())
        events = d.transport_done_events(view.ident, t_marker, view.mid, view.mline)
        for event in events:
            view.emit(event)
        if events:
            t_complete = t_marker
    return t_complete


def _complete_after(timers, kind: str) -> tuple[float, float]:
    """How long after a port's last step "complete" follows, by what that step was."""
    return {
        "relay": timers.complete_after_relay_ms,
        "turn_error": timers.complete_after_turn_error_ms,
        "tcp": timers.complete_after_tcp_ms,
    }.get(kind, timers.complete_after_port_ms)
