"""Relay candidates: a TURN Allocate per (network, TURN server) over UDP (on the shared socket),
TCP or TLS, with the browser's auth dance and error texts (p2p/base/turn_port.cc).

Messages and the long-term-credential key come from aioice.stun / aioice.turn; the
transaction timing is the browser's (StunTransaction)."""

from __future__ import annotations

import functools
import os
import ssl
import struct
from typing import TYPE_CHECKING

from aioice import stun
from aioice.turn import UDP_TRANSPORT, make_integrity_key

from ..clock import Timeline
from ..config import IceServerUrl
from ..net import ResolveError, TcpStream
from ..stun_framing import well_framed
from ..stun_transaction import StunTimeout, StunTransaction
from .ports import UdpPort
from .srflx import server_address

if TYPE_CHECKING:
    from .session import GatherSession

MAX_AUTH_ROUNDS = 3  # 401 then 438 stale-nonce retries; Chrome gives up after a few [code]


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """Loading the CA store costs milliseconds: once per process (per trust setting)."""
    return ssl.create_default_context()


class TcpStunChannel:
    """STUN framed on a TCP/TLS stream (RFC 5389 s7.2.2: messages back to back)."""

    def __init__(self, stream: TcpStream) -> None:
        self.stream = stream
        self.transactions: dict[bytes, StunTransaction] = {}
        self.closed = False
        self._buf = b""
        stream.set_receiver(self._on_data, self._on_closed)

    def _on_data(self, data: bytes) -> None:
        self._buf += data
        while len(self._buf) >= 20:
            (length,) = struct.unpack("!H", self._buf[2:4])
            if len(self._buf) < 20 + length:
                return
            frame, self._buf = self._buf[: 20 + length], self._buf[20 + length:]
            txn = self.transactions.get(frame[8:20])
            if txn is None or not well_framed(frame):
                continue
            try:
                txn.response_received(stun.parse_message(frame))
            except Exception:
                continue

    def _on_closed(self, exc: Exception | None) -> None:
        self.closed = True
        for txn in list(self.transactions.values()):
            txn.abort(ConnectionResetError("TURN server closed the connection"))

    def send(self, data: bytes) -> None:
        self.stream.write(data)


async def gather_relay(
    session: "GatherSession", port: UdpPort, server: IceServerUrl, relay_pref: int, tl: Timeline
) -> str:
    """Returns relay (UDP) | relay_stream (TCP/TLS) | skipped | turn_error: the kind sets how
    soon "complete" follows."""
    d = session.dialect
    local_port = port.port

    addr: tuple[str, int] | None = None

    def fail(t: float, kind: str, code: int | None = None, sock_port: int | None = None) -> str:
        resolved = addr[0] if addr else None
        event = d.turn_error(
            t, port.plan, local_port if sock_port is None else sock_port, server, kind, code, resolved=resolved,
        )
        if d.error_held_until_complete(server, resolved):
            session.held_errors.append(event)
        else:
            session.emit(event)
        return "turn_error"

    literal = server.host_literal
    if literal is not None and literal.version != port.plan.family:
        return "skipped"  # basic_port_allocator.cc CreateRelayPorts: families not compatible
    if not d.turn_port_allowed(server.port):
        return fail(tl.now(), "disallowed_port")
    try:
        addr = await server_address(session, port, server, tl)
    except ResolveError:
        return fail(tl.now(), "dns")
    if addr is None:
        return "skipped"
    await tl.sleep(session.jitter(d.timers.turn_setup_ms))

    channel: TcpStunChannel | None = None
    if server.relay_protocol == "udp":
        send, table = port.send_to(addr), port.transactions
    else:
        # turns: verifies the certificate, like Chrome's default TLS_CERT_POLICY_SECURE.
        ctx = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if server.relay_protocol == "tls" else None
        try:
            stream = await session.net.connect_tcp(addr, ctx, server.host)
        except (OSError, ssl.SSLError):
            return fail(tl.now(), "connect_failed", sock_port=0)
        session.streams.append(stream)
        channel = TcpStunChannel(stream)
        send, table = channel.send, channel.transactions
        local_port = stream.local_address[1]

    attrs = {"REQUESTED-TRANSPORT": UDP_TRANSPORT}
    key: bytes | None = None
    nonce: bytes | None = None
    realm: str | None = None
    username, password = server.username or "", server.credential or ""
    for _ in range(MAX_AUTH_ROUNDS):
        if channel is not None and channel.closed:
            return fail(tl.now(), "connect_failed")
        request = stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST, attributes=dict(attrs))
        if key is not None:
            request.attributes.update({"USERNAME": username, "REALM": realm, "NONCE": nonce})
            request.add_message_integrity(key)
        txn = StunTransaction(
            request, send, session.schedule(), tl, reliable=channel is not None,
            server=None if channel is not None else addr,
        )
        table[txn.transaction_id] = txn
        try:
            result = await txn.run()
        except StunTimeout as exc:
            return fail(exc.t, "timeout")
        except ConnectionError:
            # Closed before the allocation was ready (p2p/base/turn_port.cc OnSocketClose).
            return fail(tl.now(), "connect_failed")
        finally:
            table.pop(txn.transaction_id, None)
        msg = result.message
        if msg.message_class == stun.Class.RESPONSE:
            relayed = msg.attributes.get("XOR-RELAYED-ADDRESS")
            if relayed is None:
                return fail(result.t, "other", 600)
            mapped = msg.attributes.get("XOR-MAPPED-ADDRESS") or relayed
            session.allocations.append((send, request, key, username, realm, nonce))
            cand = d.relay_candidate(
                session.ident, port.plan, relayed, mapped, server, relay_pref, session.mid, session.mline
            )
            session.emit_candidate(result.t, cand)
            return "relay" if channel is None else "relay_stream"
        code = msg.error_code
        if code in (401, 438) and "NONCE" in msg.attributes and not (code == 401 and key is not None):
            # The long-term-credential challenge (401) or a stale nonce (438): retry signed.
            nonce = msg.attributes["NONCE"]
            realm = msg.attributes.get("REALM", realm)
            if realm is None:
                break
            key = make_integrity_key(username, realm, password)
            continue
        if code == 401:
            return fail(result.t, "unauthorized")
        if code == 437:
            return fail(result.t, "mismatch")
        return fail(result.t, "other", code or 600)
    return fail(tl.now(), "unauthorized")


def release_allocation(send, request: stun.Message, key, username, realm, nonce) -> None:
    """Best effort Refresh(lifetime 0) so a server is not left holding allocations
    (datasets make thousands). Fire and forget: the gather is already over."""
    refresh = stun.Message(stun.Method.REFRESH, stun.Class.REQUEST, attributes={"LIFETIME": 0})
    if key is not None:
        refresh.attributes.update({"USERNAME": username, "REALM": realm, "NONCE": nonce})
        refresh.add_message_integrity(key)
    try:
        send(bytes(refresh))
    except Exception:
        pass
