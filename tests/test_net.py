"""The network seam: per-gather DNS cache, the private lookup pool, and in-process faults."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import threading

import pytest

from icesim.config import Faults, parse_resolve
from icesim.net import FaultyNet, GatherResolver, RealNet, ResolveError


class CountingNet:
    """A Net whose lookups are counted and slow, to see concurrent askers share one."""

    def __init__(self, answers: dict[tuple[str, int], list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    async def resolve(self, host: str, family: int) -> list[str]:
        self.calls.append((host, family))
        await asyncio.sleep(0.01)
        if (host, family) not in self.answers:
            raise ResolveError(host)
        return self.answers[(host, family)]


async def test_resolver_shares_one_lookup_per_name_and_family() -> None:
    net = CountingNet({("stun.test", 4): ["127.0.0.1"], ("stun.test", 6): ["::1"]})
    resolver = GatherResolver(net)  # type: ignore[arg-type]
    results = await asyncio.gather(*(resolver.resolve("stun.test", 4) for _ in range(10)),
                                   resolver.resolve("STUN.test.", 4), resolver.resolve("stun.test", 6))
    assert results[:11] == [["127.0.0.1"]] * 11 and results[11] == ["::1"]
    assert sorted(net.calls) == [("stun.test", 4), ("stun.test", 6)]


async def test_resolver_caches_failures_for_the_gather() -> None:
    net = CountingNet({})
    resolver = GatherResolver(net)  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(ResolveError):
            await resolver.resolve("nx.test", 4)
    assert net.calls == [("nx.test", 4)]
    resolver.close()


async def test_real_lookups_run_on_icesim_pool_not_default_executor(monkeypatch) -> None:
    threads: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real_getaddrinfo(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    # "localhost" comes from /etc/hosts: no query leaves the machine.
    assert "127.0.0.1" in await RealNet().resolve("localhost", 4)
    assert threads and all(name.startswith("icesim-dns") for name in threads)


async def test_fault_rules_answer_before_the_real_resolver() -> None:
    net = FaultyNet(RealNet(), Faults(resolve=(
        parse_resolve("stun.test=127.0.0.1,::1"), parse_resolve("nx.test=NXDOMAIN"), parse_resolve("*.wild.test=127.0.0.9"),
    )))
    assert await net.resolve("STUN.test.", 4) == ["127.0.0.1"]
    assert await net.resolve("stun.test", 6) == ["::1"]
    assert await net.resolve("a.wild.test", 4) == ["127.0.0.9"]
    with pytest.raises(ResolveError):
        await net.resolve("nx.test", 4)
    with pytest.raises(ResolveError):
        await net.resolve("a.wild.test", 6)  # rule has no IPv6 address


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[tuple[bytes, float]] = []

    def datagram_received(self, data: bytes, addr) -> None:
        self.got.append((data, asyncio.get_running_loop().time()))


async def _receiver() -> tuple[asyncio.DatagramTransport, Receiver, int]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Receiver, local_addr=("127.0.0.1", 0))
    return transport, proto, transport.get_extra_info("sockname")[1]  # type: ignore[return-value]


async def test_block_udp_by_name_applies_to_what_it_resolved_to() -> None:
    transport, proto, port = await _receiver()
    other_t, other, other_port = await _receiver()
    net = FaultyNet(RealNet(), Faults(block_udp=frozenset({("stun.test", port)}),
                                      resolve=(parse_resolve("stun.test=127.0.0.1"),)))
    addr = (await net.resolve("stun.test", 4))[0]
    sock = await net.bind_udp("127.0.0.1")
    sock.sendto(b"blocked", (addr, port))
    sock.sendto(b"passes", (addr, other_port))
    await asyncio.sleep(0.05)
    assert proto.got == [] and [d for d, _ in other.got] == [b"passes"]
    sock.close(), transport.close(), other_t.close()


async def test_drop_is_seeded_and_latency_delays_sends() -> None:
    transport, proto, port = await _receiver()
    kept = []
    for _ in range(2):
        net = FaultyNet(RealNet(), Faults(drop=0.5), random.Random(42))
        kept.append([net.loses() for _ in range(200)])
    assert kept[0] == kept[1] and 60 < sum(kept[0]) < 140
    net = FaultyNet(RealNet(), Faults(latency_ms=80))
    sock = await net.bind_udp("127.0.0.1")
    t0 = asyncio.get_running_loop().time()
    sock.sendto(b"late", ("127.0.0.1", port))
    await asyncio.sleep(0.2)
    ((data, t_arrived),) = proto.got
    assert data == b"late" and 0.075 <= t_arrived - t0 <= 0.18
    sock.close(), transport.close()


async def test_binding_a_foreign_address_fails_like_the_os() -> None:
    with pytest.raises(OSError):
        await RealNet().bind_udp(str(ipaddress.ip_address("198.51.100.77")))
