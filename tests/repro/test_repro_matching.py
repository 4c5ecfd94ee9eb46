"""The matcher on hand-made streams: each kind of difference is reported (no sockets)."""

from __future__ import annotations

import copy

from icesim.repro import get_case
from icesim.repro.matching import match_stream

SERVERS = {"s0": "127.0.0.1:3998"}


def _cand(t, port, priority):
    return {"type": "icecandidate", "t": t, "candidate": {
        "candidate": f"candidate:1 1 udp {priority} x.local {port} typ host", "type": "host", "protocol": "udp",
        "port": port, "priority": priority, "url": ""}}


def _stream():
    """capture S5's shape on the chromium156 network (stun-udp-blocked's expectation)."""
    return [
        {"type": "icegatheringstatechange", "t": 41.4, "state": "gathering"},
        _cand(56.4, 50276, 2113937151),
        _cand(61.2, 52871, 2113939711),
        {"type": "icecandidateerror", "t": 39930.4, "address": "0.0.0.x", "port": 50276, "url": "stun:127.0.0.1:3998",
         "errorCode": 701, "errorText": "STUN binding request timed out.", "hostCandidate": "0.0.0.x:50276"},
        {"type": "icegatheringstatechange", "t": 39934.3, "state": "complete"},
        {"type": "icecandidate", "t": 39934.5, "candidate": None},
    ]


EXPECTED = get_case("stun-udp-blocked").expected["chrome"]


def test_the_stream_matches():
    assert match_stream(EXPECTED, _stream(), SERVERS) == []


def test_field_differences():
    for field, value, text in [
        ("errorCode", 700, "errorCode 700 (expected 701)"),
        ("errorText", "STUN allocate request timed out.", "errorText 'STUN allocate request timed out.'"),
        ("url", "stun:127.0.0.1:3999", "url 'stun:127.0.0.1:3999'"),
        ("address", "198.51.100.x", "address '198.51.100.x' (expected '0.0.0.x')"),
        ("hostCandidate", "0.0.0.x:1", "hostCandidate '0.0.0.x:1' (expected '0.0.0.x:50276')"),
        ("port", 52871, "port 52871 (expected 50276)"),
    ]:
        lines = _stream()
        lines[3][field] = value
        (problem,) = match_stream(EXPECTED, lines, SERVERS)
        assert text in problem, problem


def test_time_beyond_two_percent():
    lines = _stream()
    for line in lines[3:]:
        line["t"] = 39.9 + 39890 * 1.03  # 3% late
    problems = match_stream(EXPECTED, lines, SERVERS)
    assert any(p.startswith("t: error") and "± 797.8" in p for p in problems), problems
    lines = _stream()
    for line in lines[3:]:
        line["t"] = 41.4 + 39890 * 1.015  # 1.5% late: within
    assert match_stream(EXPECTED, lines, SERVERS) == []


def test_order_missing_and_extra():
    lines = _stream()
    lines[3], lines[4] = lines[4], lines[3]
    assert any(p.startswith("order: complete came before error") for p in match_stream(EXPECTED, lines, SERVERS))
    lines = _stream()
    del lines[3]
    assert match_stream(EXPECTED, lines, SERVERS) == [
        "missing: error {'errorCode': 701, 'errorText': 'STUN binding request timed out.', 'url': 'stun:{s0}'}"]
    lines = _stream()
    lines.insert(4, copy.deepcopy(lines[3]))
    assert match_stream(EXPECTED, lines, SERVERS) == [
        "unexpected: error 701 'STUN binding request timed out.' stun:127.0.0.1:3998"]
