"""The gathering engine on real loopback sockets: coturn, the embedded STUN server, and the
in-process faults (blocked/dropped UDP, resolver rules, closed ports, page timeout).

Expected behaviour: shared/reference/browser-ice.md (B5, B6) and the "Observed facts" of
shared/captures/README.md (Chromium 156). The 40 s timers run under --time-scale; `t` stays
browser time. Every line is validated against the schema and every stream must be in t order.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re

import pytest

import icesim
from icesim.stun_transaction import MIN_REAL_RTO_S
from icesim.config import ConfigError
from icesim.config import Faults, IceServerUrl, Interface, parse_ice_url, parse_resolve
from icesim.interfaces import machine_interfaces
from icesim.net import FaultyNet, RealNet
from icesim.schema import validate_line
from icesim.stun_server import StunServer

IFACES = [
    Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True),
    Interface("eth0", ipaddress.ip_address("fd00:5::2"), "ethernet", default=True),
]
ANY4, ANY6 = "0.0.0.x", "[0:0:0:x:x:x:x:x]"
STUN_TIMEOUT_TEXT = "STUN binding request timed out."
GIVE_UP_MS = 39880  # captures README: the 701 comes ~39.88 s after the first send
MDNS_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.local$")
GATHER_TIMEOUT_S = 20.0


async def gather_lines(servers: list[IceServerUrl], *, net=None, complete: bool = True, **options) -> list[dict]:
    """Run one gather; returns its lines after the meta line, each validated against the schema.
    Asserts the invariants of every stream: t never goes back; gathering first; and (unless the
    page gives up) complete then the null candidate at the end."""
    options.setdefault("seed", 1)
    options.setdefault("interfaces", IFACES)
    config = icesim.GatherConfig(servers=servers, **options)

    async def collect() -> list[dict]:
        return [validate_line(icesim.to_json_line(ev)) async for ev in icesim.gather(config, net)]

    lines = await asyncio.wait_for(collect(), GATHER_TIMEOUT_S)
    assert lines[0]["type"] == "meta" and lines[0]["seed"] == options["seed"]
    events = lines[1:]
    ts = [e["t"] for e in events]
    assert ts == sorted(ts), ts
    assert events[0] == {"type": "icegatheringstatechange", "t": events[0]["t"], "state": "gathering"}
    if complete:
        assert events[-2]["type"] == "icegatheringstatechange" and events[-2]["state"] == "complete"
        assert events[-1]["type"] == "icecandidate" and events[-1]["candidate"] is None
        assert sum(1 for e in events if e["type"] == "icecandidate" and e["candidate"] is None) == 1
    return events


def cands(events: list[dict], type_: str | None = None, protocol: str | None = None) -> list[dict]:
    out = [e["candidate"] for e in events if e["type"] == "icecandidate" and e["candidate"] is not None]
    return [c for c in out if (type_ is None or c["type"] == type_) and (protocol is None or c["protocol"] == protocol)]


def errors(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "icecandidateerror"]


def t_of(events: list[dict], state: str) -> float:
    return next(e["t"] for e in events if e["type"] == "icegatheringstatechange" and e["state"] == state)


def host_ports(events: list[dict]) -> dict[int, int]:
    """family -> UDP host port, from the any-address host priorities (IPv4: 2113937151)."""
    out = {}
    for c in cands(events, "host", "udp"):
        out[4 if c["priority"] == 2113937151 else 6] = c["port"]
    assert set(out) == {4, 6}, out
    return out


def turn(url: str, username: str | None = "test", credential: str | None = "secret") -> IceServerUrl:
    return parse_ice_url(url, username=username, credential=credential)


# ---------------------------------------------------------------------------------------------
# A Net that records every datagram the engine sends (before the faults drop it)
# ---------------------------------------------------------------------------------------------


class _RecordingSocket:
    def __init__(self, inner, log: list) -> None:
        self._inner = inner
        self._log = log

    @property
    def local_address(self):
        return self._inner.local_address

    def sendto(self, data: bytes, addr) -> None:
        self._log.append((asyncio.get_running_loop().time(), self._inner.local_address, addr))
        self._inner.sendto(data, addr)

    def set_receiver(self, handler) -> None:
        self._inner.set_receiver(handler)

    def close(self) -> None:
        self._inner.close()


class RecordingNet:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.sends: list[tuple[float, tuple, tuple]] = []

    async def bind_udp(self, host: str, port: int = 0):
        return _RecordingSocket(await self.inner.bind_udp(host, port), self.sends)

    async def connect_tcp(self, remote, ssl_context=None, server_hostname=None):
        return await self.inner.connect_tcp(remote, ssl_context, server_hostname)

    async def resolve(self, host: str, family: int):
        return await self.inner.resolve(host, family)


# ---------------------------------------------------------------------------------------------
# Dropped UDP: the 40 s STUN timeout
# ---------------------------------------------------------------------------------------------


def _assert_stun_timeout(events: list[dict], server: IceServerUrl) -> None:
    (err,) = errors(events)
    p = host_ports(events)
    assert err == {
        "type": "icecandidateerror", "t": err["t"], "address": ANY4, "port": p[4],
        "url": f"stun:127.0.0.1:{server.port}", "errorCode": 701, "errorText": STUN_TIMEOUT_TEXT,
        "hostCandidate": f"{ANY4}:{p[4]}",
    }
    assert not cands(events, "srflx")
    # The first send goes out as the allocation sequence starts, at "gathering".
    elapsed = err["t"] - t_of(events, "gathering")
    assert abs(elapsed - GIVE_UP_MS) <= 0.02 * GIVE_UP_MS, elapsed
    assert 0 < t_of(events, "complete") - err["t"] <= 20  # README: complete within ~4 ms


async def test_block_udp_all_times_out(coturn):
    server = parse_ice_url(coturn.stun_url)
    events = await gather_lines([server], faults=Faults(block_udp_all=True), time_scale=200)
    _assert_stun_timeout(events, server)


async def test_block_udp_to_server_times_out(coturn):
    server = parse_ice_url(coturn.stun_url)
    faults = Faults(block_udp=frozenset({("127.0.0.1", coturn.port)}))
    events = await gather_lines([server], faults=faults, time_scale=200)
    _assert_stun_timeout(events, server)


async def test_block_udp_other_port_does_not_block(coturn):
    server = parse_ice_url(coturn.stun_url)
    faults = Faults(block_udp=frozenset({("127.0.0.1", coturn.port + 1)}))
    events = await gather_lines([server], faults=faults, time_scale=200)
    assert not errors(events)
    assert len(cands(events, "srflx")) == 1


async def test_retransmissions_nine_sends_doubling(closed_port):
    """B6 / capture S5: 9 sends, RTO 250 ms doubling, capped at 8 s; the IPv6 socket sends
    nothing to an IPv4 literal server."""
    server = parse_ice_url(f"stun:127.0.0.1:{closed_port}")
    scale = 25
    net = RecordingNet(FaultyNet(RealNet(), Faults(block_udp_all=True)))
    events = await gather_lines([server], net=net, time_scale=scale)
    assert [e["errorText"] for e in errors(events)] == [STUN_TIMEOUT_TEXT]
    assert {dest for _, _, dest in net.sends} == {("127.0.0.1", closed_port)}
    assert {local[0] for _, local, _ in net.sends} == {"0.0.0.0"}
    assert len(net.sends) == 9
    # Real gaps follow the browser schedule divided by the scale (nominal 250 500 1000 2000
    # 4000 8000 8000 8000 ms), floored at MIN_REAL_RTO_S so a scaled timer never fires
    # before a real round trip could answer.
    real_gaps = [(b[0] - a[0]) * 1000 for a, b in zip(net.sends, net.sends[1:])]
    nominal = [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]
    floor_ms = MIN_REAL_RTO_S * 1000
    for got, nom in zip(real_gaps, nominal):
        want = max((nom + 14) / scale, floor_ms)
        assert want * 0.97 <= got <= want * 1.15 + 15, (real_gaps, nominal)


async def test_drop_half_still_gets_srflx():
    """With half the datagrams lost, retransmissions still get the srflx (seeded drops)."""
    async with StunServer() as stun_server:
        server = parse_ice_url(f"stun:127.0.0.1:{stun_server.address[1]}")
        delays = []
        for seed in range(8):
            events = await gather_lines([server], seed=seed, faults=Faults(drop=0.5), time_scale=50)
            assert not errors(events), seed
            (srflx,) = cands(events, "srflx")
            assert srflx["port"] == host_ports(events)[4]
            delays.append(srflx_delay(events))
        # Some seeds lost the first request: their srflx came after a retransmission (>= 250 ms).
        assert any(d >= 250 for d in delays), delays
        assert any(d < 250 for d in delays), delays
        # Same seed, same losses.
        again = await gather_lines([server], seed=0, faults=Faults(drop=0.5), time_scale=50)
        assert (srflx_delay(again) >= 250) == (delays[0] >= 250)


def srflx_delay(events: list[dict]) -> float:
    t = next(e["t"] for e in events if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["type"] == "srflx")
    return t - t_of(events, "gathering")


# ---------------------------------------------------------------------------------------------
# Name resolution (captures README: one 701 per socket family)
# ---------------------------------------------------------------------------------------------


async def test_nxdomain_one_701_per_family():
    server = parse_ice_url("stun:nx.test:3478")
    events = await gather_lines([server], faults=Faults(resolve=(parse_resolve("nx.test=NXDOMAIN"),)))
    p = host_ports(events)
    errs = sorted(errors(events), key=lambda e: e["address"])
    text = "STUN host lookup received error."
    assert [(e["address"], e["port"], e["hostCandidate"], e["url"], e["errorCode"], e["errorText"]) for e in errs] == [
        (ANY4, p[4], f"{ANY4}:{p[4]}", "stun:nx.test:3478", 701, text),
        (ANY6, p[6], f"{ANY6}:{p[6]}", "stun:nx.test:3478", 701, text),
    ]
    assert not cands(events, "srflx")


async def test_a_record_only_701_on_ipv6_socket(coturn):
    server = parse_ice_url(f"stun:stun.test:{coturn.port}")
    rules = (parse_resolve("stun.test=127.0.0.1"),)
    events = await gather_lines([server], faults=Faults(resolve=rules))
    p = host_ports(events)
    (err,) = errors(events)
    assert (err["address"], err["port"], err["errorCode"], err["errorText"], err["url"]) == (
        ANY6, p[6], 701, "STUN host lookup received error.", f"stun:stun.test:{coturn.port}")
    (srflx,) = cands(events, "srflx")
    # The url keeps the configured name (B6); srflx = 127.0.0.1 with the IPv4 host port (S3a).
    assert (srflx["address"], srflx["port"], srflx["url"]) == ("127.0.0.1", p[4], f"stun:stun.test:{coturn.port}")
    assert (srflx["relatedAddress"], srflx["relatedPort"]) == ("0.0.0.0", 0)


# ---------------------------------------------------------------------------------------------
# TURN against coturn
# ---------------------------------------------------------------------------------------------


async def test_turn_udp_relay(coturn):
    server = turn(coturn.turn_udp_url, coturn.username, coturn.password)
    events = await gather_lines([server])
    assert not errors(events)
    p = host_ports(events)
    (srflx,) = cands(events, "srflx")
    (relay,) = cands(events, "relay")
    assert (srflx["address"], srflx["port"], srflx["url"]) == ("127.0.0.1", p[4], f"stun:127.0.0.1:{coturn.port}")
    assert relay["relayProtocol"] is None  # captures README: null for a UDP relay
    assert relay["priority"] == 50339839
    assert relay["url"] == f"turn:127.0.0.1:{coturn.port}?transport=udp"
    assert (relay["relatedAddress"], relay["relatedPort"]) == (srflx["address"], p[4])
    assert relay["address"] == "127.0.0.1" and coturn.relay_min_port <= relay["port"] <= coturn.relay_max_port
    assert f" raddr 127.0.0.1 rport {p[4]} " in relay["candidate"]
    # Relay phase: +50 ms after the sequence starts (B6), so after the srflx.
    t_relay = next(e["t"] for e in events if e["type"] == "icecandidate" and e["candidate"] is relay)
    assert t_relay - t_of(events, "gathering") >= 50


async def test_turn_tcp_relay(coturn):
    server = turn(coturn.turn_tcp_url, coturn.username, coturn.password)
    events = await gather_lines([server])
    assert not errors(events)
    assert not cands(events, "srflx")  # a TCP TURN server is not a STUN server
    (relay,) = cands(events, "relay")
    assert relay["relayProtocol"] == "tcp"
    assert relay["protocol"] == "udp"  # the relayed transport is UDP
    assert relay["priority"] == 16785407
    assert relay["url"] == f"turn:127.0.0.1:{coturn.port}?transport=tcp"
    assert relay["relatedAddress"] == "127.0.0.1"


async def test_two_turn_servers_relay_preference(coturn):
    servers = [turn(coturn.turn_udp_url), turn(coturn.turn_tcp_url)]
    events = await gather_lines(servers)
    relays = {c["url"].rsplit("=", 1)[1]: c["priority"] for c in cands(events, "relay")}
    assert relays == {"udp": 50340095, "tcp": 16785407}
    assert len(cands(events, "srflx")) == 1  # the UDP TURN server doubles as STUN


async def test_turn_wrong_password(coturn):
    events = await gather_lines([turn(coturn.turn_udp_url, coturn.username, "wrong")])
    p = host_ports(events)
    (err,) = errors(events)
    assert err == {
        "type": "icecandidateerror", "t": err["t"], "address": ANY4, "port": p[4],
        "url": f"turn:127.0.0.1:{coturn.port}?transport=udp", "errorCode": 401, "errorText": "Unauthorized.",
        "hostCandidate": f"{ANY4}:{p[4]}",
    }
    assert not cands(events, "relay") and len(cands(events, "srflx")) == 1


@pytest.mark.parametrize(
    ("username", "credential", "message"),
    [(None, None, "Both username and credential are required"), ("", "", "TURN server with empty username or password"),
     ("test", None, "Both username and credential are required"), ("", "secret", "empty username or password")],
)
async def test_turn_missing_credentials_refused_like_the_constructor(coturn, username, credential, message):
    """Capture H: Chrome 156 throws InvalidAccessError in the RTCPeerConnection constructor, so
    no 401 "Missing TURN server credentials." reaches the page; icesim refuses the config."""
    with pytest.raises(ConfigError) as info:
        await gather_lines([turn(coturn.turn_udp_url, username, credential)])
    assert message in str(info.value) and "InvalidAccessError" in str(info.value)


async def test_turn_tcp_closed_port(closed_port):
    server = turn(f"turn:127.0.0.1:{closed_port}?transport=tcp")
    events = await gather_lines([server])
    (err,) = errors(events)
    assert err == {
        "type": "icecandidateerror", "t": err["t"], "address": None, "port": None,
        "url": f"turn:127.0.0.1:{closed_port}?transport=tcp", "errorCode": 701,
        "errorText": "Failed to establish connection", "hostCandidate": ":0",
    }
    assert not cands(events, "relay") and not cands(events, "srflx")


async def test_turn_udp_closed_port_two_701s(closed_port):
    """Captures README: an unreachable UDP TURN server gives two 701s, the STUN binding timeout
    then the TURN allocate timeout ~50-60 ms later (relay phase)."""
    server = turn(f"turn:127.0.0.1:{closed_port}?transport=udp")
    events = await gather_lines([server], time_scale=200)
    p = host_ports(events)
    stun_err, turn_err = errors(events)
    assert (stun_err["url"], stun_err["errorText"], stun_err["port"]) == (
        f"stun:127.0.0.1:{closed_port}", STUN_TIMEOUT_TEXT, p[4])
    assert (turn_err["url"], turn_err["errorCode"], turn_err["errorText"], turn_err["port"]) == (
        f"turn:127.0.0.1:{closed_port}?transport=udp", 701, "TURN allocate request timed out.", p[4])
    assert 25 <= turn_err["t"] - stun_err["t"] <= 100, (stun_err["t"], turn_err["t"])
    assert abs(stun_err["t"] - t_of(events, "gathering") - GIVE_UP_MS) <= 0.02 * GIVE_UP_MS
    assert 0 < t_of(events, "complete") - turn_err["t"] <= 20
    assert not cands(events, "relay") and not cands(events, "srflx")


# ---------------------------------------------------------------------------------------------
# Two STUN servers behind the virtual NAT
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("nat", "expected"), [("symmetric", 2), ("eim", 1)])
async def test_two_stun_servers_nat(nat, expected):
    """A symmetric NAT maps the socket to a new port per server: two srflx. An endpoint-
    independent one maps both to the same address: libwebrtc emits it once."""
    a, b = StunServer(map_address="203.0.113.1", nat=nat), StunServer(map_address="203.0.113.1", nat=nat)
    await a.start("127.0.0.1", 0)
    await b.start("127.0.0.1", 0)
    try:
        servers = [parse_ice_url(f"stun:127.0.0.1:{s.address[1]}") for s in (a, b)]
        events = await gather_lines(servers)
    finally:
        a.close()
        b.close()
    assert not errors(events)
    srflx = cands(events, "srflx")
    assert len(srflx) == expected
    assert {c["address"] for c in srflx} == {"203.0.113.1"}
    assert len({c["port"] for c in srflx}) == expected
    assert all(c["priority"] == 1677729535 and c["relatedAddress"] == "0.0.0.0" for c in srflx)
    assert {c["url"] for c in srflx} <= {f"stun:127.0.0.1:{s.address[1]}" for s in (a, b)}
    if nat == "symmetric":
        assert len({c["url"] for c in srflx}) == 2
    else:
        assert srflx[0]["port"] == host_ports(events)[4]  # port preserving


# ---------------------------------------------------------------------------------------------
# Permission (enumerated interfaces): host + TCP active only, real IPs
# ---------------------------------------------------------------------------------------------

_COST = {"ethernet": None, "wifi": "10", "unknown": "50", "cellular": "900"}


async def test_permission_enumerated_host_and_tcp_active():
    usable = [
        i for i in machine_interfaces()
        if i.adapter_type != "loopback" and not i.address.is_loopback and not i.address.is_link_local
    ]
    if not usable:
        pytest.skip("this machine has no non-loopback interface to enumerate")
    events = await gather_lines([], interfaces=list(machine_interfaces()), permission=True)
    assert not errors(events)
    udp, tcp = cands(events, "host", "udp"), cands(events, "host", "tcp")
    assert len(cands(events)) == len(udp) + len(tcp)
    addr = lambda i: f"[{i.address}]" if i.address.version == 6 else str(i.address)  # noqa: E731
    by_addr = {addr(i): i for i in usable}
    assert sorted(c["address"] for c in udp) == sorted(by_addr) == sorted(c["address"] for c in tcp)
    # Ranks 127, 126, ... : one per network, in priority order.
    ranks = sorted(((c["priority"] >> 16) & 0xFF for c in udp), reverse=True)
    assert ranks == list(range(127, 127 - len(udp), -1))
    net_ids = set()
    for c in udp:
        fields = dict(re.findall(r" (network-id|network-cost) (\d+)", c["candidate"]))
        assert not MDNS_RE.match(c["address"]) and ".local" not in c["candidate"]
        assert c["priority"] >> 24 == 126 and c["port"] > 0
        assert fields.get("network-cost") == _COST.get(by_addr[c["address"]].adapter_type, fields.get("network-cost"))
        net_ids.add(fields["network-id"])
        (t,) = [x for x in tcp if x["address"] == c["address"]]
        assert (t["port"], t["tcpType"], t["protocol"]) == (9, "active", "tcp")
        assert " tcptype active " in t["candidate"] and t["priority"] >> 24 == 90
        assert t["priority"] & 0xFFFFFF == c["priority"] & 0xFFFFFF  # same network rank and precedence
        assert f"network-id {fields['network-id']}" in t["candidate"]
    assert len(net_ids) == len(udp)
    # TCP candidates come in the TCP phase, after every UDP host candidate (B6: +100 ms).
    order = [e["candidate"]["protocol"] for e in events if e["type"] == "icecandidate" and e["candidate"]]
    assert order == ["udp"] * len(udp) + ["tcp"] * len(tcp)


async def test_permission_srflx_raddr_is_real_base(coturn):
    """With permission: srflx raddr/rport = the real local address and port (B5), enumerated
    priority (rank 126: the ULA network ranks first) and the network-id of its network.
    The capture addresses are not on this machine: icesim binds the any address for them."""
    events = await gather_lines([parse_ice_url(coturn.stun_url)], permission=True)
    assert not errors(events)
    host4 = next(c for c in cands(events, "host", "udp") if c["address"] == "198.51.100.2")
    (srflx,) = cands(events, "srflx")
    assert srflx["priority"] == (100 << 24) | (((126 << 8) | 30) << 8) | 255 == 1685987071
    assert (srflx["relatedAddress"], srflx["relatedPort"]) == ("198.51.100.2", host4["port"])
    assert (srflx["address"], srflx["port"]) == ("127.0.0.1", host4["port"])
    assert srflx["candidate"].endswith(" network-id 1") and host4["candidate"].endswith(" network-id 1")
    assert host4["priority"] == 2122194687


async def test_permission_loopback_only_gathers_nothing():
    lo = [Interface("lo", ipaddress.ip_address("127.0.0.1"), "loopback")]
    events = await gather_lines([], interfaces=lo, permission=True)
    assert [e["type"] for e in events] == ["icegatheringstatechange", "icegatheringstatechange", "icecandidate"]


# ---------------------------------------------------------------------------------------------
# Page timeout and reproducibility
# ---------------------------------------------------------------------------------------------


async def test_page_timeout_ends_stream_without_complete(coturn):
    server = parse_ice_url(coturn.stun_url)
    loop = asyncio.get_running_loop()
    start = loop.time()
    events = await gather_lines([server], complete=False, timeout_ms=100, faults=Faults(block_udp_all=True))
    assert loop.time() - start < 5.0  # time_scale 1: the page gives up long before the 40 s 701
    assert all(e["t"] <= 100 for e in events)
    assert not any(e["type"] == "icegatheringstatechange" and e["state"] == "complete" for e in events)
    assert not any(e["type"] == "icecandidate" and e["candidate"] is None for e in events)
    assert not errors(events)
    assert len(cands(events, "host")) == 2  # the host candidates came before the deadline


async def test_seed_reproducible(coturn):
    server = parse_ice_url(coturn.stun_url)

    def identity(events):
        cs = cands(events)
        return (
            {c["usernameFragment"] for c in cs},
            sorted((c["type"], c["priority"], c["address"] if c["type"] == "host" else "", c["foundation"]) for c in cs),
        )

    a = await gather_lines([server], seed=42)
    b = await gather_lines([server], seed=42)
    c = await gather_lines([server], seed=43)
    assert identity(a) == identity(b)
    assert identity(a) != identity(c)
    (ufrag,) = identity(a)[0]
    assert re.fullmatch(r"[A-Za-z0-9+/]{4}", ufrag)
    names = [x["address"] for x in cands(a, "host")]
    assert len(names) == 2 and all(MDNS_RE.match(n) for n in names)
    # Foundations differ between connections (random tiebreaker, B3).
    assert {x["foundation"] for x in cands(a)}.isdisjoint({x["foundation"] for x in cands(c)})
    # The timing jitter is seeded too: same browser times for the timer-driven events.
    assert t_of(a, "gathering") == t_of(b, "gathering")
