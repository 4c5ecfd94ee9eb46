"""The cases' expected streams are the browsers' captured streams: each expectation that cites
a capture matches that capture itself (the real browser's lines), so no expectation comes
from running icesim. X* captures were made for these cases with tools/capture_chromium.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from capture_shapes import load156
from icesim.repro import ALL_CASES, get_case
from icesim.config import parse_ice_url
from icesim.repro.matching import match_stream
from test_captures import load_capture

# case -> the captures it must match: "S5" = shared/captures, others = tests/data/chromium156.
CAPTURED = {
    "stun-udp-blocked": ["S5"],
    "stun-closed-port": ["S5"],
    "stun-dns-failure": ["E_nx", "E_nx_2"],
    "stun-no-aaaa": ["F_stuntest"],
    "turn-udp-unreachable": ["D_turnudp_dropped"],
    "turn-tcp-refused": ["C_turntcp_closed", "C_turntcp_closed_2", "C_turntcp_closed_3"],
    "turn-bad-credentials": ["S7"],
    "turn-no-credentials": ["H1_turn_nocredkeys"],
    "stun-error-response": ["S2_stun420"],
    "stun-error-response-500": ["S2_stun500"],
    "turn-disallowed-port": ["S1_turnudp_port22"],
    "turn-dns-failure": ["X1_turn_nx"],  # X*: captured for these cases (tools/capture_chromium.py)
    "webrtc-disabled-policy": ["P3s_policy_noudp_stun"],
    "proxy-udp-blocked": ["X2_proxy_udp_blocked"],
    "corporate-firewall": ["X3_corporate_firewall"],  # S1b: the page stopped before complete
}
# Cases whose expectation comes from the reference alone (none left: the R_* captures).
REFERENCE_ONLY: set[str] = set()

# shared/captures ran on a ULA (fd00:5::2): the IPv6 any-address host priority differs from
# the chromium156 namespace's global address the cases use (precedence 50 vs 40).
SHARED_HOST6_PRIORITY = 2113942271


def _capture(name: str) -> tuple[list[dict], dict[str, str]]:
    """The capture's page lines (up to the null candidate) and its servers as {s0: host:port}."""
    if name[0] == "S" and name[1].isdigit() and "_" not in name:
        lines, servers = load_capture(name)
    else:
        cap = load156(name)
        lines, servers = cap.lines, cap.servers
        if "ctorError" in cap.raw:
            lines = [{"type": "exception", **cap.raw["ctorError"]}]
    ends = [i for i, x in enumerate(lines) if x["type"] == "icecandidate" and x["candidate"] is None]
    if ends:
        lines = lines[: ends[0] + 1]  # after it only the 10 s keepalive errors (the page kept listening)
    hostport = {f"s{i}": f"{s.host}:{s.port}" for i, s in enumerate(servers)}
    return lines, hostport


# case -> its Firefox capture(s): tests/data/firefox, or shared/captures (F5b).
CAPTURED_FIREFOX = {
    "stun-udp-blocked": "F5b",
    "stun-dns-failure": "stun_nx",
    "stun-no-aaaa": "stun_name",
    "turn-udp-unreachable": "turn_udp_dropped",
    "turn-tcp-refused": "turn_tcp_closed",
    "turn-bad-credentials": "turn_badcred",
    "stun-closed-port": "stun_closed",  # stun_closed, turn_nx: captured for these cases
    "turn-dns-failure": "turn_nx",
    # Captured for these cases with ICESIM_CAPTURE_PREFIX=isr2 (tests/data/firefox/README.md).
    "proxy-udp-blocked": "proxy_udp_blocked",
    "corporate-firewall": "corporate_firewall",
    "webrtc-disabled-policy": ("pref_relay_only", "policy_relay_stun"),
    "stun-error-response": "stun_420",
    "stun-error-response-500": "stun_500",
    "turn-no-credentials": "turn_nocred",
    "turn-disallowed-port": "turn_port22",
}
FIREFOX = Path(__file__).resolve().parents[1] / "data" / "firefox"
SHARED = Path("/work/shared/captures")


def _firefox_capture(name: str) -> tuple[list[dict], dict[str, str]]:
    """A Firefox capture as page lines: "<<absent>>" attributes dropped (they do not exist)."""
    if name == "F5b":
        data = json.loads(next(SHARED.glob("F5b_*.json")).read_text())
        events, cfg = data["page"]["events"], data["meta"]["scenario"]["cfg"]
    else:
        data = json.loads((FIREFOX / f"{name}.json").read_text())
        events, cfg = data["events"], data["meta"]["cfg"]
    present = lambda d: {k: v for k, v in d.items() if v != "<<absent>>"}  # noqa: E731
    lines = []
    for note in data.get("notes", []):  # "constructor threw NAME: MESSAGE": no event at all
        if note.startswith("constructor threw "):
            name, message = note.removeprefix("constructor threw ").split(": ", 1)
            lines.append({"type": "exception", "name": name, "message": message})
    for e in events:
        if e["kind"] == "icegatheringstatechange":
            lines.append({"type": e["kind"], "t": e["t"], "state": e["state"]})
        elif e["kind"] == "icecandidate":
            lines.append({"type": e["kind"], "t": e["t"], "candidate": e["candidate"] and present(e["candidate"])})
        elif e["kind"] == "icecandidateerror":
            lines.append({"type": e["kind"], "t": e["t"], **present(e["error"])})
    urls = [u for s in cfg["iceServers"] for u in ([s["urls"]] if isinstance(s["urls"], str) else s["urls"])]
    servers = {f"s{i}": f"{parse_ice_url(u).host}:{parse_ice_url(u).port}" for i, u in enumerate(urls)}
    return lines, servers


@pytest.mark.parametrize(("case_name", "capture"), sorted(
    (c, n) for c, names in CAPTURED_FIREFOX.items() for n in ([names] if isinstance(names, str) else names)))
def test_firefox_expectation_matches_the_capture(case_name, capture):
    case = get_case(case_name)
    lines, servers = _firefox_capture(capture)
    assert lines  # an empty capture would match nothing
    assert match_stream(case.expected["firefox"], lines, servers) == []


def test_firefox_expectations_are_the_captured_ones():
    assert {c.name for c in ALL_CASES if "firefox" in c.expected} == set(CAPTURED_FIREFOX) == {c.name for c in ALL_CASES}
    for case in ALL_CASES:
        assert "firefox" not in case.source_reading and "tests/data/firefox" in case.sources["firefox"] or (
            "F5b" in case.sources["firefox"])


def test_safari_expectations_are_marked_source_reading():
    """No Safari can be captured: every case has a Safari expectation, and says where it is from."""
    for case in ALL_CASES:
        assert "safari" in case.expected and "safari" in case.source_reading
        assert case.sources["safari"].startswith("source reading, not captured: ")


def test_firefox_relay_only_pref_is_the_relay_policy():
    """The case runs Firefox with iceTransportPolicy relay for the pref: both captures agree."""
    pref, policy = (_firefox_capture(n)[0] for n in ("pref_relay_only", "policy_relay_stun"))
    kinds = lambda lines: [(x["type"], x.get("state"), (x.get("candidate") or {}).get("candidate")) for x in lines]  # noqa: E731
    assert kinds(pref) == kinds(policy)
    assert not any(x.get("state") == "gathering" for x in pref)


def test_a_wrong_firefox_expectation_fails_against_the_capture():
    """Chrome's streams are not Firefox's: the Chrome expectation fails on the Firefox capture."""
    lines, servers = _firefox_capture("proxy_udp_blocked")
    assert match_stream(get_case("proxy-udp-blocked").expected["chrome"], lines, servers) != []
    lines, servers = _firefox_capture("turn_port22")
    assert match_stream(get_case("turn-disallowed-port").expected["safari"], lines, servers) != []


def test_every_case_is_accounted_for():
    assert set(CAPTURED) | REFERENCE_ONLY == {c.name for c in ALL_CASES}
    for case in ALL_CASES:
        assert case.sources["chrome"]
        if case.name in REFERENCE_ONLY:
            assert "reference" in case.sources["chrome"]


@pytest.mark.parametrize(("case_name", "capture"), [(c, n) for c, names in CAPTURED.items() for n in names])
def test_expectation_matches_the_capture(case_name, capture):
    case = get_case(case_name)
    expected = case.expected["chrome"]
    lines, servers = _capture(capture)
    if capture in ("S5", "S7"):
        expected = tuple(dataclasses.replace(e, priority=SHARED_HOST6_PRIORITY) if e.kind == "host6" else e
                         for e in expected)
    assert match_stream(expected, lines, servers) == []


def test_a_wrong_expectation_fails_against_the_capture():
    """The check above can fail: the issue's naive expectations do not match the captures."""
    lines, servers = _capture("S2_stun420")
    case = get_case("stun-error-response")
    as_issue = tuple(dataclasses.replace(e, errorCode=420) if e.kind == "error" else e for e in case.expected["chrome"])
    assert any("errorCode 20 (expected 420)" in p for p in match_stream(as_issue, lines, servers))
    lines, servers = _capture("S2_stun500")
    with_500 = get_case("stun-error-response-500").expected["chrome"]
    assert match_stream(case.expected["chrome"], lines, servers) != []  # the 420 stream is not the 500 one
    assert match_stream(with_500, lines, servers) == []
