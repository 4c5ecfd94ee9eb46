"""`icesim gather` with the policy, transport, pool and --sdp options, as a user runs it."""

from __future__ import annotations

import pytest

from test_cli import IFACE, lines, run


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--policy", "public"], ["--policy", "public", "default_public_interface_only"]),
        (["--ice-transport-policy", "none"], ["--ice-transport-policy", "none"]),
        (["--media", "data,screen"], ["--media", "data,screen"]),
        (["--media", "data,data"], ["--media", "data,data"]),
        (["--media", ""], ["--media"]),
        (["--bundle-policy", "max"], ["--bundle-policy", "max"]),
        (["--pool-size", "256"], ["--pool-size", "256"]),
        (["--pool-size", "-1"], ["--pool-size", "-1"]),
        (["--pool-size", "two"], ["--pool-size", "two"]),
        (["--pool-lead", "-3"], ["--pool-lead", "-3"]),
        (["--pool-lead", "soon"], ["--pool-lead", "soon"]),
        # Chrome's policies and SDP form are not other browsers' (nothing runs, nothing printed).
        (["--browser", "firefox", "--policy", "disable_non_proxied_udp"], ["--policy", "firefox"]),
        (["--browser", "safari", "--policy", "default_public_interface_only"], ["--policy", "safari"]),
        (["--browser", "firefox", "--sdp", "--media", "audio,data"], ["--sdp", "audio,data"]),
        (["--browser", "safari", "--sdp"], ["--sdp", "safari"]),
    ],
)
def test_bad_transport_options_one_line_exit_2(args: list[str], names: list[str]) -> None:
    proc = run("gather", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("icesim: error: "), proc.stderr
    for name in names:
        assert name in err[0], err[0]


def test_sdp_is_the_last_line_and_matches_the_candidates() -> None:
    proc = run("gather", "--seed", "4", *IFACE, "--media", "audio,data", "--sdp", "--no-mdns")
    assert proc.returncode == 0, proc.stderr
    events = lines(proc)  # each validated against the schema, the localdescription line included
    last = events[-1]
    assert last["type"] == "localdescription" and set(last) == {"type", "t", "sdp"}
    assert events[-2]["type"] == "icecandidate" and events[-2]["candidate"] is None
    sdp = last["sdp"]
    assert sdp.startswith("v=0\r\no=- ") and sdp.endswith("\r\n")
    assert "a=group:BUNDLE 0 1\r\n" in sdp and "\r\nm=audio " in sdp and "\r\nm=application " in sdp
    cands = [e["candidate"] for e in events if e["type"] == "icecandidate" and e["candidate"]]
    assert {c["sdpMid"] for c in cands} == {"0", "1"}
    for c in cands:
        assert "a=" + c["candidate"].replace(f" ufrag {c['usernameFragment']}", "") + "\r\n" in sdp


def test_without_sdp_no_description_line() -> None:
    proc = run("gather", "--seed", "4", *IFACE, "--policy", "default_public_interface_only")
    assert proc.returncode == 0, proc.stderr
    events = lines(proc)
    assert all(e["type"] != "localdescription" for e in events)
    assert not [e for e in events if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["type"] == "host"]


def test_help_lists_the_transport_options() -> None:
    out = run("gather", "--help").stdout
    for opt in ("--policy", "--ice-transport-policy", "--media", "--bundle-policy", "--pool-size", "--pool-lead", "--sdp",
                "disable_non_proxied_udp", "max-bundle"):
        assert opt in out, opt
