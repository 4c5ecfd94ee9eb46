"""The coturn fixtures start a real, correctly configured turnserver.

These double as a check of what the engine tests rely on: anonymous STUN,
long-term-credential TURN over UDP and TCP, relaying to loopback peers, and
refusing every peer off loopback.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
from aioice import stun
from aioice.turn import (
    UDP_TRANSPORT,
    TurnClientUdpProtocol,
    create_turn_endpoint,
)

from coturn import LOOPBACK, stun_binding_udp

TIMEOUT = 10


class Recorder(asyncio.DatagramProtocol):
    """Receives what the TURN transport relays back and notes its closing."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.errors: list[Exception] = []
        self.closed = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


async def close_turn(transport, protocol: Recorder) -> None:
    """Delete the allocation and wait until aioice has closed its socket."""
    transport.close()
    await asyncio.wait_for(protocol.closed, TIMEOUT)


def in_relay_range(coturn, addr: tuple[str, int]) -> bool:
    return addr[0] == LOOPBACK and coturn.relay_min_port <= addr[1] <= coturn.relay_max_port


# --------------------------------------------------------------------------
# STUN
# --------------------------------------------------------------------------


def test_urls_and_credentials(coturn) -> None:
    assert coturn.host == "127.0.0.1"
    assert coturn.stun_url == f"stun:127.0.0.1:{coturn.port}"
    assert coturn.turn_udp_url == f"turn:127.0.0.1:{coturn.port}?transport=udp"
    assert coturn.turn_tcp_url == f"turn:127.0.0.1:{coturn.port}?transport=tcp"
    assert (coturn.username, coturn.password, coturn.realm) == ("test", "secret", "test")
    assert "--listening-ip=127.0.0.1" in coturn.argv
    assert "--relay-ip=127.0.0.1" in coturn.argv


def test_stun_binding_udp_returns_own_address(coturn) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        response = stun_binding_udp(coturn.address, timeout=5, sock=sock)
        assert response.message_method == stun.Method.BINDING
        assert response.message_class == stun.Class.RESPONSE
        assert response.attributes["XOR-MAPPED-ADDRESS"] == sock.getsockname()


def test_stun_binding_tcp_returns_own_address(coturn) -> None:
    request = stun.Message(
        message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST
    )
    with socket.create_connection(coturn.address, timeout=5) as sock:
        sock.sendall(bytes(request))
        data = b""
        while len(data) < 20 or len(data) < 20 + struct.unpack("!H", data[2:4])[0]:
            chunk = sock.recv(4096)
            assert chunk, "coturn closed the TCP connection"
            data += chunk
        response = stun.parse_message(data)
        assert response.transaction_id == request.transaction_id
        assert response.message_class == stun.Class.RESPONSE
        assert response.attributes["XOR-MAPPED-ADDRESS"] == sock.getsockname()


def test_unauthenticated_allocate_gets_401_with_realm_and_nonce(coturn) -> None:
    request = stun.Message(
        message_method=stun.Method.ALLOCATE, message_class=stun.Class.REQUEST
    )
    request.attributes["REQUESTED-TRANSPORT"] = UDP_TRANSPORT
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(bytes(request), coturn.address)
        response = stun.parse_message(sock.recv(2048))
    assert response.message_class == stun.Class.ERROR
    assert response.error_code == 401
    assert response.attributes["REALM"] == "test"
    assert response.attributes["NONCE"]


# --------------------------------------------------------------------------
# TURN allocations through aioice (401, then the authenticated retry)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_turn_allocate(coturn, transport: str) -> None:
    turn, protocol = await asyncio.wait_for(
        create_turn_endpoint(
            Recorder,
            coturn.address,
            coturn.username,
            coturn.password,
            transport=transport,
        ),
        TIMEOUT,
    )
    try:
        relayed = turn.get_extra_info("sockname")
        related = turn.get_extra_info("related_address")
        assert in_relay_range(coturn, relayed), relayed
        # The mapped (related) address is the client's own socket on loopback.
        assert related[0] == LOOPBACK
        assert related[1] not in (0, coturn.port)
    finally:
        await close_turn(turn, protocol)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_turn_relays_to_a_loopback_peer(coturn, transport: str) -> None:
    loop = asyncio.get_running_loop()
    turn, protocol = await asyncio.wait_for(
        create_turn_endpoint(
            Recorder,
            coturn.address,
            coturn.username,
            coturn.password,
            transport=transport,
        ),
        TIMEOUT,
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind((LOOPBACK, 0))
        peer.setblocking(False)
        try:
            turn.sendto(b"ping", peer.getsockname())
            data, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 2048), TIMEOUT)
            assert data == b"ping"
            assert source == turn.get_extra_info("sockname")

            await loop.sock_sendto(peer, b"pong", source)
            data, source = await asyncio.wait_for(protocol.received.get(), TIMEOUT)
            assert (data, source) == (b"pong", peer.getsockname())
            assert protocol.errors == []
        finally:
            await close_turn(turn, protocol)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_turn_wrong_password_fails_with_401(coturn, transport: str) -> None:
    with pytest.raises(stun.TransactionFailed) as excinfo:
        await asyncio.wait_for(
            create_turn_endpoint(
                Recorder,
                coturn.address,
                coturn.username,
                "not-the-password",
                transport=transport,
            ),
            TIMEOUT,
        )
    assert excinfo.value.response.error_code == 401


# --------------------------------------------------------------------------
# which peers coturn accepts (CreatePermission only: nothing is ever relayed)
# --------------------------------------------------------------------------


async def _permission_error(server, peer: tuple[str, int]) -> int | None:
    """Allocate, ask for a permission to ``peer``; the error code or None."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(
            server.address,
            username=server.username,
            password=server.password,
            lifetime=600,
            channel_refresh_time=500,
        ),
        remote_addr=server.address,
    )
    try:
        await asyncio.wait_for(client.connect(), TIMEOUT)
        request = stun.Message(
            message_method=stun.Method.CREATE_PERMISSION,
            message_class=stun.Class.REQUEST,
        )
        request.attributes["XOR-PEER-ADDRESS"] = peer
        try:
            await asyncio.wait_for(client.request_with_retry(request), TIMEOUT)
        except stun.TransactionFailed as exc:
            return exc.response.error_code
        return None
    finally:
        await client.delete()  # closes the transport too
        transport.close()


async def test_loopback_peer_permitted_others_forbidden(coturn, closed_port) -> None:
    assert await _permission_error(coturn, (LOOPBACK, closed_port)) is None
    assert await _permission_error(coturn, ("127.0.0.2", 9)) is None
    # --no-multicast-peers and the --denied-peer-ip ranges (off loopback).
    assert await _permission_error(coturn, ("224.0.0.1", 9)) == 403
    assert await _permission_error(coturn, ("203.0.113.1", 9)) == 403  # TEST-NET-3


async def test_factory_without_loopback_peers_forbids_them(coturn_factory) -> None:
    server = coturn_factory(allow_loopback_peers=False)
    assert "--allow-loopback-peers" not in server.argv
    assert await _permission_error(server, (LOOPBACK, 9)) == 403


# --------------------------------------------------------------------------
# closed_port
# --------------------------------------------------------------------------


def test_closed_port_refuses_udp_and_tcp(closed_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect((LOOPBACK, closed_port))
        sock.send(b"x")
        with pytest.raises(ConnectionRefusedError):
            sock.recv(16)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LOOPBACK, closed_port), timeout=5).close()
