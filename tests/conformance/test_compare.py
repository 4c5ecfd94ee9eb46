"""The comparison and masking of compare.py, on real Chromium 156 streams (tests/data/chromium156)
and a Firefox ESR stream (shared/captures F3d, inlined): it must pass what differs only in what is
random in the browser, and fail on every other change."""

from __future__ import annotations

import copy
import json

import pytest

from capture_shapes import load156
from compare import Difference, Tolerance, compare, label, mask_stream
from scenarios import COMMUTING, MASKS

CHROME = MASKS["chrome"]
FIREFOX = MASKS["firefox"]


def chrome_stream(name: str = "A_nomdns_stun_1") -> list[dict]:
    return load156(name).lines


def _ff_cand(t, text, **attrs):
    parts = text.split()
    base = {"candidate": text, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "ab92a43e"}
    if not text:
        base |= dict.fromkeys(("foundation", "component", "priority", "address", "protocol", "port", "type",
                               "tcpType", "relatedAddress", "relatedPort"))
        return {"type": "icecandidate", "t": t, "candidate": base}
    base |= {"foundation": parts[0].split(":")[1], "component": "rtp", "priority": int(parts[3]),
             "address": parts[4], "protocol": parts[2].lower(), "port": int(parts[5]), "type": parts[7],
             "tcpType": None, "relatedAddress": None, "relatedPort": None} | attrs
    return {"type": "icecandidate", "t": t, "candidate": base}


M1, M2 = "53af0145-2ea2-4996-8b29-ee4aed9b6f83.local", "75eb1eca-d9d9-4e76-abe9-a6f9ec8d4c49.local"


def firefox_stream() -> list[dict]:
    """shared/captures/F3d_firefox_stun_nat.json, in the page's line format."""
    return [
        {"type": "icegatheringstatechange", "t": 65, "state": "gathering"},
        _ff_cand(71, f"candidate:0 1 UDP 2122187007 {M1} 37200 typ host"),
        _ff_cand(74, f"candidate:2 1 UDP 2122252543 {M2} 51336 typ host"),
        _ff_cand(79, f"candidate:3 1 TCP 2105458943 {M1} 9 typ host tcptype active", tcpType="active"),
        _ff_cand(79, f"candidate:4 1 TCP 2105524479 {M2} 9 typ host tcptype active", tcpType="active"),
        _ff_cand(79, "candidate:1 1 UDP 1685987327 203.0.113.1 10691 typ srflx raddr 0.0.0.0 rport 0",
                 relatedAddress="0.0.0.0", relatedPort=0),
        _ff_cand(81, ""),
        {"type": "icegatheringstatechange", "t": 86, "state": "complete"},
        {"type": "icecandidate", "t": 86, "candidate": None},
    ]


def rerandomise(lines: list[dict], ports: dict, names: dict, ufrag: str | None, foundations: dict) -> list[dict]:
    """What another run of the same browser would show: new ports, names, ufrag, foundations."""
    text = json.dumps(lines)
    for table in (ports, names, foundations):
        for old, new in table.items():
            text = text.replace(str(old), str(new))
    out = json.loads(text)
    if ufrag:
        for x in out:
            c = x.get("candidate")
            if c and c.get("usernameFragment"):
                old = c["usernameFragment"]
                c["usernameFragment"] = ufrag
                c["candidate"] = c["candidate"].replace(f"ufrag {old}", f"ufrag {ufrag}")
    return out


def edited(lines: list[dict], index: int, attr: str, value, old_text: str, new_text: str) -> list[dict]:
    """A copy with one candidate's attribute and its string changed alike."""
    out = copy.deepcopy(lines)
    c = out[index]["candidate"]
    c[attr] = value
    c["candidate"] = c["candidate"].replace(old_text, new_text)
    return out


def kinds(diffs: list[Difference]) -> list[str]:
    return sorted(d.kind for d in diffs)


# ---------------------------------------------------------------------------------------------
# What must pass
# ---------------------------------------------------------------------------------------------


def test_a_stream_matches_itself():
    lines = chrome_stream()
    assert compare(lines, copy.deepcopy(lines), CHROME, COMMUTING["chrome"]) == []


def test_random_parts_of_another_run_are_masked():
    lines = chrome_stream()
    other = rerandomise(lines, ports={42696: 51000, 52300: 40404}, names={},
                        ufrag="Zz9+", foundations={101469058: 7, 2902420372: 8, 734030349: 9})
    assert other != lines
    assert compare(lines, other, CHROME, COMMUTING["chrome"]) == []


def test_mdns_names_are_masked_with_their_identity():
    lines = firefox_stream()
    other = rerandomise(lines, ports={37200: 41000, 51336: 42000, 10691: 1234},
                        names={M1: "11111111-2ea2-4996-8b29-ee4aed9b6f83.local",
                               M2: "22222222-d9d9-4e76-abe9-a6f9ec8d4c49.local"}, ufrag="0badf00d", foundations={})
    assert compare(lines, other, FIREFOX) == []
    # The UDP and TCP host candidates of one address share its name: swapping one breaks that.
    swapped = edited(other, 3, "address", "22222222-d9d9-4e76-abe9-a6f9ec8d4c49.local", "11111111", "22222222")
    assert kinds(compare(lines, swapped, FIREFOX)) == ["field"]


def test_srflx_before_host_commutes_in_chrome_only():
    lines = chrome_stream()
    swapped = [lines[0], lines[3], lines[1], lines[2], *lines[4:]]
    assert compare(lines, swapped, CHROME, COMMUTING["chrome"]) == []
    diffs = compare(lines, swapped, CHROME, ())
    assert kinds(diffs) == ["order"] and diffs[0].what == "host udp / srflx udp"


def test_timing_inside_the_tolerance_passes():
    lines = chrome_stream()
    later = copy.deepcopy(lines)
    for x in later:
        x["t"] += 100
    assert compare(lines, later, CHROME, COMMUTING["chrome"], Tolerance(abs_ms=150, rel=0)) == []


def test_a_late_gathering_is_one_timing_difference_not_one_per_event():
    lines = chrome_stream()
    late = copy.deepcopy(lines)
    for x in late:
        x["t"] += 400
    assert compare(lines, late, CHROME, COMMUTING["chrome"]) == []  # page latency: gathering_ms
    (diff,) = compare(lines, late, CHROME, COMMUTING["chrome"], Tolerance(gathering_ms=300))
    assert (diff.kind, diff.what) == ("timing", "gathering")
    slow_srflx = copy.deepcopy(lines)
    slow_srflx[3]["t"] += 400
    for x in slow_srflx[4:]:
        x["t"] += 400
    assert [(d.kind, d.what) for d in compare(lines, slow_srflx, CHROME, COMMUTING["chrome"])] == [
        ("timing", "srflx udp"), ("timing", "complete"), ("timing", "null")]


# ---------------------------------------------------------------------------------------------
# What must fail
# ---------------------------------------------------------------------------------------------


def test_another_priority_is_a_field_difference():
    lines = chrome_stream()
    bad = edited(lines, 3, "priority", 1677729279, "1677729535", "1677729279")
    (diff,) = compare(lines, bad, CHROME, COMMUTING["chrome"])
    assert diff.kind == "field" and diff.what == "srflx udp"
    assert "priority: browser 1677729535, icesim 1677729279" in diff.detail


def test_a_srflx_on_another_port_than_its_host_is_caught_despite_port_masking():
    """raddr/rport and port are masked to the host's symbol: a different port stays visible."""
    lines = chrome_stream()
    bad = edited(lines, 3, "port", 50000, "127.0.0.1 42696", "127.0.0.1 50000")
    (diff,) = compare(lines, bad, CHROME, COMMUTING["chrome"])
    assert diff.kind == "field" and "port: browser 'host2', icesim 'srflx1'" in diff.detail


def test_missing_extra_and_absent_attributes():
    lines = chrome_stream()
    assert kinds(compare(lines, lines[:3] + lines[4:], CHROME)) == ["missing"]
    assert kinds(compare(lines[:3] + lines[4:], lines, CHROME)) == ["extra"]
    no_url = copy.deepcopy(lines)
    del no_url[1]["candidate"]["url"]  # absent (Firefox) is not "" nor null
    (diff,) = compare(lines, no_url, CHROME)
    assert diff.kind == "field" and "url: browser '', icesim '<absent>'" in diff.detail


def test_complete_before_a_candidate_is_an_order_difference():
    lines = chrome_stream()
    bad = [lines[0], lines[1], lines[2], lines[4], lines[3], lines[5]]
    diffs = compare(lines, bad, CHROME, COMMUTING["chrome"])
    assert kinds(diffs) == ["order"] and diffs[0].what == "complete / srflx udp"


def test_a_late_timer_is_a_timing_difference():
    lines = chrome_stream("D_turnudp_dropped")
    late = copy.deepcopy(lines)
    for x in late:
        if x["type"] == "icecandidateerror":
            x["t"] = 11150.0  # Firefox's 701, not Chrome's ~39.9 s
    diffs = compare(lines, late, CHROME, COMMUTING["chrome"])
    assert kinds(diffs) == ["timing", "timing"]
    assert {d.what for d in diffs} == {label(x) for x in lines if x["type"] == "icecandidateerror"}


def test_firefox_foundations_are_not_masked():
    lines = firefox_stream()
    bad = copy.deepcopy(lines)
    for x, f in ((bad[1], "2"), (bad[2], "0")):
        c = x["candidate"]
        c["candidate"] = c["candidate"].replace(f"candidate:{c['foundation']} ", f"candidate:{f} ")
        c["foundation"] = f
    assert kinds(compare(lines, bad, FIREFOX)) == ["field", "field"]
    assert compare(lines, bad, CHROME) == []  # under Chrome's masks foundations are random


def test_two_ufrags_in_one_stream_are_caught():
    lines = chrome_stream()
    bad = edited(lines, 2, "usernameFragment", "Zz9+", "ufrag pqkO", "ufrag Zz9+")
    assert kinds(compare(lines, bad, CHROME)) == ["field"]


def test_mask_stream_symbols_and_unknown_masks():
    masked = mask_stream(chrome_stream(), CHROME)
    host4, host6, srflx = (x["candidate"] for x in masked[1:4])
    assert (host4["port"], host6["port"]) == ("host2", "host1")  # canonical: priority order
    assert (srflx["port"], srflx["relatedPort"]) == ("host2", "host2")
    assert srflx["candidate"].startswith("candidate:F3 1 udp 1677729535 127.0.0.1 host2 typ srflx")
    assert "ufrag ufrag1" in srflx["candidate"]
    with pytest.raises(ValueError):
        mask_stream(chrome_stream(), frozenset({"everything"}))


def test_chrome_tcp_relay_foundations_are_not_masked():
    """Chrome's relay-over-TCP foundation is the same on every connection (capture G_two_turn):
    another value is a difference; the seeded UDP relay foundation may differ."""
    lines = chrome_stream("G_two_turn")
    relays = {x["candidate"]["relayProtocol"]: x["candidate"] for x in lines if label(x) == "relay udp"}
    assert set(relays) == {None, "tcp"}
    for proto, diff_kinds in ((None, []), ("tcp", ["field"])):
        other = copy.deepcopy(lines)
        c = next(x["candidate"] for x in other if label(x) == "relay udp" and x["candidate"]["relayProtocol"] == proto)
        c["candidate"] = c["candidate"].replace(f"candidate:{c['foundation']} ", "candidate:12345 ")
        c["foundation"] = "12345"
        assert kinds(compare(lines, other, CHROME, COMMUTING["chrome"])) == diff_kinds


def test_known_differences_cover_only_what_they_name():
    from known import Known

    known = Known("firefox", "relay_only", "field", "relay udp", "raddr 0.0.0.0 rport 0'", "a reason")
    detail = "candidate.candidate: browser '... raddr 203.0.113.2 rport relay1', icesim '... raddr 0.0.0.0 rport 0'"
    diff = Difference("field", "relay udp", detail)
    assert known.covers("firefox", "relay_only", diff)
    assert not known.covers("chrome", "relay_only", diff)
    assert not known.covers("firefox", "mixed", diff)
    assert not known.covers("firefox", "relay_only", Difference("field", "relay udp", "priority: browser 1, icesim 2"))
    assert not known.covers("firefox", "relay_only", Difference("order", "relay udp", detail))
    assert Known("firefox", "*", "field", "", "", "any").covers("firefox", "mixed", diff)
