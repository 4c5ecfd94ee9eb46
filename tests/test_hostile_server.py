"""Hostile input at the STUN server: a seeded flood of 100k garbage datagrams, with real
Binding Requests mixed in, must get exactly the answers it deserves (a success per valid
request, a 420 per request with unknown comprehension-required attributes, nothing else) and
leave the server serving.

The garbage comes from garbage.py, the pacing from flood.py.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time

import structlog
from aioice import stun
from aioice.stun import Class, Message, Method

from flood import DATAGRAM_OVERHEAD, FloodClient, wait_until
from garbage import GARBAGE_GENERATORS, valid_request
from icesim.stun_server import MAX_DATAGRAM_SIZE, StunServer
from stun_probe import unknown_attributes_of

GARBAGE_COUNT = 100_000
VALID_RATE = 0.02  # about one real Binding Request per 50 datagrams


async def test_stun_server_survives_garbage() -> None:
    rng = random.Random(0x57E1CE)
    server = StunServer()
    server_address = await server.start("127.0.0.1", 0)
    clients = [FloodClient() for _ in range(4)]
    # transaction id -> (client address, None for success | expected UNKNOWN-ATTRIBUTES)
    expected: dict[bytes, tuple[tuple[str, int], list[int] | None]] = {}
    garbage_sent = sent = 0
    # Each batch fills at most half of a receive buffer (the server's is sized
    # like the clients'), so the kernel never drops what the test counts on.
    batch_budget = clients[0].sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    started = time.monotonic()
    try:
        # The safety net in the server logs handler_failed; garbage must be
        # rejected by validation, never by an exception escaping the parser.
        with structlog.testing.capture_logs() as logs:
            while garbage_sent < GARBAGE_COUNT:
                batch_bytes = 0
                while batch_bytes < batch_budget - MAX_DATAGRAM_SIZE // 2 - DATAGRAM_OVERHEAD:
                    client = rng.choice(clients)
                    if rng.random() < VALID_RATE:
                        data, tid = valid_request(rng)
                        assert tid not in expected
                        expected[tid] = (client.address, None)
                    else:
                        data, tid, unknown = rng.choice(GARBAGE_GENERATORS)(rng)
                        garbage_sent += 1
                        if unknown is not None:
                            assert tid not in expected
                            expected[tid] = (client.address, unknown)
                    client.sock.sendto(data, server_address)
                    sent += 1
                    batch_bytes += len(data) + DATAGRAM_OVERHEAD
                # Let the server drain the batch before sending more. If the kernel
                # dropped a datagram this times out instead of passing vacuously.
                await wait_until(
                    lambda: server.stats.received == sent,
                    lambda: f"the server to drain: received {server.stats.received} of {sent}",
                )

        valid_count = sum(1 for _, unknown in expected.values() if unknown is None)
        count_420 = len(expected) - valid_count
        await wait_until(
            lambda: sum(len(c.replies) for c in clients) >= len(expected),
            lambda: f"all replies: {sum(len(c.replies) for c in clients)} of {len(expected)}"
            f" ({valid_count} successes, {count_420} 420s expected; server stats {server.stats})",
        )
        await asyncio.sleep(0.05)  # room for any reply that should not exist
        flood_seconds = time.monotonic() - started

        # Every reply answers exactly one expected transaction, at the right client.
        answered: set[bytes] = set()
        for client in clients:
            for data in client.replies:
                reply = stun.parse_message(data)  # also checks the reply's FINGERPRINT
                assert reply.transaction_id in expected, "a reply to garbage"
                assert reply.transaction_id not in answered, "a duplicate reply"
                answered.add(reply.transaction_id)
                address, unknown = expected[reply.transaction_id]
                assert address == client.address
                if unknown is None:
                    assert reply.message_class == Class.RESPONSE
                    assert reply.attributes["XOR-MAPPED-ADDRESS"] == client.address
                else:
                    assert reply.message_class == Class.ERROR
                    assert reply.attributes["ERROR-CODE"][0] == 420
                    assert unknown_attributes_of(data) == unknown
        assert answered == set(expected)

        assert garbage_sent >= GARBAGE_COUNT
        assert valid_count > 1000 and count_420 > 1000  # the mix really exercised both
        stats = server.stats
        assert stats.received == sent == garbage_sent + valid_count
        assert stats.responses == valid_count
        assert stats.errors_sent == count_420
        assert stats.requests == valid_count + count_420
        assert stats.dropped_malformed == garbage_sent - count_420
        assert [e for e in logs if e["event"] == "stun_server.handler_failed"] == []

        # Still serving, to a socket it has never seen.
        fresh = FloodClient()
        clients.append(fresh)
        request = Message(Method.BINDING, Class.REQUEST)
        fresh.sock.sendto(bytes(request), server_address)
        await wait_until(lambda: bool(fresh.replies), "a reply after the flood")
        reply = stun.parse_message(fresh.replies[0])
        assert reply.transaction_id == request.transaction_id
        assert reply.attributes["XOR-MAPPED-ADDRESS"] == fresh.address
        print(f"\n{sent} datagrams ({garbage_sent} garbage) in {flood_seconds:.1f} s")
    finally:
        for client in clients:
            client.close()
        server.close()


