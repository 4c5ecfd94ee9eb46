"""Each case runs for real (real sockets, the embedded STUN server, closed ports, coturn,
FaultyNet faults) and its stream is what the browser shows: the matcher's verdict, and the
fields the issue names checked here directly (errorCode, errorText, url form, address
redaction, hostCandidate, order, and browser-time t within 2% for the timer-driven events)."""

from __future__ import annotations

import asyncio

import pytest

from icesim.events import ABSENT
from icesim.repro import ALL_CASES, get_case
from icesim.repro.coturn import Coturn
from icesim.repro.matching import expand, kind_of, match_stream
from icesim.repro.runner import run_case, run_cases

ANY4, ANY6 = "0.0.0.x", "[0:0:0:x:x:x:x:x]"
# Safari's sockets bind the default networks' addresses: libwebrtc redacts those (source reading).
SAFARI4, SAFARI6 = "198.51.100.x", "[2001:db8:5:x:x:x:x:x]"
RUN_TIMEOUT_S = 20.0


def _coturn_for(case, request) -> Coturn | None:
    if not case.needs_coturn:
        return None
    server = request.getfixturevalue("coturn")
    return Coturn(server.host, server.port)


def _errors(lines):
    return [x for x in lines if x["type"] == "icecandidateerror"]


def _rel(lines, line) -> float:
    return line["t"] - next(x["t"] for x in lines if kind_of(x) == "gathering")


@pytest.mark.parametrize(("name", "browser"), [(c.name, b) for c in ALL_CASES for b in sorted(c.expected)])
async def test_case_reproduces_the_browser_stream(name, browser, request):
    case = get_case(name)
    run = await asyncio.wait_for(run_case(case, browser, seed=7, coturn=_coturn_for(case, request)), RUN_TIMEOUT_S)
    assert match_stream(case.expected[browser], run.lines, run.servers) == []
    # The same, field by field, without the matcher: every expected error is there, in order.
    ctx = {**run.servers, **{f"P{k[-1]}": str(x["candidate"]["port"])
                             for x in run.lines if (k := kind_of(x)) in ("host4", "host6")}}
    want_errors = [e for e in case.expected[browser] if e.kind == "error"]
    got_errors = _errors(run.lines)
    assert len(got_errors) == len(want_errors)
    for want in want_errors:
        fields = ("errorCode", "errorText", "url", "address", "port", "hostCandidate")
        want_d = {f: expand(getattr(want, f), ctx) for f in fields}
        assert want_d in [{f: g.get(f, ABSENT) for f in fields} for g in got_errors], (want_d, got_errors)
        if want.t is not None and want.t > 1000:
            (got,) = [g for g in got_errors if g["url"] == want_d["url"] and g["address"] == want_d["address"]]
            assert abs(_rel(run.lines, got) - want.t) <= 0.02 * want.t
    for err in got_errors:
        if browser == "chrome":
            assert err["address"] in (ANY4, ANY6, None)  # redacted, never the real address
            assert err["hostCandidate"] in (":0", f"{err['address']}:{err['port']}")
        elif browser == "safari":  # redacted real addresses, libwebrtc's texts, no hostCandidate
            assert err["address"] in (SAFARI4, SAFARI6, None) and "hostCandidate" not in err and err["errorText"]
        else:  # Firefox: no hostCandidate attribute, address and port null, no text (captures)
            assert "hostCandidate" not in err and (err["address"], err["port"], err["errorText"]) == (None, None, "")
    kinds = [kind_of(x) for x in run.lines]
    if "gathering" in kinds:
        last = {"chrome": ["complete", "null"], "firefox": ["end-of-candidates", "complete", "null"],
                "safari": ["null", "complete"]}[browser]
        assert kinds[kinds.index("gathering") - 1:kinds.index("gathering")] in ([], ["error"])
        assert kinds[-len(last):] == last
        assert [x["t"] for x in run.lines] == sorted(x["t"] for x in run.lines)


async def test_issue_facts_per_case():
    """What the issue says each case shows, checked on the runs (with what the captures changed)."""
    names = ["stun-udp-blocked", "stun-dns-failure", "stun-no-aaaa", "turn-udp-unreachable",
             "turn-tcp-refused", "turn-dns-failure", "webrtc-disabled-policy", "turn-no-credentials",
             "stun-error-response-500", "turn-disallowed-port"]
    runs = dict(zip(names, await asyncio.wait_for(
        run_cases([get_case(n) for n in names], "chrome", time_scale=200, seed=3, coturn=None), RUN_TIMEOUT_S)))
    texts = {n: [(e["errorCode"], e["errorText"], e["url"].split(":")[0]) for e in _errors(r.lines)] for n, r in runs.items()}
    assert texts["stun-udp-blocked"] == [(701, "STUN binding request timed out.", "stun")]
    assert texts["stun-dns-failure"] == [(701, "STUN host lookup received error.", "stun")] * 2
    assert texts["stun-no-aaaa"] == [(701, "STUN host lookup received error.", "stun")]
    assert [kind_of(x) for x in runs["stun-no-aaaa"].lines].count("srflx") == 1
    assert texts["turn-udp-unreachable"] == [(701, "STUN binding request timed out.", "stun"),
                                             (701, "TURN allocate request timed out.", "turn")]
    assert texts["turn-tcp-refused"] == [(701, "Failed to establish connection", "turn")]
    assert sorted(texts["turn-dns-failure"]) == sorted([(701, "STUN host lookup received error.", "stun")] * 2
                                                       + [(701, "TURN host lookup received error.", "turn")] * 2)
    assert [kind_of(x) for x in runs["webrtc-disabled-policy"].lines] == ["gathering", "complete", "null"]
    assert [x["name"] for x in runs["turn-no-credentials"].lines] == ["InvalidAccessError"]
    assert texts["stun-error-response-500"] == [] and texts["turn-disallowed-port"] == [
        (701, "STUN binding request timed out.", "stun")]
    assert runs["turn-disallowed-port"].servers["s0"].endswith(":22")


async def test_a_run_that_differs_is_reported():
    """The verdict can fail: a case run against another case's expectation differs."""
    run = await run_case(get_case("stun-closed-port"), seed=1)
    problems = match_stream(get_case("stun-dns-failure").expected["chrome"], run.lines, run.servers)
    assert any(p.startswith("missing: error") for p in problems)
    assert any("errorText 'STUN binding request timed out.'" in p for p in problems)


async def test_issue_facts_per_case_firefox_and_safari(request):
    """Where Firefox (captured) and Safari (source reading) differ from Chrome, on the runs."""
    names = ["webrtc-disabled-policy", "turn-no-credentials", "turn-disallowed-port", "stun-error-response-500",
             "turn-udp-unreachable"]
    cases = [get_case(n) for n in names]
    ff, sf = [dict(zip(names, await asyncio.wait_for(run_cases(cases, b, time_scale=200, seed=3, coturn=None),
                                                      RUN_TIMEOUT_S))) for b in ("firefox", "safari")]
    # Firefox under relay_only: no "gathering" state, nothing but the end.
    assert [kind_of(x) for x in ff["webrtc-disabled-policy"].lines] == ["end-of-candidates", "complete", "null"]
    assert ff["turn-no-credentials"].lines == [{"type": "exception", "name": "InvalidAccessError", "message":
                                                "PeerConnectionImpl.setConfiguration: TURN server requires a username"}]
    (port22,) = ff["turn-disallowed-port"].lines
    assert port22["name"] == "SyntaxError" and "uses a port that is blocked" in port22["message"]
    assert [e["errorCode"] for e in _errors(ff["stun-error-response-500"].lines)] == [65535]
    assert [e["url"] for e in _errors(ff["turn-udp-unreachable"].lines)] == [f"turn:{ff['turn-udp-unreachable'].servers['s0']}"]
    # Safari: WebRTC switched off, WebKit's constructor text, the blocked URL's immediate 701.
    assert sf["webrtc-disabled-policy"].lines == [{"type": "exception", "name": "ReferenceError",
                                                   "message": "Can't find variable: RTCPeerConnection"}]
    assert sf["turn-no-credentials"].lines[0]["message"] == "TURN/TURNS server requires both username and credential"
    first = sf["turn-disallowed-port"].lines[0]
    assert (first["errorCode"], first["errorText"], first["address"]) == (701, "URL is not allowed", None)
    assert _errors(sf["stun-error-response-500"].lines) == []
    assert [e["errorText"] for e in _errors(sf["turn-udp-unreachable"].lines)] == [
        "STUN binding request timed out.", "TURN allocate request timed out."]
