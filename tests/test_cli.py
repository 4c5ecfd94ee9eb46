"""`icesim` end to end, as a user runs it: a real process, stdout = data, stderr = logs/errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from aioice import stun

from icesim.schema import validate_line

ICESIM = [sys.executable, "-m", "icesim"]
IFACE = ["--interface", "eth0=198.51.100.2:ethernet"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ICESIM, *args], capture_output=True, text=True, timeout=timeout)


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    for obj in out:
        validate_line(obj)
    return out


def candidates(events: list[dict], type_: str) -> list[dict]:
    return [e["candidate"] for e in events if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["type"] == type_]


def test_gather_default_uses_embedded_stun_server() -> None:
    proc = run("gather", "--seed", "7", *IFACE)
    assert proc.returncode == 0, proc.stderr
    events = lines(proc)
    assert events[0]["type"] == "meta" and events[0]["servers"][0].startswith("stun:127.0.0.1:")
    assert [e["type"] for e in events[1:2]] == ["icegatheringstatechange"]
    (srflx,) = candidates(events, "srflx")
    assert srflx["address"] == "127.0.0.1" and srflx["url"] == events[0]["servers"][0]
    (host,) = candidates(events, "host")  # the IPv4 any-address socket; no IPv6 interface given
    assert host["address"].endswith(".local") and host["priority"] == 2113937151
    assert srflx["port"] == host["port"]
    assert events[-2] == {"type": "icegatheringstatechange", "t": events[-2]["t"], "state": "complete"}
    assert events[-1]["candidate"] is None
    assert proc.stderr == ""  # warning level by default: nothing to say


def test_gather_is_reproducible_with_seed() -> None:
    a, b = (lines(run("gather", "--stun", "none", "--seed", "3", *IFACE)) for _ in range(2))
    hosts_a, hosts_b = candidates(a, "host"), candidates(b, "host")
    assert hosts_a and [h["address"] for h in hosts_a] == [h["address"] for h in hosts_b]  # mDNS names
    assert [h["foundation"] for h in hosts_a] == [h["foundation"] for h in hosts_b]
    assert {h["usernameFragment"] for h in hosts_a + hosts_b} == {hosts_a[0]["usernameFragment"]}
    c = lines(run("gather", "--stun", "none", "--seed", "4", *IFACE))
    assert candidates(c, "host")[0]["address"] != hosts_a[0]["address"]


def test_gather_no_servers_no_mdns_pretty() -> None:
    proc = run("gather", "--stun", "none", "--no-mdns", "--format", "pretty", *IFACE)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith("# chrome@156")
    assert any("icegatheringstatechange  gathering" in line for line in out)
    assert any("typ host" in line and "198.51.100.2" in line for line in out)
    assert out[-1].endswith("icecandidate  null (end of gathering)")


def test_gather_turn_against_coturn(coturn) -> None:
    proc = run("gather", "--turn", coturn.turn_udp_url, "--username", coturn.username,
               "--credential", coturn.password, *IFACE)
    assert proc.returncode == 0, proc.stderr
    events = lines(proc)
    (relay,) = candidates(events, "relay")
    assert relay["priority"] == 50339839 and relay["url"] == coturn.turn_udp_url
    (srflx,) = candidates(events, "srflx")
    assert srflx["url"] == coturn.stun_url


def test_gather_blocked_udp_time_scaled() -> None:
    proc = run("gather", "--block-udp", "--time-scale", "400", "--seed", "1", *IFACE)
    assert proc.returncode == 0, proc.stderr
    events = lines(proc)
    assert events[0]["timeScale"] == 400
    (err,) = [e for e in events if e["type"] == "icecandidateerror"]
    assert (err["errorCode"], err["errorText"]) == (701, "STUN binding request timed out.")
    assert 39_000 < err["t"] < 41_000
    assert events[-1]["candidate"] is None


def test_gather_page_timeout_ends_stream_early() -> None:
    proc = run("gather", "--block-udp", "--timeout", "500", *IFACE)
    assert proc.returncode == 0, proc.stderr
    events = lines(proc)
    assert all(e.get("t", 0) <= 500 for e in events)
    assert not [e for e in events if e.get("state") == "complete"]


def test_gather_log_level_info_goes_to_stderr() -> None:
    proc = run("gather", "--stun", "none", "--log-level", "info", *IFACE)
    assert proc.returncode == 0
    assert "gather.start" in proc.stderr and "gather.complete" in proc.stderr
    lines(proc)  # stdout is still pure JSON Lines


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--stun", "bogus"], ["--stun", "bogus"]),
        (["--stun", "stun:127.0.0.1:70000"], ["--stun", "70000"]),
        (["--turn", "turn:127.0.0.1:3478"], ["--username/--credential", "InvalidAccessError"]),
        # Each browser's own constructor text (captures turn_nocred, turn_port22; WebKit source).
        (["--browser", "firefox", "--turn", "turn:127.0.0.1:3478"],
         ["--username/--credential", "InvalidAccessError", "PeerConnectionImpl.setConfiguration: TURN server requires a username"]),
        (["--browser", "firefox", "--turn", "turn:127.0.0.1:22?transport=udp", "--username", "a", "--credential", "b"],
         ["turn:127.0.0.1:22?transport=udp", "SyntaxError", "uses a port that is blocked"]),
        (["--browser", "safari", "--turn", "turn:127.0.0.1:3478"],
         ["--username/--credential", "InvalidAccessError", "TURN/TURNS server requires both username and credential"]),
        (["--turn", "stun:127.0.0.1"], ["--turn", "stun:127.0.0.1"]),
        (["--drop", "2"], ["--drop", "2"]),
        (["--drop", "x"], ["--drop", "x"]),
        (["--latency", "-5"], ["--latency", "-5"]),
        (["--time-scale", "0"], ["--time-scale", "0"]),
        (["--timeout", "-1"], ["--timeout", "-1"]),
        (["--interface", "eth0=1.2.3"], ["--interface", "eth0=1.2.3"]),
        (["--interface", "eth0=198.51.100.2:modem"], ["--interface", "modem"]),
        (["--resolve", "stun.test"], ["--resolve", "stun.test"]),
        (["--resolve", "stun.test=999.1.1.1"], ["--resolve", "999.1.1.1"]),
        (["--block-udp", "127.0.0.1"], ["--block-udp", "127.0.0.1"]),
        (["--browser", "netscape"], ["--browser", "netscape"]),
        (["--browser", "chrome@76"], ["--browser", "chrome@76", "77-156"]),
        (["--browser", "chrome@157"], ["--browser", "chrome@157"]),
        (["--browser", "firefox@91"], ["--browser", "firefox@91"]),
        (["--browser", "safari@17"], ["--browser", "safari@17"]),
        (["--browser", "chrome@abc"], ["--browser", "chrome@abc"]),
        (["--format", "xml"], ["--format", "xml"]),
        (["--seed", "x"], ["--seed", "x"]),
        (["--nope"], ["--nope"]),
        (["--stun", "none", "--stun", "stun:127.0.0.1"], ["--stun", "none"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], names: list[str]) -> None:
    proc = run("gather", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""  # nothing half-written
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert err[0].startswith("icesim: error: ")
    for name in names:
        assert name in err[0], err[0]


def test_stun_server_prints_address_and_answers() -> None:
    proc = subprocess.Popen([*ICESIM, "stun-server", "--port", "0", "--map-address", "203.0.113.7"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        host_port = proc.stdout.readline().strip()
        host, port = host_port.rsplit(":", 1)
        assert host == "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.bind(("127.0.0.1", 0))
            request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
            sock.sendto(bytes(request), (host, int(port)))
            response = stun.parse_message(sock.recv(2048))
            client_port = sock.getsockname()[1]
        assert response.transaction_id == request.transaction_id
        assert response.attributes["XOR-MAPPED-ADDRESS"] == ("203.0.113.7", client_port)
    finally:
        proc.terminate()
        proc.wait(5)


def test_stun_server_bad_address_exit_2() -> None:
    proc = run("stun-server", "--map-address", "nope")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "icesim: error: invalid --map-address 'nope': must be an IP address"


def test_bench_json_is_one_object() -> None:
    proc = run("bench", "--json", "--n", "1,5", "--repeats", "1", timeout=120)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    result = json.loads(line)
    for key in ("icesim_per_s", "aioice_per_s", "ratio_n100", "kib_per_gather"):
        assert key in result
    assert set(result["icesim_per_s"]) == {"1", "5"} and all(v > 0 for v in result["icesim_per_s"].values())


def test_help_lists_every_gather_option() -> None:
    proc = run("gather", "--help")
    assert proc.returncode == 0
    for opt in ("--browser", "--stun", "--turn", "--username", "--credential", "--interface", "--permission",
                "--no-mdns", "--block-udp", "--drop", "--latency", "--resolve", "--time-scale", "--timeout",
                "--seed", "--format", "--log-level"):
        assert opt in proc.stdout, opt


def test_gather_into_a_closed_pipe_stops_quietly() -> None:
    """`icesim gather | head -1`: the reader leaves early; no traceback, exit 0."""
    proc = subprocess.Popen([*ICESIM, "gather", "--block-udp", "--time-scale", "100", *IFACE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(proc.stdout.readline())["type"] == "meta"
    proc.stdout.close()
    assert proc.wait(30) == 0
    assert proc.stderr.read() == b""


def test_gather_help_names_every_dialect() -> None:
    proc = run("gather", "--help")
    text = " ".join(proc.stdout.split())
    assert "chrome[@77-156] (default 156)" in text and "firefox (ESR 153)" in text and "safari" in text


def test_gather_firefox_and_safari_end_to_end() -> None:
    """Firefox refuses the embedded server on 127.0.0.1 at once, as the real one does; Safari
    ends with the null candidate before "complete"."""
    ff = lines(run("gather", "--browser", "firefox", "--seed", "2", "--interface", "eth0=198.51.100.2:ethernet"))
    assert ff[0]["browser"] == "firefox@153"
    assert ff[1]["type"] == "icecandidateerror" and ff[1]["errorCode"] == 701 and ff[2]["state"] == "gathering"
    assert [e.get("state") or (e["candidate"] or {}).get("candidate") for e in ff[-3:]] == ["", "complete", None]
    sf = lines(run("gather", "--browser", "safari", "--seed", "2", "--interface", "eth0=198.51.100.2:ethernet"))
    assert sf[0]["browser"] == "safari@26" and sf[-2]["candidate"] is None and sf[-1]["state"] == "complete"
