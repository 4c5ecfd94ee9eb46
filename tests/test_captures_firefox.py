"""icesim speaking Firefox reproduces the real Firefox 153 ESR captures (shared/captures F1,
F3d, F5b, F8c and tests/data/firefox) on loopback.

Each capture's network is rebuilt on 127.0.0.1: its interfaces are given as interfaces, its
public servers are aliases of loopback servers (tests/alias_net.py: the URLs stay the
capture's), the embedded STUN server with a virtual NAT stands in for the capture's router
(or for its NAT-less namespace: mapped address = the host's own), coturn for its coturn, a
closed port for dropped UDP. Streams are compared field for field after `shape()` replaces
what is random in Firefox too (mDNS uuids, ports, ufrag) or differs only because the server
is on loopback (relay and TURN-mapped addresses). Foundations and priorities are compared as
they are: Firefox's are deterministic. The order is compared as Firefox's is fixed: refused
errors, "gathering", the UDP hosts in socket order, then the candidates and errors whose order
depends on round trips (compared as a set, TCP hosts in socket order), then "", complete, null.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest

from alias_net import AliasNet
import icesim
from icesim.config import Faults, parse_ice_url, parse_resolve
from icesim.schema import validate_line
from icesim.stun_server import StunServer

SHARED = Path("/work/shared/captures")
OURS = Path(__file__).parent / "data" / "firefox"
V4 = icesim.Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", True)
SHARED_IFACES = [V4, icesim.Interface("eth0", ipaddress.ip_address("fd00:5::2"), "ethernet", True)]
OUR_IFACES = [V4, icesim.Interface("eth0", ipaddress.ip_address("2001:db8:5::2"), "ethernet", True)]
MDNS_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.local$")
ABSENT = "<<absent>>"


def load(path: Path) -> tuple[list[dict], list]:
    """The capture's events as icesim lines (absent attributes dropped), and its iceServers."""
    data = json.loads(path.read_text())
    events = data["page"]["events"] if "page" in data else data["events"]
    cfg = data["meta"]["scenario"]["cfg"] if "page" in data else data["meta"]["cfg"]
    lines = []
    for e in events:
        if e["kind"] == "icegatheringstatechange":
            lines.append({"type": e["kind"], "t": e["t"], "state": e["state"]})
        elif e["kind"] == "icecandidate":
            c = e["candidate"]
            lines.append({"type": e["kind"], "t": e["t"],
                          "candidate": None if c is None else {k: v for k, v in c.items() if v != ABSENT and k != "toJSON"}})
        elif e["kind"] == "icecandidateerror":
            lines.append({"type": e["kind"], "t": e["t"], **{k: v for k, v in e["error"].items() if v != ABSENT}})
    servers = []
    for s in cfg.get("iceServers", []):
        for url in [s["urls"]] if isinstance(s["urls"], str) else s["urls"]:
            servers.append(parse_ice_url(url, username=s.get("username"), credential=s.get("credential")))
    return lines, servers


async def run(servers, net=None, interfaces=OUR_IFACES, **options) -> list[dict]:
    config = icesim.GatherConfig(browser="firefox", servers=servers, interfaces=interfaces, seed=9, **options)
    return [validate_line(icesim.to_json_line(e)) async for e in icesim.gather(config, net)][1:]


def shape(lines: list[dict], server_side: frozenset[str] = frozenset({"127.0.0.1"})) -> list[dict]:
    """Placeholders for the mDNS names (by first appearance), the UDP host ports (by socket),
    the ufrag, relay addresses and srflx addresses in `server_side` (a loopback server's view,
    or the capture's NAT address when icesim's server sits on loopback); the rest as it is."""
    names: dict[str, str] = {}
    ports: dict[int, str] = {}
    for line in lines:
        c = line.get("candidate")
        if line["type"] == "icecandidate" and c and c["type"] == "host" and c["protocol"] == "udp":
            ports.setdefault(c["port"], f"P{len(ports) + 1}")
    out = []
    for line in lines:
        line = {k: v for k, v in line.items() if k != "t"}
        c = line.get("candidate")
        if line["type"] == "icecandidate" and c:
            c = dict(c)
            assert re.fullmatch(r"[0-9a-f]{8}", c["usernameFragment"])
            c["usernameFragment"] = "<UFRAG>"
            text = c["candidate"]
            if c["type"]:
                for attr in ("address", "relatedAddress"):
                    value = c[attr]
                    if value and MDNS_RE.match(value):
                        c[attr] = names.setdefault(value, f"NAME{len(names) + 1}")
                        text = text.replace(value, c[attr])
                if c["type"] == "relay" or (c["type"] == "srflx" and c["address"] in server_side):
                    c["address"] = "<SERVER-SIDE>"
                    if c["type"] == "relay":
                        c["relatedAddress"], c["relatedPort"] = "<SERVER-SIDE>", "<R>"
                    c["port"] = "<R>"
                    tokens = text.split()
                    tokens[4], tokens[5] = c["address"], str(c["port"])
                    if c["type"] == "relay":
                        tokens[9], tokens[11] = "<SERVER-SIDE>", "<R>"
                    text = " ".join(tokens)
                else:
                    tokens = text.split()
                    sym = ports.get(c["port"], "P*") if c["port"] != 9 else 9
                    tokens[5], c["port"] = str(sym), sym
                    text = " ".join(tokens)
            c["candidate"] = text
            line["candidate"] = c
        out.append(line)
    return out


def compare(got: list[dict], want: list[dict], want_server_side: frozenset[str] = frozenset()) -> None:
    g, w = shape(got), shape(want, want_server_side)

    def split(lines):
        first_host = next(i for i, x in enumerate(lines) if x.get("candidate") and x["candidate"].get("type") == "host")
        head = lines[:first_host]
        i = first_host
        while lines[i].get("candidate") and lines[i]["candidate"].get("type") == "host" and lines[i]["candidate"]["protocol"] == "udp":
            i += 1
        return head, lines[first_host:i], lines[i:-3], lines[-3:]

    gh, gu, gm, gt = split(g)
    wh, wu, wm, wt = split(w)
    assert gh == wh  # refused-server errors, then "gathering"
    assert gu == wu  # the UDP hosts in socket order
    key = lambda x: json.dumps(x, sort_keys=True)  # noqa: E731
    assert sorted(map(key, gm)) == sorted(map(key, wm))
    tcp = lambda m: [x for x in m if x.get("candidate") and x["candidate"]["protocol"] == "tcp" and x["candidate"]["type"] == "host"]  # noqa: E731
    assert tcp(gm) == tcp(wm)
    assert gt == wt and gt[0]["candidate"]["candidate"] == ""  # "", complete, null
    for lines in (got, want):
        assert lines[-1]["t"] - lines[-3]["t"] <= 6


def gathering_t(lines):
    return next(x["t"] for x in lines if x.get("state") == "gathering")


async def stun_server(map_address: str, nat: str = "eim", host: str = "127.0.0.1"):
    server = StunServer(map_address, nat)
    _, port = await server.start(host, 0)
    return server, port


# ---------------------------------------------------------------------------------------------


async def test_F1_host():
    want, _ = load(SHARED / "F1_firefox_host.json")
    compare(await run([], interfaces=SHARED_IFACES), want)


async def test_F3d_stun_through_symmetric_nat():
    want, servers = load(SHARED / "F3d_firefox_stun_nat.json")
    server, port = await stun_server("203.0.113.1", "symmetric")
    try:
        got = await run(servers, AliasNet({("203.0.113.2", 3478): ("127.0.0.1", port)}), SHARED_IFACES)
    finally:
        server.close()
    compare(got, want)


@pytest.mark.parametrize("name,iface", [("F5b_firefox_stun_udp_dropped_nat", SHARED_IFACES), ("turn_udp_dropped", OUR_IFACES)])
async def test_dropped_udp_701_at_11_1_s(name, iface, closed_port):
    path = SHARED / f"{name}.json" if name.startswith("F") else OURS / f"{name}.json"
    want, servers = load(path)
    net = AliasNet({(servers[0].host, servers[0].port): ("127.0.0.1", closed_port)})
    got = await run(servers, net, iface, time_scale=100)
    compare(got, want)
    (g_err,), (w_err,) = [x for x in got if x["type"] == "icecandidateerror"], [x for x in want if x["type"] == "icecandidateerror"]
    assert abs((g_err["t"] - gathering_t(got)) - (w_err["t"] - gathering_t(want))) <= 0.005 * w_err["t"]


async def test_F8c_turn_udp(coturn):
    want, servers = load(SHARED / "F8c_firefox_turn_udp_nat.json")
    got = await run(servers, AliasNet({("203.0.113.2", 3478): ("127.0.0.1", coturn.port)}), SHARED_IFACES)
    compare(got, want, frozenset({"203.0.113.1"}))  # the capture's router: coturn here sees 127.0.0.1


@pytest.mark.parametrize("name,options", [
    ("host", {}),
    ("stun_loopback", {}),
    ("turn_loopback", {}),
    ("stun_nx", {"faults": Faults(resolve=(parse_resolve("nx.test=NXDOMAIN"),))}),
    ("stun_name", {"faults": Faults(resolve=(parse_resolve("stun.test=203.0.113.2"),))}),
    ("gum_stun", {"permission": True}),
    ("nomdns_stun", {"mdns": False}),
])
async def test_our_captures_with_stun(name, options):
    """The NAT-less namespace: the embedded server maps to the host's own address."""
    want, servers = load(OURS / f"{name}.json")
    server, port = await stun_server("198.51.100.2")
    try:
        got = await run(servers, AliasNet({("203.0.113.2", 3478): ("127.0.0.1", port)}), **options)
    finally:
        server.close()
    compare(got, want)


async def test_stun_v6():
    want, servers = load(OURS / "stun_v6.json")
    try:
        server, port = await stun_server("2001:db8:5::2", host="::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        got = await run(servers, AliasNet({("2001:db8:5::1", 3478): ("::1", port)}))
    finally:
        server.close()
    compare(got, want)


@pytest.mark.parametrize("name", ["turn_badcred", "turn_tcp"])
async def test_our_captures_with_coturn(name, coturn):
    want, servers = load(OURS / f"{name}.json")
    got = await run(servers, AliasNet({("203.0.113.2", 3478): ("127.0.0.1", coturn.port)}), time_scale=10)
    compare(got, want)


async def test_turn_tcp_closed(closed_port):
    want, servers = load(OURS / "turn_tcp_closed.json")
    got = await run(servers, AliasNet({("203.0.113.2", 3999): ("127.0.0.1", closed_port)}))
    compare(got, want)


@pytest.mark.parametrize("name,code", [("stun_420", (420, "Unknown Attribute")), ("stun_500", (500, "Server Error"))])
async def test_stun_error_responses(name, code):
    """420 reaches the page as 420, 500 as 65535; errorText "" either way."""
    want, servers = load(OURS / f"{name}.json")
    server = StunServer(error_code=code)
    _, port = await server.start("127.0.0.1", 0)
    try:
        got = await run(servers, AliasNet({("203.0.113.2", 3490): ("127.0.0.1", port)}), timeout_ms=20000, time_scale=100)
    finally:
        server.close()
    compare(got, want)
    assert server.stats.errors_sent == 1  # no keepalive re-sending the binding (capture: one request)


async def test_two_turn_servers_of_different_transports(coturn):
    want, servers = load(OURS / "two_turn.json")
    got = await run(servers, AliasNet({("203.0.113.2", 3478): ("127.0.0.1", coturn.port)}), time_scale=10)
    compare(got, want, frozenset({"198.51.100.2"}))  # the srflx coturn sees here is 127.0.0.1


# ---------------------------------------------------------------------------------------------
# The final localDescription (--sdp): Firefox's data-channel offer
# ---------------------------------------------------------------------------------------------


def sdp_of(path: Path) -> str:
    data = json.loads(path.read_text())
    return data["page"]["localDescription"]["sdp"] if "page" in data else data["sdp"]


def sdp_skeleton(sdp: str, candidates: list[dict]) -> list[str]:
    """The SDP with its random parts checked and replaced, and the m=/c= destination named by
    the type of the candidate it comes from ("none" = port 9, 0.0.0.0)."""
    assert sdp.endswith("\r\n")
    by_port = {(c["address"], c["port"]): c["type"] for c in candidates if c and c["candidate"]}
    out, port = [], None
    for line in sdp[:-2].split("\r\n"):
        if line.startswith("o="):
            assert re.fullmatch(r"o=mozilla\.\.\.THIS_IS_SDPARTA-99\.0 \d+ 0 IN IP4 0\.0\.0\.0", line), line
            line = "o=<ID>"
        elif line.startswith("a=fingerprint:"):
            assert re.fullmatch(r"a=fingerprint:sha-256 [0-9A-F]{2}(:[0-9A-F]{2}){31}", line), line
            line = "a=fingerprint"
        elif line.startswith(("a=ice-pwd:", "a=ice-ufrag:")):
            assert re.fullmatch(r"a=ice-(pwd:[0-9a-f]{32}|ufrag:[0-9a-f]{8})", line), line
            line = line.split(":")[0]
        elif line.startswith("a=candidate:"):
            line = "a=candidate"
        elif line.startswith("m="):
            port = int(line.split()[1])
            line = " ".join(line.split()[:1] + ["<PORT>"] + line.split()[2:])
        elif line.startswith("c="):
            addr = line.split()[-1]
            line = f"c=<{'none' if port == 9 else by_port[(addr, port)]}>"
        out.append(line)
    return out


@pytest.mark.parametrize("name,setup", [
    ("F1_firefox_host", "none"), ("F3d_firefox_stun_nat", "nat"), ("F8c_firefox_turn_udp_nat", "coturn"),
    ("nomdns_stun", "stun"), ("gum_stun", "stun"), ("two_turn", "coturn"),
])
async def test_local_description_as_captured(name, setup, request):
    path = SHARED / f"{name}.json" if name.startswith("F") else OURS / f"{name}.json"
    want, servers = load(path)
    options = {"nomdns_stun": {"mdns": False}, "gum_stun": {"permission": True}}.get(name, {})
    interfaces = SHARED_IFACES if name.startswith("F") else OUR_IFACES
    server, net = None, None
    if setup in ("nat", "stun"):
        server, port = await stun_server("203.0.113.1" if setup == "nat" else "198.51.100.2", "symmetric" if setup == "nat" else "eim")
        net = AliasNet({("203.0.113.2", 3478): ("127.0.0.1", port)})
    elif setup == "coturn":
        coturn = request.getfixturevalue("coturn")
        net = AliasNet({("203.0.113.2", 3478): ("127.0.0.1", coturn.port)})
    try:
        got = await run(servers, net, interfaces, sdp=True, time_scale=10, **options)
    finally:
        if server is not None:
            server.close()
    (desc,) = [x for x in got if x["type"] == "localdescription"]
    assert got[-1] is desc
    got_cands = [x["candidate"] for x in got if x["type"] == "icecandidate"]
    want_cands = [x["candidate"] for x in want if x["type"] == "icecandidate"]
    assert sdp_skeleton(desc["sdp"], got_cands) == sdp_skeleton(sdp_of(path), want_cands)
    # The candidate lines are the signalled candidates, in signalling order.
    assert [ln[2:] for ln in desc["sdp"].split("\r\n") if ln.startswith("a=candidate:")] == [
        c["candidate"] for c in got_cands if c and c["candidate"]]
