"""icesim reproduces the real Chromium 156 captures (shared/captures/S*.json) on loopback.

Each capture's network is rebuilt on 127.0.0.1: the capture machine's addresses are given as
interfaces (they only show as host addresses: the sockets bind the any address), coturn stands
in for the capture's coturn, the embedded STUN server with a symmetric NAT for the router of
S3d, and a closed port for S5's dropped UDP (Chrome ignores ICMP port unreachable, README).

Streams are compared field for field after `shape()` replaces what is random in the browser
too (foundations, mDNS uuids, ports, ufrag, the server's own host:port); ports keep their
identity where the capture shows it (P4 = the IPv4 socket's port, P6 = the IPv6 socket's).
The order of events is compared modulo the documented variance: srflx may come before or after
the mDNS host candidates (captures README); everything else keeps its order.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

import icesim
from icesim.config import IceServerUrl, Interface, parse_ice_url
from icesim.schema import load_schema, validate_line
from icesim.stun_server import StunServer

CAPTURES = Path("/work/shared/captures")

# shared/captures/netns_layout.txt: the browser namespace's eth0.
CAPTURE_INTERFACES = [
    Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True),
    Interface("eth0", ipaddress.ip_address("fd00:5::2"), "ethernet", default=True),
]
# S3d's router: `masquerade random` (symmetric) with public address 203.0.113.1.
NAT_PUBLIC = "203.0.113.1"

W3C_FIELDS = (
    "candidate", "sdpMid", "sdpMLineIndex", "foundation", "component", "priority", "address",
    "protocol", "port", "type", "tcpType", "relatedAddress", "relatedPort", "usernameFragment",
    "relayProtocol", "url",
)
MDNS_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.local$")
UFRAG_RE = re.compile(r"^[A-Za-z0-9+/]{4}$")
GATHER_TIMEOUT_S = 20.0


# ---------------------------------------------------------------------------------------------
# Loading captures and running icesim, both into icesim's line format
# ---------------------------------------------------------------------------------------------


def load_capture(name: str) -> tuple[list[dict], list[IceServerUrl]]:
    """The capture's ICE events as icesim lines, and its iceServers."""
    (path,) = CAPTURES.glob(f"{name}_chromium_*.json")
    data = json.loads(path.read_text())
    lines: list[dict] = []
    for e in data["page"]["events"]:
        kind = e["kind"]
        if kind == "icegatheringstatechange":
            lines.append({"type": kind, "t": e["t"], "state": e["state"]})
        elif kind == "icecandidate":
            cand = e["candidate"]
            if cand is not None:
                assert set(cand) == set(W3C_FIELDS) | {"toJSON"}, sorted(cand)
                cand = {f: cand[f] for f in W3C_FIELDS if cand[f] != "<<absent>>"}
            lines.append({"type": kind, "t": e["t"], "candidate": cand})
        elif kind == "icecandidateerror":
            lines.append({"type": kind, "t": e["t"], **e["error"]})
    servers = [
        parse_ice_url(s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in data["meta"]["scenario"]["cfg"].get("iceServers", [])
    ]
    return lines, servers


async def run_icesim(servers: list[IceServerUrl], **options) -> list[dict]:
    """Gather on the capture's interfaces; every line is checked against the schema."""
    config = icesim.GatherConfig(servers=servers, interfaces=CAPTURE_INTERFACES, **options)

    async def collect() -> list[dict]:
        return [validate_line(icesim.to_json_line(ev)) for ev in [e async for e in icesim.gather(config)]]

    lines = await asyncio.wait_for(collect(), GATHER_TIMEOUT_S)
    assert lines[0]["type"] == "meta"
    assert lines[0]["servers"] == [_server_text(s) for s in servers]
    return lines[1:]


def _server_text(s: IceServerUrl) -> str:
    host = f"[{s.host}]" if ":" in s.host else s.host
    return f"{s.scheme}:{host}:{s.port}" + (f"?transport={s.transport}" if s.transport else "")


# ---------------------------------------------------------------------------------------------
# Normalising: shape() and labels
# ---------------------------------------------------------------------------------------------


def _family_of_host(cand: dict) -> int:
    """IPv4 or IPv6 socket, from the address precedence byte of the priority (30 = IPv4)."""
    return 4 if (cand["priority"] >> 8) & 0xFF == 30 else 6


def socket_ports(lines: Iterable[dict]) -> dict[int, str]:
    """port -> "P4"/"P6": the UDP socket ports, known from the UDP host candidates."""
    ports: dict[int, str] = {}
    for line in lines:
        c = line.get("candidate") if line["type"] == "icecandidate" else None
        if c and c["type"] == "host" and c["protocol"] == "udp":
            ports[c["port"]] = f"P{_family_of_host(c)}"
    return ports


def shape(line: dict, ports: dict[int, str], server: str | None) -> dict:
    """The line with what is random in the browser too replaced by placeholders.

    Checks the internal consistency of what it replaces on the way (foundation and ufrag
    attributes equal their string parts; mDNS names are lowercase uuid4.local)."""

    def port_sym(p):
        if p in (None, 0):
            return p
        return ports.get(p, "P*")

    def url_shape(url):
        if url and server:
            url = url.replace(server, "<SERVER>")
        return url

    out = {k: v for k, v in line.items() if k != "t"}
    if line["type"] == "icecandidate" and line["candidate"] is not None:
        c = dict(line["candidate"])
        tokens = c["candidate"].split()
        assert tokens[0] == f"candidate:{c['foundation']}" and c["foundation"].isdigit()
        tokens[0] = "candidate:<F>"
        if MDNS_RE.match(tokens[4]):
            assert c["address"] == tokens[4]
            tokens[4] = "<MDNS>"
        tokens[5] = str(port_sym(int(tokens[5])))
        for i, tok in enumerate(tokens[:-1]):
            if tok == "rport":
                tokens[i + 1] = str(port_sym(int(tokens[i + 1])))
            elif tok == "ufrag":
                assert tokens[i + 1] == c["usernameFragment"] and UFRAG_RE.match(tokens[i + 1])
                tokens[i + 1] = "<UFRAG>"
        c["candidate"] = " ".join(tokens)
        c["foundation"] = "<F>"
        c["usernameFragment"] = "<UFRAG>"
        if MDNS_RE.match(c["address"]):
            c["address"] = "<MDNS>"
        c["port"] = port_sym(c["port"])
        c["relatedPort"] = port_sym(c["relatedPort"])
        c["url"] = url_shape(c.get("url"))
        out["candidate"] = c
    elif line["type"] == "icecandidateerror":
        out["port"] = port_sym(line["port"])
        out["url"] = url_shape(line["url"])
        if "hostCandidate" in line:
            addr, _, port = line["hostCandidate"].rpartition(":")
            out["hostCandidate"] = f"{addr}:{port_sym(int(port))}"
    return out


def label(line: dict) -> str:
    if line["type"] == "icegatheringstatechange":
        return line["state"]
    if line["type"] == "icecandidateerror":
        return f"error {line['errorCode']} {line['url'].split(':')[0]}"
    c = line["candidate"]
    if c is None:
        return "null"
    if c["type"] == "host" and c["protocol"] == "udp":
        return f"host{_family_of_host(c)}"
    return f"{c['type']} {c['protocol']}"


def check_invariant_order(lines: list[dict]) -> None:
    """gathering -> ... -> complete -> null, and t never goes back. Only a pooled session's
    candidates may precede "gathering" (tests/data/chromium156 Q1/Q2: iceCandidatePoolSize)."""
    labels = [label(x) for x in lines]
    pooled = 0
    while pooled < len(lines) and lines[pooled]["type"] == "icecandidate" and lines[pooled]["candidate"]:
        pooled += 1
    labels = labels[pooled:]
    assert labels[0] == "gathering", labels
    assert labels[-2:] == ["complete", "null"], labels
    assert "gathering" not in labels[1:] and labels.count("complete") == 1 and labels.count("null") == 1
    ts = [x["t"] for x in lines]
    assert ts == sorted(ts), ts


def compare_streams(
    got: list[dict], want: list[dict], got_server: str | None, want_server: str | None,
    unordered: tuple[str, ...] = (),
) -> None:
    """Same events field for field (random parts normalised) and the same order, except the
    srflx-vs-host variance and labels in `unordered` (events of independent sockets)."""
    check_invariant_order(want)  # the capture itself
    check_invariant_order(got)
    got_ports, want_ports = socket_ports(got), socket_ports(want)
    assert sorted(got_ports.values()) == sorted(want_ports.values())
    got_shapes = sorted(json.dumps(shape(x, got_ports, got_server), sort_keys=True) for x in got)
    want_shapes = sorted(json.dumps(shape(x, want_ports, want_server), sort_keys=True) for x in want)
    assert got_shapes == want_shapes
    # Order modulo the documented variance: srflx vs the (mDNS) host candidates.
    got_labels = [x for x in map(label, got) if not x.startswith(unordered or ("\0",))]
    want_labels = [x for x in map(label, want) if not x.startswith(unordered or ("\0",))]
    no_srflx = lambda labels: [x for x in labels if not x.startswith("srflx")]  # noqa: E731
    no_host = lambda labels: [x for x in labels if not x.startswith("host")]  # noqa: E731
    assert no_srflx(got_labels) == no_srflx(want_labels)
    assert no_host(got_labels) == no_host(want_labels)
    # mDNS names: one per host candidate (one per socket address).
    for lines in (got, want):
        names = [x["candidate"]["address"] for x in lines
                 if x["type"] == "icecandidate" and x["candidate"] and MDNS_RE.match(x["candidate"]["address"])]
        assert len(names) == len(set(names))
    # One ufrag per gather.
    for lines in (got, want):
        ufrags = {x["candidate"]["usernameFragment"] for x in lines if x["type"] == "icecandidate" and x["candidate"]}
        assert len(ufrags) <= 1


def t_rel(lines: list[dict], predicate) -> float:
    """t of the first line matching, relative to gathering start."""
    t0 = next(x["t"] for x in lines if label(x) == "gathering")
    return next(x["t"] for x in lines if predicate(x)) - t0


def hostport(s: IceServerUrl) -> str:
    return f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}"


# ---------------------------------------------------------------------------------------------
# The captures as data: they validate against the schema too
# ---------------------------------------------------------------------------------------------

ALL_CAPTURES = ["S1", "S2", "S3a", "S3d", "S5", "S7", "S8"]


def test_schema_is_valid_draft_2020_12():
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "1" in schema["$id"]


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_capture_lines_fit_the_schema(name):
    """Real Chromium events, in icesim's line format, are valid icesim.events/1 lines."""
    lines, _ = load_capture(name)
    for line in lines:
        validate_line(line)


def test_schema_rejects_what_chrome_never_sends():
    from icesim.schema import EventSchemaError

    lines, _ = load_capture("S8")
    relay = next(x for x in lines if label(x) == "relay udp")
    error = {"type": "icecandidateerror", "t": 1.0, "address": None, "port": None,
             "url": "turn:127.0.0.1:3478?transport=tcp", "errorCode": 701,
             "errorText": "Failed to establish connection", "hostCandidate": ":0"}
    validate_line(error)
    eoc = dict(relay["candidate"], candidate="", foundation=None, component=None, priority=None,
               address=None, protocol=None, port=None, type=None, relatedAddress=None, relatedPort=None)
    validate_line({"type": "icecandidate", "t": 1, "candidate": eoc})
    firefox_like = {k: v for k, v in relay["candidate"].items() if k not in ("relayProtocol", "url")}
    validate_line({"type": "icecandidate", "t": 1, "candidate": firefox_like})
    bad = [
        {**relay, "extra": 1},
        {**relay, "candidate": {**relay["candidate"], "port": 70000}},
        {**relay, "candidate": {**relay["candidate"], "relatedAddress": None}},
        {**relay, "candidate": {**relay["candidate"], "tcpType": "active"}},
        {**relay, "candidate": {**relay["candidate"], "url": 5}},
        {**relay, "candidate": {k: v for k, v in relay["candidate"].items() if k != "usernameFragment"}},
        {**error, "errorCode": 0},
        {**error, "errorCode": 800},
        {**error, "port": 5},
        {**error, "hostCandidate": None},
        {k: v for k, v in error.items() if k != "errorText"},
        {"type": "icegatheringstatechange", "t": 1, "state": "done"},
        {"type": "meta"},
        '{"type": "icecandidate", "t": 1',
    ]
    for obj in bad:
        with pytest.raises(EventSchemaError):
            validate_line(obj)


# ---------------------------------------------------------------------------------------------
# Reproductions
# ---------------------------------------------------------------------------------------------

SEEDS = [1, 2]


@pytest.mark.parametrize("seed", SEEDS)
async def test_s1_host_mdns(seed):
    want, servers = load_capture("S1")
    assert servers == []
    got = await run_icesim([], seed=seed)
    compare_streams(got, want, None, None)


@pytest.mark.parametrize("seed", SEEDS)
async def test_s2_host_no_mdns(seed):
    want, servers = load_capture("S2")
    got = await run_icesim([], seed=seed, mdns=False)
    compare_streams(got, want, None, None)
    # The raw default addresses, the IPv6 one bracketed in the attribute only.
    hosts = [x["candidate"] for x in got if label(x).startswith("host")]
    assert [h["address"] for h in hosts] == ["198.51.100.2", "[fd00:5::2]"]
    assert " fd00:5::2 " in hosts[1]["candidate"]


@pytest.mark.parametrize("seed", SEEDS)
async def test_s3a_stun_ip(coturn, seed):
    want, (cap_server,) = load_capture("S3a")
    server = parse_ice_url(coturn.stun_url)
    got = await run_icesim([server], seed=seed)
    compare_streams(got, want, hostport(server), hostport(cap_server))
    # The srflx of a loopback server is 127.0.0.1 with the IPv4 host port (S3a).
    srflx = next(x["candidate"] for x in got if label(x).startswith("srflx"))
    host4 = next(x["candidate"] for x in got if label(x) == "host4")
    assert (srflx["address"], srflx["port"]) == ("127.0.0.1", host4["port"])


@pytest.mark.parametrize("seed", SEEDS)
async def test_s3d_stun_symmetric_nat(seed):
    want, (cap_server,) = load_capture("S3d")
    nat = StunServer(map_address=NAT_PUBLIC, nat="symmetric")
    host, port = await nat.start("127.0.0.1", 0)
    try:
        server = parse_ice_url(f"stun:{host}:{port}")
        got = await run_icesim([server], seed=seed)
    finally:
        nat.close()
    compare_streams(got, want, hostport(server), hostport(cap_server))
    srflx = next(x["candidate"] for x in got if label(x).startswith("srflx"))
    host4 = next(x["candidate"] for x in got if label(x) == "host4")
    assert srflx["address"] == NAT_PUBLIC and srflx["port"] != host4["port"]
    assert srflx["url"] == f"stun:127.0.0.1:{port}"


async def test_s5_stun_udp_dropped(closed_port):
    want, (cap_server,) = load_capture("S5")
    server = parse_ice_url(f"stun:127.0.0.1:{closed_port}")
    got = await run_icesim([server], seed=1, time_scale=200)
    compare_streams(got, want, hostport(server), hostport(cap_server))
    is_701 = lambda x: x["type"] == "icecandidateerror"  # noqa: E731
    t_got, t_want = t_rel(got, is_701), t_rel(want, is_701)
    assert abs(t_got - t_want) <= 0.02 * t_want, (t_got, t_want)
    # Complete follows the 701 within a few ms (S5: 3.9 ms), then the null candidate.
    complete = next(x["t"] for x in got if label(x) == "complete")
    err = next(x["t"] for x in got if is_701(x))
    assert 0 < complete - err <= 20


@pytest.mark.parametrize("seed", SEEDS)
async def test_s7_turn_udp_bad_credential(coturn, seed):
    want, (cap_server,) = load_capture("S7")
    assert cap_server.credential == "wrong"
    server = parse_ice_url(coturn.turn_udp_url, username=coturn.username, credential="wrong")
    got = await run_icesim([server], seed=seed)
    compare_streams(got, want, hostport(server), hostport(cap_server))


@pytest.mark.parametrize("seed", SEEDS)
async def test_s8_turn_udp(coturn, seed):
    want, (cap_server,) = load_capture("S8")
    server = parse_ice_url(coturn.turn_udp_url, username=coturn.username, credential=coturn.password)
    got = await run_icesim([server], seed=seed)
    compare_streams(got, want, hostport(server), hostport(cap_server))
    relay = next(x["candidate"] for x in got if label(x) == "relay udp")
    srflx = next(x["candidate"] for x in got if label(x).startswith("srflx"))
    assert coturn.relay_min_port <= relay["port"] <= coturn.relay_max_port
    assert (relay["relatedAddress"], relay["relatedPort"]) == (srflx["address"], srflx["port"])
