"""Hostile input at the gatherer's sockets: a seeded flood of 100k garbage datagrams while a
STUN transaction is pending, and the responses a browser drops one by one; the gather must
finish as if nothing had happened.

The garbage comes from garbage.py, the pacing from flood.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from aioice import stun
from aioice.stun import Class, Message, Method

import icesim
from flood import DATAGRAM_OVERHEAD, FloodClient, wait_until
from garbage import (
    GARBAGE_MAPPED,
    PENDING_ID_GARBAGE,
    UNKNOWN_ID_GARBAGE,
    huge,
    real_id_attribute_overrun,
    real_id_unaligned_body,
    real_id_wrong_length_field,
    real_id_wrong_method,
)
from icesim.config import Interface, parse_ice_url
from icesim.net import RealNet
from icesim.schema import validate_line


# ---------------------------------------------------------------------------------------------
# The gatherer's sockets
# ---------------------------------------------------------------------------------------------
#
# A gather is started against a STUN "server" the test controls (SlowResponder): it records the
# gatherer's Binding Request and does not answer. While that transaction is pending, the
# gatherer's UDP socket is flooded; then the responder answers, and the gather must finish as
# if nothing had happened. The Net seam is wrapped (CountingNet) so the test counts every
# datagram that reached the gatherer's receive handler: the kernel dropping the flood cannot
# make the test pass vacuously.

ANSWER_MAPPED = ("203.0.113.9", 4444)
GATHER_IFACES = [Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True)]


class _CountingUdpSocket:
    """Counts (and times) every datagram handed to the gatherer's receive handler."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.delivered = 0
        self.handler_seconds = 0.0
        self.handler_errors: list[BaseException] = []

    @property
    def local_address(self) -> tuple[str, int]:
        return self._inner.local_address

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self._inner.sendto(data, addr)

    def set_receiver(self, handler: Callable[[bytes, tuple[str, int]], None]) -> None:
        def counted(data: bytes, addr: tuple[str, int]) -> None:
            self.delivered += 1
            started = time.perf_counter()
            try:
                handler(data, addr)
            except BaseException as exc:  # recorded for the test, then as it was
                self.handler_errors.append(exc)
                raise
            finally:
                self.handler_seconds += time.perf_counter() - started

        self._inner.set_receiver(counted)

    def close(self) -> None:
        self._inner.close()


class CountingNet:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sockets: dict[int, _CountingUdpSocket] = {}  # local port -> socket

    async def bind_udp(self, host: str, port: int = 0) -> _CountingUdpSocket:
        sock = _CountingUdpSocket(await self.inner.bind_udp(host, port))
        self.sockets[sock.local_address[1]] = sock
        return sock

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None):
        return await self.inner.connect_tcp(remote, ssl_context, server_hostname)

    async def resolve(self, host: str, family: int) -> list[str]:
        return await self.inner.resolve(host, family)


class SlowResponder:
    """A STUN server that records Binding Requests and answers only when the test says so."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()
        self.requests: list[tuple[tuple[str, int], bytes]] = []  # (source, transaction id)
        self.unexpected: list[bytes] = []  # anything else the gatherer sent here
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except BlockingIOError:
                return
            try:
                message = stun.parse_message(data)
            except ValueError:
                self.unexpected.append(data)
                continue
            if message.message_method == Method.BINDING and message.message_class == Class.REQUEST:
                self.requests.append(((addr[0], addr[1]), message.transaction_id))
            else:
                self.unexpected.append(data)

    def answer(self, source: tuple[str, int], tid: bytes, mapped: tuple[str, int]) -> None:
        message = Message(Method.BINDING, Class.RESPONSE, tid, attributes={"XOR-MAPPED-ADDRESS": mapped})
        self.sock.sendto(bytes(message), source)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


class GatherRun:
    """One gather in the background against a SlowResponder, its events collected as lines."""

    def __init__(self, responder: SlowResponder, seed: int) -> None:
        self.responder = responder
        self.net = CountingNet(RealNet())
        self.url = f"stun:127.0.0.1:{responder.address[1]}"
        config = icesim.GatherConfig(
            servers=[parse_ice_url(self.url)], interfaces=GATHER_IFACES, seed=seed, time_scale=1.0
        )
        self.lines: list[dict] = []
        self.task = asyncio.ensure_future(self._collect(config))

    async def _collect(self, config: icesim.GatherConfig) -> None:
        async for event in icesim.gather(config, net=self.net):
            self.lines.append(validate_line(icesim.to_json_line(event)))

    async def first_request(self) -> tuple[tuple[str, int], bytes, _CountingUdpSocket]:
        """(gatherer's source address, transaction id, its counted socket) of the first request."""
        await wait_until(lambda: bool(self.responder.requests), "the gatherer's Binding Request")
        source, tid = self.responder.requests[0]
        return source, tid, self.net.sockets[source[1]]

    def events(self) -> list[dict]:
        return [line for line in self.lines if line["type"] != "meta"]

    async def finish(self, timeout: float) -> None:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)

    async def cancel(self) -> None:
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _assert_one_srflx_stream(run: GatherRun) -> None:
    """The whole stream after the answer: gathering, candidates with exactly one srflx (the
    answer's), complete, null; no error; t never goes back; no garbage address anywhere."""
    events = run.events()
    assert [e["type"] for e in events if e["type"] == "icecandidateerror"] == []
    ts = [e["t"] for e in events]
    assert ts == sorted(ts), ts
    assert events[0]["type"] == "icegatheringstatechange" and events[0]["state"] == "gathering"
    assert events[-2]["type"] == "icegatheringstatechange" and events[-2]["state"] == "complete"
    assert events[-1] == {"type": "icecandidate", "t": events[-1]["t"], "candidate": None}
    candidates = [e["candidate"] for e in events[1:-2]]
    assert all(e["type"] == "icecandidate" for e in events[1:-2]) and None not in candidates, events
    srflx = [c for c in candidates if c["type"] == "srflx"]
    assert [(c["address"], c["port"], c["url"]) for c in srflx] == [(*ANSWER_MAPPED, run.url)], srflx
    assert {c["type"] for c in candidates} <= {"host", "srflx"}, candidates
    text = json.dumps(events)
    for address in GARBAGE_MAPPED:
        assert address not in text, f"garbage address {address} in the stream"


GATHERER_GARBAGE_COUNT = 100_000
PENDING_ID_RATE = 0.05  # of the flood, garbage carrying the pending transaction id
HUGE_RATE = 0.003  # datagrams of 1.5-64 KB: each is paced as a batch of its own


async def test_gatherer_survives_garbage() -> None:
    rng = random.Random(0x6A7E)
    responder = SlowResponder()
    run = GatherRun(responder, seed=11)
    clients: list[FloodClient] = []
    try:
        source, tid, counted = await run.first_request()
        target = ("127.0.0.1", source[1])  # the any-address socket, reached over loopback
        clients = [FloodClient() for _ in range(3)]
        senders = [c.sock for c in clients]
        batch_budget = senders[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        delivered_before = counted.delivered
        handler_seconds_before = counted.handler_seconds
        sent = pending_id_sent = huge_sent = 0
        started = time.monotonic()

        async def drained() -> None:
            await wait_until(
                lambda: counted.delivered - delivered_before == sent or run.task.done(),
                lambda: f"the gatherer to drain: {counted.delivered - delivered_before} of {sent}",
            )
            # A gather that ends closes its socket: the rest of the flood would go unread.
            assert not run.task.done(), f"the gather ended during the flood: {run.events()}"

        batch_bytes = 0
        while sent < GATHERER_GARBAGE_COUNT:
            roll = rng.random()
            sender = rng.choice(senders)
            if roll < PENDING_ID_RATE:
                data = rng.choice(PENDING_ID_GARBAGE)(rng, tid)
                # Mostly from the server's own address: a browser parses what comes from there.
                sender = responder.sock if rng.random() < 0.6 else sender
                pending_id_sent += 1
            elif roll < PENDING_ID_RATE + HUGE_RATE:
                data = huge(rng)
                huge_sent += 1
            else:
                data = rng.choice(UNKNOWN_ID_GARBAGE)(rng)
            cost = len(data) + DATAGRAM_OVERHEAD if len(data) <= 4096 else batch_budget
            if batch_bytes + cost > batch_budget:
                await drained()
                batch_bytes = 0
            sender.sendto(data, target)
            sent += 1
            batch_bytes += cost
        await drained()
        flood_seconds = time.monotonic() - started
        handler_us = (counted.handler_seconds - handler_seconds_before) / sent * 1e6
        await asyncio.sleep(0.05)  # room for anything the gatherer should not send

        delivered = counted.delivered - delivered_before
        assert delivered == sent >= GATHERER_GARBAGE_COUNT
        assert counted.handler_errors == []
        assert pending_id_sent > 3000 and huge_sent > 100  # the mix exercised both
        # Nothing answered the garbage, and the transaction is still the one pending: the
        # responder has seen only (re)transmissions of the first request, from one socket.
        assert [c.replies for c in clients] == [[], [], []]
        assert responder.unexpected == []
        assert set(responder.requests) == {(source, tid)}
        assert flood_seconds < 25, "the flood outlasted most of the 39.9 s STUN budget"
        during = run.events()
        assert [e for e in during if e["type"] == "icecandidateerror"] == []
        assert [e for e in during if e.get("candidate") and e["candidate"]["type"] != "host"] == []
        assert not [e for e in during if e["type"] == "icegatheringstatechange" and e["state"] == "complete"]

        # The answer to the (re)transmitted request still gets its srflx, promptly.
        answered = time.monotonic()
        responder.answer(*responder.requests[-1], ANSWER_MAPPED)
        await run.finish(timeout=5.0)
        finish_seconds = time.monotonic() - answered
        assert finish_seconds < 3.0
        _assert_one_srflx_stream(run)
        assert counted.handler_errors == []
        print(
            f"\ngatherer: {sent} garbage datagrams ({pending_id_sent} with the pending id,"
            f" {huge_sent} over 1500 B), {delivered} delivered, in {flood_seconds:.1f} s; receive"
            f" handler {handler_us:.2f} us/datagram; {len(responder.requests)} sends of the request"
            f" seen; null candidate {finish_seconds * 1000:.0f} ms after the answer"
        )
    finally:
        await run.cancel()
        for client in clients:
            client.close()
        responder.close()


# Responses carrying the pending transaction id that libwebrtc does NOT accept. Each case sends
# one such datagram while the request is pending, then the real answer; a browser emits the
# real answer's srflx, and so must the gatherer (UdpPort checks framing, method and source).


def real_id_valid_response(rng: random.Random, tid: bytes) -> bytes:
    message = Message(Method.BINDING, Class.RESPONSE, tid)
    message.attributes["XOR-MAPPED-ADDRESS"] = (GARBAGE_MAPPED[0], 1111)
    return bytes(message)


@pytest.mark.parametrize(
    "make, from_server",
    [
        pytest.param(real_id_wrong_length_field, True, id="control-wrong-length-field"),
        pytest.param(real_id_attribute_overrun, True, id="attribute-overrun"),
        pytest.param(real_id_unaligned_body, True, id="unaligned-body"),
        pytest.param(real_id_wrong_method, True, id="wrong-method"),
        # UDPPort::OnReadPacket hands only datagrams from a STUN server's address to the
        # request manager; anything else with the right id is not a STUN response to it.
        pytest.param(real_id_valid_response, False, id="not-from-the-server"),
    ],
)
async def test_gatherer_rejects_response_browsers_drop(
    make: Callable[[random.Random, bytes], bytes], from_server: bool
) -> None:
    rng = random.Random(0xBAD1D)
    responder = SlowResponder()
    run = GatherRun(responder, seed=12)
    stranger = FloodClient()
    try:
        source, tid, counted = await run.first_request()
        before = counted.delivered
        (responder.sock if from_server else stranger.sock).sendto(make(rng, tid), ("127.0.0.1", source[1]))
        await wait_until(lambda: counted.delivered > before, "the datagram to reach the gatherer")
        await asyncio.sleep(0.05)
        responder.answer(*responder.requests[-1], ANSWER_MAPPED)
        await run.finish(timeout=5.0)
        _assert_one_srflx_stream(run)
        assert stranger.replies == []
    finally:
        await run.cancel()
        stranger.close()
        responder.close()
