"""The gathering engine: the one place that does I/O. It asks the dialect what a browser would do,
runs it on real sockets through the Net seam, and yields the page's event stream in order.

Per network (pion/ice gather.go style): bind the UDP socket -> host candidate; srflx per STUN
server; at the relay phase a TURN allocation per server; at the TCP phase TCP active host
candidates (enumerated networks). "complete" when every port is done and the allocation
sequences have run out of phases (p2p/client/basic_port_allocator.cc).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import AsyncGenerator

import structlog

from ..addresses import uri_host
from ..clock import OrderedEmitter, Timeline
from ..config import ConfigError, GatherConfig, IceServerUrl
from ..dialects import get_dialect
from ..events import CandidateEvent, Event, GatherMeta, IceCandidate, LocalDescription
from ..interfaces import machine_interfaces
from ..net import FaultyNet, GatherResolver, Net, RealNet
from .relay import release_allocation
from .sequence import cancel_all
from .session import GatherSession
from .transports import run_transports

log = structlog.get_logger(__name__)


async def gather(config: GatherConfig, net: Net | None = None) -> AsyncGenerator[Event, None]:
    """Gather like a browser page would and yield its events: a `meta` line first, then
    icegatheringstatechange / icecandidate / icecandidateerror in browser-time order.

    `net` is the network seam (default: the machine's sockets, wrapped with the config's
    faults). The stream ends after the null candidate, or at the page's timeout.
    """
    config.validate()
    dialect = get_dialect(config.browser)
    # Identity (ufrag, tiebreaker, mDNS names) and timer jitter draw from separate streams so
    # a seed reproduces the identity whatever order the tasks run in. Unseeded timing uses the
    # module's shared RNG (same methods): a Random object is 2.5 KiB per live gather.
    ident = dialect.new_identity(random.Random(config.seed))
    timing_rng = random.Random(config.seed + 1) if config.seed is not None else random
    base_net: Net = net or RealNet()
    if config.faults.active:
        base_net = FaultyNet(base_net, config.faults, random.Random(None if config.seed is None else config.seed + 2))
    emitter = OrderedEmitter(config.time_scale)
    policy = dialect.gather_policy(config.ip_policy, config.permission, config.mdns, config.ice_transport_policy)
    if config.sdp and not dialect.renders_sdp:
        raise ConfigError("--sdp", config.browser, "the local description is not modelled for this browser yet")
    if config.sdp and (why := dialect.sdp_unsupported(config.media)):
        raise ConfigError("--sdp", ",".join(config.media), why)  # before any output: nothing half-written
    session = GatherSession(
        dialect=dialect, ident=ident, emitter=emitter, net=base_net, resolver=GatherResolver(base_net),
        timing_rng=timing_rng, mdns=policy.mdns, policy=policy,
        mdns_delay=timing_rng.uniform(*dialect.timers.mdns_register_ms), listen_until=config.timeout_ms,
    )
    sections = dialect.media_sections(config.media, config.bundle_policy)
    transports = dialect.transports(sections, config.pool_size)
    interfaces = list(config.interfaces) if config.interfaces is not None else list(machine_interfaces())
    yield GatherMeta(
        browser=f"{dialect.name}@{dialect.version}", time_scale=config.time_scale, seed=config.seed,
        servers=tuple(_url_text(s) for s in config.servers),
    )

    log.info("gather.start", browser=config.browser, servers=len(config.servers),
             interfaces=len(interfaces), permission=config.permission, time_scale=config.time_scale,
             policy=config.ip_policy, transports=len(transports), pooled=sum(t.pooled for t in transports))
    main = emitter.timeline(0.0)
    t_gathering = session.jitter(dialect.timers.gathering_after_ms)
    main.advance_to(t_gathering)
    signalled: dict[str, list[IceCandidate]] = {}
    # Servers the browser refuses outright (Firefox: loopback; Safari: .local, blocked ports):
    # their error comes first, before "gathering" (capture tests/data/firefox/stun_loopback).
    refused = set()
    for server in config.servers:
        error = dialect.refused_server_error(server, t_gathering, timing_rng)
        if error is not None:
            refused.add(server)
            session.emit(error)
    timeout_ms = config.timeout_ms
    runner = asyncio.ensure_future(run_transports(session, config, interfaces, main, transports, policy, refused, t_gathering))
    runner.add_done_callback(lambda _: emitter.poke())
    # The page's deadline is a timeline of its own: nothing past it is released before it fires.
    deadline = deadline_task = None
    if timeout_ms is not None:
        deadline = emitter.timeline(0.0)
        deadline_task = asyncio.ensure_future(_expire(deadline, timeout_ms))

    async def page_events() -> AsyncGenerator[Event, None]:
        """The events the page hears, until the null candidate or its timeout."""
        while True:
            for event in emitter.ready():
                if timeout_ms is not None and event.t > timeout_ms:
                    log.info("gather.page_timeout", timeout_ms=timeout_ms)
                    return
                yield event
            if runner.done() and (runner.cancelled() or runner.exception()):
                runner.result()  # an engine failure (e.g. out of file descriptors) surfaces at once
            if runner.done() and emitter.pending == 0 and not _alive(session.background):
                return
            if (timeout_ms is not None and deadline_task is not None and deadline_task.done()
                    and emitter.horizon() >= timeout_ms and (runner.done() or emitter.live)):
                # Every event up to the page's timeout has been released: the page stops listening.
                # (With every timeline parked the horizon is infinite while the engine may still
                # be computing "complete": that is not the deadline passing.)
                log.info("gather.page_timeout", timeout_ms=timeout_ms)
                return
            if runner.done() and deadline is not None:
                deadline.close()
            await emitter.wait()

    last_t = 0.0
    try:
        async for event in page_events():
            if isinstance(event, CandidateEvent) and event.candidate is not None:
                signalled.setdefault(event.candidate.sdpMid or "", []).append(event.candidate)
            last_t = event.t
            yield event
        if config.sdp:
            # What pc.localDescription.sdp holds when the page reads it after the last event.
            yield LocalDescription(t=last_t, sdp=dialect.local_description(ident, sections, signalled))
    finally:
        cancel_all(session.background)
        for task in (runner, deadline_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        _cleanup(session)


def _alive(tasks) -> bool:
    return any(not t.done() for t in tasks)


async def _expire(deadline: Timeline, timeout_ms: float) -> None:
    await deadline.sleep_until(timeout_ms)
    deadline.close()


def _url_text(s: IceServerUrl) -> str:
    host = uri_host(s.host)
    query = f"?transport={s.transport}" if s.transport else ""
    return f"{s.scheme}:{host}:{s.port}{query}"


def _cleanup(session: GatherSession) -> None:
    for alloc in session.allocations:
        release_allocation(*alloc)
    for port in session.ports:
        port.close()
    for stream in session.streams:
        stream.close()
    session.resolver.close()
