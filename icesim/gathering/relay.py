"""Relay candidates: a TURN Allocate per (network, TURN server) over UDP (on the shared socket),
TCP or TLS, with the browser's auth dance and error texts (p2p/base/turn_port.cc).

Messages and the long-term-credential key come from aioice.stun / aioice.turn; the
transaction timing is the browser's (StunTransaction)."""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
import struct
from typing import TYPE_CHECKING, Callable

from aioice import stun
from aioice.turn import UDP_TRANSPORT, make_integrity_key

from ..clock import Timeline
from ..config import IceServerUrl
from ..net import ResolveError, TcpStream
from ..stun_framing import iter_attributes, well_framed
from ..stun_transaction import StunTimeout, StunTransaction
from .ports import UdpPort
from .srflx import after_tcp_hosts, emit_srflx, server_address

if TYPE_CHECKING:
    from .session import GatherSession

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
                message = stun.parse_message(frame)
            except Exception:
                continue
            setattr(message, "raw", frame)  # for attributes aioice does not decode (ALTERNATE-SERVER)
            txn.response_received(message)

    def _on_closed(self, exc: Exception | None) -> None:
        self.closed = True
        for txn in list(self.transactions.values()):
            txn.abort(ConnectionResetError("TURN server closed the connection"))

    def send(self, data: bytes) -> None:
        self.stream.write(data)


ATTR_ALTERNATE_SERVER = 0x8023  # RFC 5389; aioice does not decode it


def alternate_server(message: stun.Message) -> tuple[str, int] | None:
    raw = getattr(message, "raw", None)
    if raw is None:
        return None
    try:
        for attr_type, length, pos, _ in iter_attributes(raw):
            if attr_type == ATTR_ALTERNATE_SERVER:
                host, port = stun.unpack_address(raw[pos : pos + length])
                return host, port
    except Exception:
        return None
    return None


class Rejected(Exception):
    """The allocation ended in an error event of this kind (and code)."""

    def __init__(self, t: float, kind: str, code: int | None = None, reason: str | None = None) -> None:
        self.t, self.kind, self.code, self.reason = t, kind, code, reason


class TurnAllocation:
    """One TURN port: connect (TCP/TLS), Allocate with the long-term-credential dance,
    follow a 300 redirect, start over on a fresh socket after 437 (p2p/base/turn_port.cc)."""

    def __init__(self, session: "GatherSession", port: UdpPort, server: IceServerUrl, relay_pref: int, tl: Timeline):
        self.session, self.dialect = session, session.dialect
        self.port, self.server, self.relay_pref, self.tl = port, server, relay_pref, tl
        self.addr: tuple[str, int] | None = None
        self.local_port = port.port
        self.udp = port  # the socket UDP allocations go out on (a fresh one after 437)
        self.channel: TcpStunChannel | None = None
        self.realm: str | None = None
        self.nonce: bytes | None = None
        self.key: bytes | None = None

    async def run(self) -> str:
        """relay (UDP) | relay_stream (TCP/TLS) | skipped | turn_error: the kind sets how soon
        "complete" follows."""
        await after_tcp_hosts(self.session, self.tl)
        literal = self.server.host_literal
        if literal is not None and literal.version != self.port.plan.family:
            return "skipped"  # basic_port_allocator.cc CreateRelayPorts: families not compatible
        if not self.dialect.turn_port_allowed(self.server.port):
            return "skipped"  # TurnPort::Create refuses the port: no port, no event (capture S1)
        try:
            self.addr = await server_address(self.session, self.port, self.server, self.tl)
            if self.addr is None:
                return "skipped"
            await self.tl.sleep(self.session.jitter(self.dialect.timers.turn_setup_ms))
            await self.session.paced_start(self.tl, self.dialect.start_offset_ms(self.session.ident, self.port.plan, self.server))
            for attempt in range(self.dialect.timers.mismatch_retries + 1):
                try:
                    return await self._allocate()
                except Rejected as exc:
                    if exc.kind != "mismatch" or attempt == self.dialect.timers.mismatch_retries:
                        raise
                await self.tl.sleep(self.session.jitter(self.dialect.timers.mismatch_retry_ms))
                await self._fresh_transport()
            raise AssertionError("unreachable")
        except ResolveError:
            return self._fail(self.tl.now(), "dns")
        except Rejected as exc:
            return self._fail(exc.t, exc.kind, exc.code, exc.reason)

    def _fail(self, t: float, kind: str, code: int | None = None, reason: str | None = None) -> str:
        resolved = self.addr[0] if self.addr else None
        event = self.dialect.turn_error(
            t, self.port.plan, self.local_port, self.server, kind, code, reason=reason, resolved=resolved,
        )
        if self.dialect.error_held_until_complete(self.server, resolved):
            self.session.held_errors.append(event)
        else:
            self.session.emit(event)
        return "turn_error"

    async def _fresh_transport(self) -> None:
        """After 437 Chrome starts over from a new socket (and a new 401 round)."""
        self.realm = self.nonce = self.key = None
        if self.channel is not None:
            self.channel.stream.close()
            self.channel = None
            return
        plan = self.port.plan
        sock = await self.session.net.bind_udp("0.0.0.0" if plan.family == 4 else "::", 0)
        self.udp = UdpPort(plan, sock)
        self.session.ports.append(self.udp)
        self.local_port = self.udp.port

    async def _connect(self) -> tuple[Callable[[bytes], None], dict, bool]:
        """The sender, the transaction table and whether the transport is reliable."""
        assert self.addr is not None
        if self.server.relay_protocol == "udp":
            self.local_port = self.udp.port
            return self.udp.send_to(self.addr, self.dialect), self.udp.transactions, False
        if self.channel is None:
            # turns: verifies the certificate, like Chrome's default TLS_CERT_POLICY_SECURE.
            ctx = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) \
                if self.server.relay_protocol == "tls" else None
            try:
                stream = await self.session.net.connect_tcp(self.addr, ctx, self.server.host)
            except (OSError, ssl.SSLError):
                self.local_port = 0
                raise Rejected(self.tl.now(), "connect_failed") from None
            self.session.streams.append(stream)
            self.channel = TcpStunChannel(stream)
            self.local_port = stream.local_address[1]
        if self.channel.closed:
            raise Rejected(self.tl.now(), "connect_failed")
        return self.channel.send, self.channel.transactions, True

    async def _allocate(self) -> str:
        server = self.server
        username, password = server.username or "", server.credential or ""
        redirected = False
        while True:
            send, table, reliable = await self._connect()
            request = stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST, attributes={"REQUESTED-TRANSPORT": UDP_TRANSPORT})
            if self.key is not None:
                request.attributes.update({"USERNAME": username, "REALM": self.realm, "NONCE": self.nonce})
                request.add_message_integrity(self.key)
            txn = StunTransaction(request, send, self.session.schedule(), self.tl, reliable=reliable,
                                  server=None if reliable else self.addr)
            table[txn.transaction_id] = txn
            try:
                result = await txn.run()
            except StunTimeout as exc:
                raise Rejected(exc.t, "timeout") from None
            except ConnectionError:
                # Closed before the allocation was ready (turn_port.cc OnSocketClose).
                raise Rejected(self.tl.now(), "connect_failed") from None
            finally:
                table.pop(txn.transaction_id, None)
            msg = result.message
            if msg.message_class == stun.Class.RESPONSE:
                return self._allocated(msg, send, request, result.t, reliable)
            code = msg.error_code
            if code == 401 and self.key is None and "NONCE" in msg.attributes and "REALM" in msg.attributes:
                # The long-term-credential challenge: sign and retry once.
                self.nonce, self.realm = msg.attributes["NONCE"], msg.attributes["REALM"]
                self.key = make_integrity_key(username, self.realm, password)
                continue
            if code == 300 and not redirected:
                alternate = alternate_server(msg)
                if alternate is None or ipaddress.ip_address(alternate[0]).is_loopback:
                    # "Blocking attempted redirect to loopback address." (capture S3_turn300)
                    raise Rejected(result.t, "alternate_failed")
                # Followed with the same realm and nonce, no new 401 round (S3_turn300_alt3481).
                if self.channel is not None:
                    self.channel.stream.close()
                    self.channel = None
                self.addr, redirected = alternate, True
                continue
            if code == 401:
                raise Rejected(result.t, "unauthorized", reason=msg.attributes.get("ERROR-CODE", (None, None))[1])
            if code == 437:
                raise Rejected(result.t, "mismatch")
            # 438 stale nonce is not retried (capture S3_turn438), nor any other code.
            raise Rejected(result.t, "other", code or 600)

    def _allocated(self, msg: stun.Message, send, request: stun.Message, t: float, reliable: bool) -> str:
        relayed = msg.attributes.get("XOR-RELAYED-ADDRESS")
        if relayed is None:
            raise Rejected(t, "other", 600)
        mapped = msg.attributes.get("XOR-MAPPED-ADDRESS") or relayed
        s = self.session
        s.allocations.append((send, request, self.key, self.server.username, self.realm, self.nonce))
        if self.dialect.srflx_from_turn and not reliable and "XOR-MAPPED-ADDRESS" in msg.attributes:
            emit_srflx(s, self.udp, (mapped[0], mapped[1]), self.server, t)  # nICEr's piggybacked srflx
        cand = self.dialect.relay_candidate(s.ident, self.port.plan, relayed, mapped, self.server, self.relay_pref, s.mid, s.mline)
        s.emit_candidate(t, cand)
        return "relay_stream" if reliable else "relay"


async def gather_relay(
    session: "GatherSession", port: UdpPort, server: IceServerUrl, relay_pref: int, tl: Timeline
) -> str:
    return await TurnAllocation(session, port, server, relay_pref, tl).run()


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
