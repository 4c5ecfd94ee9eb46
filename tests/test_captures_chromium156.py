"""icesim reproduces the Chromium 156 captures of tests/data/chromium156 on loopback.

Each capture's network is rebuilt on 127.0.0.1 (README of that directory): the namespace's
eth0 (198.51.100.2 + the global 2001:db8:5::2) is given as interfaces, coturn (test/secret)
stands in for the capture's coturn, a closed port for the unreachable servers, and Faults
resolve rules for --host-resolver-rules. Streams are compared field for field with
test_captures.compare_streams: shape() replaces only what is random in the browser too
(foundations, mDNS uuids, ufrag, ports as P4/P6/P*, the server's own host:port, exact t).

Not reproducible on loopback: C2/C3 (a public server answering with RST) are checked on the
dialect directly; with permission (B1/B2) the sockets cannot bind the capture's addresses, see
the comments there.
"""

from __future__ import annotations

import copy
import socket

import pytest

import icesim
from capture_shapes import IFACES_156, all_of, capture_names, first, load156, rel_t, run156
from icesim.config import Faults, parse_ice_url, parse_resolve
from icesim.dialects import ChromeDialect
from icesim.schema import validate_line
from test_captures import check_invariant_order, compare_streams, hostport, label

SEEDS = [1, 2]
ANY4 = "0.0.0.x"
CTOR_PREFIX = "Failed to construct 'RTCPeerConnection': "


def _coturn_url(coturn, cap_url) -> icesim.IceServerUrl:
    """The capture's server entry pointed at the fixture's coturn (same scheme, transport, creds)."""
    query = f"?transport={cap_url.transport}" if cap_url.transport else ""
    return parse_ice_url(f"{cap_url.scheme}:{coturn.host}:{coturn.port}{query}",
                         username=cap_url.username, credential=cap_url.credential)


def _can_bind(addr: str) -> bool:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((addr, 0))
            return True
        except OSError:
            return False


# ---------------------------------------------------------------------------------------------
# The captures themselves
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", capture_names())
def test_capture_lines_fit_the_schema(name):
    cap = load156(name)
    for line in cap.lines:
        validate_line(line)
    if cap.lines:
        labels = [label(x) for x in cap.lines]
        if "null" in labels:
            end = labels.index("null") + 1
            check_invariant_order(cap.lines[:end])
            # After "complete" only STUN keepalive failures fire again (every 10 s).
            assert all(x.startswith("error") for x in labels[end:]), labels
        else:  # the page stopped listening before gathering completed (probe runs)
            assert labels[0] == "gathering" and "complete" not in labels, labels
            ts = [x["t"] for x in cap.lines]
            assert ts == sorted(ts)
    else:
        assert name.startswith("H") and "ctorError" in cap.raw


# ---------------------------------------------------------------------------------------------
# STUN (any-address sockets)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["base_stun", "H5_stun_nocreds_empty"])
async def test_stun_ip(coturn, name, seed):
    """base_stun as S3a; H5: a STUN entry with empty username/credential gathers normally."""
    cap = load156(name)
    (cap_server,) = cap.servers
    server = _coturn_url(coturn, cap_server)
    got = await run156([server], seed=seed)
    compare_streams(got, cap.lines, hostport(server), hostport(cap_server))
    srflx, host4 = first(got, "srflx udp")["candidate"], first(got, "host4")["candidate"]
    assert (srflx["address"], srflx["port"]) == ("127.0.0.1", host4["port"])
    assert (srflx["relatedAddress"], srflx["relatedPort"]) == ("0.0.0.0", 0)


@pytest.mark.parametrize("name", ["A_nomdns_stun_1", "A_nomdns_stun_2"])
async def test_stun_no_mdns_raddr_is_host(coturn, name):
    """Without mDNS the srflx raddr/rport are the host candidate's IP and port (capture A)."""
    cap = load156(name)
    (cap_server,) = cap.servers
    server = _coturn_url(coturn, cap_server)
    got = await run156([server], seed=3, mdns=False)
    compare_streams(got, cap.lines, hostport(server), hostport(cap_server))
    for lines in (got, cap.lines):
        srflx, host4 = first(lines, "srflx udp")["candidate"], first(lines, "host4")["candidate"]
        assert (srflx["relatedAddress"], srflx["relatedPort"]) == ("198.51.100.2", host4["port"])
        assert f" raddr 198.51.100.2 rport {host4['port']} " in srflx["candidate"]
        assert [h["candidate"]["address"] for h in all_of(lines, "host")] == ["198.51.100.2", "[2001:db8:5::2]"]


@pytest.mark.parametrize("seed", SEEDS)
async def test_f_stun_name_a_record_only(coturn, seed):
    """stun.test has an A record only: IPv4 gets a srflx, IPv6 a host-lookup 701 after its host."""
    cap = load156("F_stuntest")
    (cap_server,) = cap.servers
    server = parse_ice_url(f"stun:stun.test:{coturn.port}")
    faults = Faults(resolve=(parse_resolve("stun.test=127.0.0.1"),))
    got = await run156([server], seed=seed, faults=faults)
    # The IPv4 srflx and the IPv6 701 come from independent sockets after one shared lookup:
    # their relative order is not a rule (the capture has the 701 1.7 ms first).
    compare_streams(got, cap.lines, hostport(server), hostport(cap_server), unordered=("srflx",))
    for lines in (got, cap.lines):
        # For a name, a socket's result follows its own host candidate.
        assert lines.index(first(lines, "srflx udp")) > lines.index(first(lines, "host4"))
        (err,) = all_of(lines, "error")
        host6 = first(lines, "host6")
        assert err["hostCandidate"] == f"[0:0:0:x:x:x:x:x]:{host6['candidate']['port']}"
        assert err["errorText"] == "STUN host lookup received error."
        assert lines.index(err) > lines.index(host6) and err["t"] >= host6["t"]
    assert first(got, "srflx udp")["candidate"]["url"] == f"stun:stun.test:{coturn.port}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["E_nx", "E_nx_2"])
async def test_e_nxdomain(name, seed):
    """One host-lookup 701 per family, each right after its own socket's host candidate."""
    cap = load156(name)
    (server,) = cap.servers
    faults = Faults(resolve=(parse_resolve("nx.test=NXDOMAIN"),))
    got = await run156([server], seed=seed, faults=faults)
    compare_streams(got, cap.lines, hostport(server), hostport(server))
    for lines in (got, cap.lines):
        seq = [(label(x), x.get("hostCandidate", "")[:3]) for x in lines[1:-2]]
        assert seq == [("host4", ""), ("error 701 stun", "0.0"), ("host6", ""), ("error 701 stun", "[0:")], seq


# ---------------------------------------------------------------------------------------------
# TURN
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
async def test_g_two_turn(coturn, seed):
    """TURN/UDP + TURN/TCP on one server: relay prefs 2 and 1, one srflx (the UDP one's)."""
    cap = load156("G_two_turn")
    servers = [_coturn_url(coturn, s) for s in cap.servers]
    got = await run156(servers, seed=seed)
    compare_streams(got, cap.lines, hostport(servers[0]), hostport(cap.servers[0]))
    for lines in (got, cap.lines):
        assert len(all_of(lines, "srflx")) == 1
        # By relay protocol, not order: the two allocations are independent (the capture,
        # one sample, has the UDP relay 5.4 ms before the TCP one).
        relays = {x["candidate"]["relayProtocol"]: x["candidate"] for x in all_of(lines, "relay")}
        udp, tcp = relays[None], relays["tcp"]
        assert (udp["priority"], udp["relayProtocol"]) == (50340095, None)
        assert (tcp["priority"], tcp["relayProtocol"]) == (16785407, "tcp")
        assert udp["relatedPort"] == first(lines, "host4")["candidate"]["port"]
        assert tcp["relatedPort"] not in (udp["relatedPort"], first(lines, "host6")["candidate"]["port"])
    for relay in all_of(got, "relay"):
        assert coturn.relay_min_port <= relay["candidate"]["port"] <= coturn.relay_max_port


async def test_d_turn_udp_dropped(closed_port):
    """STUN 701 (the TURN server used as STUN) then the TURN 701 61.6 ms later; complete 0.1 ms
    after it. time_scale 200: the ~40 s of browser time take ~0.2 s."""
    cap = load156("D_turnudp_dropped")
    (cap_server,) = cap.servers
    server = parse_ice_url(f"turn:127.0.0.1:{closed_port}?transport=udp", username="test", credential="secret")
    got = await run156([server], seed=1, time_scale=200)
    compare_streams(got, cap.lines, hostport(server), hostport(cap_server))
    for lines in (got, cap.lines):
        stun_err, turn_err = all_of(lines, "error")
        assert stun_err["url"].startswith("stun:") and turn_err["url"].startswith("turn:")
        assert 50 <= turn_err["t"] - stun_err["t"] <= 75, (stun_err["t"], turn_err["t"])
        assert 0 <= first(lines, "complete")["t"] - turn_err["t"] <= 1
    # The STUN give-up time as S5 (captures README: ~39.88 s after the first send).
    t_got, t_want = (rel_t(x, all_of(x, "error")[0]) for x in (got, cap.lines))
    assert abs(t_got - t_want) <= 0.02 * t_want, (t_got, t_want)


@pytest.mark.parametrize("name", ["C_turntcp_closed", "C_turntcp_closed_2", "C_turntcp_closed_3"])
async def test_c_turn_tcp_closed_private(closed_port, name):
    """TURN/TCP refused by a private (loopback) server: one 701 with address/port null and
    hostCandidate ":0", held until gathering completes, right before "complete"."""
    cap = load156(name)
    (cap_server,) = cap.servers
    server = parse_ice_url(f"turn:127.0.0.1:{closed_port}?transport=tcp", username="test", credential="secret")
    got = await run156([server], seed=1)
    compare_streams(got, cap.lines, hostport(server), hostport(cap_server))
    for lines in (got, cap.lines):
        (err,) = all_of(lines, "error")
        assert (err["address"], err["port"], err["hostCandidate"]) == (None, None, ":0")
        assert lines[lines.index(err) + 1] == first(lines, "complete")
        assert 0 <= first(lines, "complete")["t"] - err["t"] <= 0.5
        assert rel_t(lines, err) >= 115


@pytest.mark.parametrize("name", ["C2_turntcp_closed_public", "C3_turntcp_closed_public_nomdns"])
def test_c2_c3_public_turn_tcp_error_on_dialect(name):
    """A public server's RST cannot be had on loopback: the dialect's rule, against the capture.
    The connect failed before any socket existed (port 0): "0.0.0.x:0", delivered at once."""
    cap = load156(name)
    (server,) = cap.servers
    (want,) = all_of(cap.lines, "error")
    dialect = ChromeDialect()
    net4 = dialect.plan_networks(IFACES_156, permission=False)[0]
    assert net4.bind_address == "0.0.0.0"
    event = dialect.turn_error(want["t"], net4, 0, server, "connect_failed")
    got = validate_line(icesim.to_json_line(event))
    assert got == want
    assert (got["address"], got["port"], got["hostCandidate"]) == (None, None, f"{ANY4}:0")
    assert dialect.error_held_until_complete(server) is False
    # The same server on 127.0.0.1 (capture C): held, address cleared, ":0".
    private = parse_ice_url(f"turn:127.0.0.1:{server.port}?transport=tcp", username="test", credential="secret")
    assert dialect.error_held_until_complete(private) is True
    held = validate_line(icesim.to_json_line(dialect.turn_error(1.0, net4, 0, private, "connect_failed")))
    assert (held["address"], held["port"], held["hostCandidate"]) == (None, None, ":0")


# ---------------------------------------------------------------------------------------------
# Permission (enumerated networks): B1, B2
# ---------------------------------------------------------------------------------------------
#
# With permission Chrome's sockets bind the interface addresses. This machine does not have
# 198.51.100.2 / 2001:db8:5::2, so icesim binds the any address instead and reports the
# configured address. What that changes, and only that:
#   * the capture's socket (bound to 198.51.100.2) sent to 127.0.0.1 and coturn saw 198.51.100.2
#     as its mapped address = the socket's own address, so Chrome dropped the srflx; ours bound
#     to 0.0.0.0 is mapped to 127.0.0.1 != 0.0.0.0, so the engine emits a srflx (rule: a srflx
#     equal to the socket's own local address is dropped, any other is emitted);
#   * the relay raddr is the TURN-mapped address (198.51.100.2 in B2, 127.0.0.1 here); the rport
#     is the host port in both.
# Everything else (strings, network-id, no network-cost on ethernet, ranks, TCP active
# candidates and their timing) is compared as is.

PRIO_HOST4, PRIO_HOST6 = 2122194687, 2122262783
PRIO_TCP4, PRIO_TCP6 = 1518214911, 1518283007
PRIO_SRFLX4 = (100 << 24) | (((126 << 8) | 30) << 8) | 255  # rank 126 (IPv4), precedence 30
PRIO_RELAY4 = 58597375


def _split_engine_srflx(got: list[dict], coturn_port: int) -> list[dict]:
    """Check and remove the srflx the engine emits because its socket is on 0.0.0.0 (above)."""
    if _can_bind("198.51.100.2"):
        assert not all_of(got, "srflx"), "bound to the capture's address: no srflx, as in the capture"
        return got
    (srflx,) = all_of(got, "srflx")
    c, host4 = srflx["candidate"], first(got, "host4")["candidate"]
    assert (c["address"], c["port"], c["priority"]) == ("127.0.0.1", host4["port"], PRIO_SRFLX4)
    assert (c["relatedAddress"], c["relatedPort"]) == ("198.51.100.2", host4["port"])
    assert c["candidate"].endswith(" network-id 1") and " network-cost" not in c["candidate"]
    assert c["url"] == f"stun:127.0.0.1:{coturn_port}"
    return [x for x in got if x is not srflx]


def _check_permission_stream(lines: list[dict]) -> None:
    hosts = [x["candidate"] for x in all_of(lines, "host")]
    assert [(h["protocol"], h["address"], h["priority"]) for h in hosts] == [
        ("udp", "198.51.100.2", PRIO_HOST4), ("udp", "[2001:db8:5::2]", PRIO_HOST6),
        ("tcp", "198.51.100.2", PRIO_TCP4), ("tcp", "[2001:db8:5::2]", PRIO_TCP6),
    ]
    for h, net_id in zip(hosts, (1, 2, 1, 2)):
        assert h["candidate"].endswith(f" network-id {net_id}") and ".local" not in h["candidate"]
        assert " network-cost" not in h["candidate"]  # ethernet: cost 0, omitted
    for h in hosts[2:]:
        assert (h["port"], h["tcpType"]) == (9, "active") and " 9 typ host tcptype active " in h["candidate"]
    tcp = [x for x in lines if label(x) == "host tcp"]
    assert all(rel_t(lines, x) >= 115 for x in tcp), [rel_t(lines, x) for x in tcp]
    assert 0 <= first(lines, "complete")["t"] - tcp[-1]["t"] <= 1


@pytest.mark.parametrize("seed", SEEDS)
async def test_b1_permission_stun(coturn, seed):
    cap = load156("B1_gum_stun")
    (cap_server,) = cap.servers
    server = _coturn_url(coturn, cap_server)
    got = await run156([server], seed=seed, permission=True)
    got = _split_engine_srflx(got, coturn.port)
    compare_streams(got, cap.lines, hostport(server), hostport(cap_server))
    for lines in (got, cap.lines):
        _check_permission_stream(lines)
        assert not all_of(lines, "error")


@pytest.mark.parametrize("seed", SEEDS)
async def test_b2_permission_turn_udp(coturn, seed):
    cap = load156("B2_gum_turnudp")
    (cap_server,) = cap.servers
    server = _coturn_url(coturn, cap_server)
    got = await run156([server], seed=seed, permission=True)
    got = _split_engine_srflx(got, coturn.port)
    mapped = "198.51.100.2" if _can_bind("198.51.100.2") else "127.0.0.1"
    masked = []
    for lines, want_raddr in ((got, mapped), (cap.lines, "198.51.100.2")):
        _check_permission_stream(lines)
        relay = first(lines, "relay udp")["candidate"]
        host4 = first(lines, "host4")["candidate"]
        assert (relay["priority"], relay["relayProtocol"]) == (PRIO_RELAY4, None)
        assert (relay["relatedAddress"], relay["relatedPort"]) == (want_raddr, host4["port"])
        assert f" raddr {want_raddr} rport {host4['port']} " in relay["candidate"]
        assert relay["candidate"].endswith(" network-id 1")
        # The TURN-mapped address is the one field that depends on the bound address.
        lines = copy.deepcopy(lines)
        c = first(lines, "relay udp")["candidate"]
        c["relatedAddress"] = "<MAPPED>"
        c["candidate"] = c["candidate"].replace(f" raddr {want_raddr} ", " raddr <MAPPED> ")
        masked.append(lines)
    compare_streams(masked[0], masked[1], hostport(server), hostport(cap_server))
    relay = first(got, "relay udp")["candidate"]
    assert coturn.relay_min_port <= relay["port"] <= coturn.relay_max_port


# ---------------------------------------------------------------------------------------------
# H1-H4: TURN without usable credentials -> the constructor throws, no gather
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["H1_turn_nocredkeys", "H2_turn_emptycreds", "H3_useronly", "H4_emptyuser"])
async def test_h_turn_credentials_refused(name):
    cap = load156(name)
    ctor = cap.raw["ctorError"]
    assert cap.lines == [] and ctor["name"] == "InvalidAccessError"
    assert ctor["message"].startswith(CTOR_PREFIX)
    text = ctor["message"][len(CTOR_PREFIX):]
    config = icesim.GatherConfig(servers=cap.servers, interfaces=IFACES_156, seed=1)
    with pytest.raises(icesim.ConfigError) as exc:
        config.validate()
    assert "InvalidAccessError" in str(exc.value) and text in str(exc.value), (str(exc.value), text)
    # gather() refuses before its first line (no meta, no event), like the page's constructor.
    stream = icesim.gather(config)
    with pytest.raises(icesim.ConfigError):
        await stream.__anext__()
