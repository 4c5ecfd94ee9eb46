"""Server-reflexive candidates: one STUN binding per (socket, STUN server), errors as the browser
reports them (p2p/base/stun_port.cc)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aioice import stun

from ..clock import Timeline
from ..config import IceServerUrl
from ..net import ResolveError
from ..stun_transaction import StunTimeout, StunTransaction
from .ports import UdpPort

if TYPE_CHECKING:
    from .session import GatherSession


async def server_address(
    session: "GatherSession", port: UdpPort, server: IceServerUrl, tl: Timeline
) -> tuple[str, int] | None:
    """The server's address for this socket's family; None = skip silently (an IP literal of
    the other family: captures README "An IPv6 socket skips an IPv4-literal server").
    Raises ResolveError when a name has no address of the family, after the browser's
    lookup delay and never before the socket's host candidate (capture E)."""
    literal = server.host_literal
    if literal is not None:
        return (str(literal), server.port) if literal.version == port.plan.family else None
    timers = session.dialect.timers
    # One lookup per name per gather, done at one browser time for every socket that asks
    # (capture E: both families' host-lookup 701s follow the same lookup) ...
    name = server.host.lower()
    if name not in session.lookup_done_t:
        session.lookup_done_t[name] = tl.now() + session.jitter(timers.dns_lookup_ms)
    done_t = session.lookup_done_t[name]
    failure: ResolveError | None = None
    try:
        try:
            addrs = await session.resolver.resolve(server.host, port.plan.family)
        except ResolveError as exc:
            failure = exc
        await tl.sleep_until(done_t)
        # ... and delivered to a socket only after its host candidate (captures E, F).
        await port.host_done.wait()
        tl.advance_to(port.host_t + session.jitter(timers.dns_error_after_host_ms))
    finally:  # whatever happens, a later socket's host waiting on this result is released
        if port.lookup_delivered is not None and not port.lookup_delivered.done():
            port.lookup_delivered.set_result(tl.now())
    if failure is not None:
        raise failure
    return (addrs[0], server.port)


async def after_tcp_hosts(session: "GatherSession", tl: Timeline) -> None:
    """Firefox creates every host candidate, UDP then TCP, before its first STUN or TURN
    transaction starts (nr_ice_component_initialize runs synchronously; the transactions run
    on timers): no srflx, relay or server error comes before the last TCP host candidate
    (captures F3d, F8c, tests/data/firefox; the conformance suite saw it every run)."""
    if session.dialect.timers.transactions_after_tcp_hosts:
        last_tcp = max([await asyncio.shield(step) for step in list(session.tcp_steps)], default=0.0)
        tl.advance_to(max(tl.now(), last_tcp))


async def gather_srflx(session: "GatherSession", port: UdpPort, server: IceServerUrl, tl: Timeline) -> str:
    """Returns how the port ended for this server: ok | skipped | stun_error | error."""
    await after_tcp_hosts(session, tl)
    try:
        addr = await server_address(session, port, server, tl)
    except ResolveError:
        session.emit(session.dialect.stun_error(tl.now(), port.plan, port.port, server, "dns"))
        return "stun_error"
    if addr is None:
        return "skipped"
    await session.paced_start(tl, session.dialect.start_offset_ms(session.ident, port.plan, server))
    outcome = await _binding(session, port, server, addr, tl)
    keepalive = session.dialect.timers.stun_keepalive_ms is not None
    if outcome == "error_response" and keepalive and session.listen_until is not None:
        # Chrome re-sends the binding every 10 s after an error response and fires the error
        # again each time, after "complete" too (captures S2_stun420, S2_stunnoattr).
        session.background.append(asyncio.ensure_future(_keepalive(session, port, server, addr, tl.fork())))
    return "stun_error" if outcome == "error_response" else outcome


async def _keepalive(session: "GatherSession", port: UdpPort, server: IceServerUrl, addr, tl: Timeline) -> None:
    with tl:
        assert session.listen_until is not None
        while True:
            await tl.sleep(session.jitter(session.dialect.timers.stun_keepalive_ms))
            if tl.now() > session.listen_until or await _binding(session, port, server, addr, tl) != "error_response":
                return


async def _binding(session: "GatherSession", port: UdpPort, server: IceServerUrl, addr, tl: Timeline) -> str:
    """One Binding transaction and its event: ok | error_response | stun_error | error."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    txn = StunTransaction(request, port.send_to(addr, session.dialect), session.schedule(), tl, server=addr)
    port.transactions[txn.transaction_id] = txn
    try:
        result = await txn.run()
    except StunTimeout as exc:
        session.emit(session.dialect.stun_error(exc.t, port.plan, port.port, server, "timeout"))
        return "stun_error"
    finally:
        port.transactions.pop(txn.transaction_id, None)
    message = result.message
    if message.message_class == stun.Class.ERROR:
        code, reason = message.attributes.get("ERROR-CODE", (None, None))
        event = session.dialect.stun_error(result.t, port.plan, port.port, server, "response", code, reason)
        if event is not None:
            session.emit(event)
        return "error_response"
    mapped = message.attributes.get("XOR-MAPPED-ADDRESS") or message.attributes.get("MAPPED-ADDRESS")
    if mapped is None:
        return "error"  # a success without an address: libwebrtc ignores it
    emit_srflx(session, port, (mapped[0], mapped[1]), server, result.t)
    return "ok"


def emit_srflx(session: "GatherSession", port: UdpPort, mapped: tuple[str, int], server: IceServerUrl, t: float) -> None:
    """One srflx per mapped address per socket; one equal to the socket's own address is
    dropped unless the dialect signals it (p2p/base/stun_port.cc OnStunBindingRequestSucceeded:
    an any-address socket never matches; Firefox keeps it while obfuscating hosts, capture
    tests/data/firefox/stun_name, and prunes it otherwise, nomdns_stun)."""
    if mapped in port.mapped_seen:
        return
    plan = port.plan
    # The socket's base: its bound address, or the interface address it stands for (a
    # configured interface this machine lacks is bound on the any address, sequence._bind).
    base = port.sock.local_address if plan.any_address else (str(plan.host_address), port.port)
    if mapped == tuple(base) and not session.dialect.srflx_equal_to_host_emitted(session.mdns):
        return
    port.mapped_seen.add(mapped)
    cand = session.dialect.srflx_candidate(
        session.ident, port.plan, port.port, mapped, server, session.mdns, session.mid, session.mline
    )
    session.emit_candidate(t, cand)
