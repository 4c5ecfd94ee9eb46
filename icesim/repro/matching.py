"""Does a run's stream match the case's expected stream? Pure: lines in, mismatches out.

Each expected event is matched to the first unused line of its kind whose checked fields are
equal (templates expanded: {s0} = the first server's host:port, {P4}/{P6} = the IPv4/IPv6 host
ports). Matched lines must come in the expected order (except `order_free` ones), no line may
be left over, and a timed event's `t` (after "gathering") must be within t_tolerance().
"""

from __future__ import annotations

from typing import Any

from ..events import ABSENT
from .model import UNCHECKED, Expect, t_tolerance

_V6_PRECEDENCE = {1, 10, 20, 40, 50, 60}
FIELDS = ("errorCode", "errorText", "url", "address", "port", "hostCandidate", "priority", "name", "message")


def kind_of(line: dict[str, Any]) -> str:
    """gathering, complete, host4, host6, host-tcp, srflx, relay-udp, relay-tcp, error, null, exception."""
    if line["type"] == "icegatheringstatechange":
        return line["state"]
    if line["type"] == "icecandidateerror":
        return "error"
    if line["type"] == "exception":
        return "exception"
    c = line["candidate"]
    if c is None:
        return "null"
    if c["candidate"] == "":
        return "end-of-candidates"
    if c["type"] == "host":
        if c["protocol"].lower() != "udp":
            return "host-tcp"
        # Chrome's priority carries the address precedence (addresses.py): 30 = IPv4, 40/50/60...
        # IPv6. Firefox's does not (its byte is 31): a host of unknown family there.
        precedence = (c["priority"] >> 8) & 0xFF
        return "host4" if precedence == 30 else "host6" if precedence in _V6_PRECEDENCE else "host-udp"
    if c["type"] == "relay":
        # Firefox and Safari have no relayProtocol attribute: a relay of unknown transport
        # (its priority tells; the string says UDP either way).
        return f"relay-{c['relayProtocol'] or 'udp'}" if "relayProtocol" in c else "relay"
    return c["type"]


def _value(line: dict[str, Any], name: str) -> Any:
    """The line's attribute; ABSENT when the browser has no such attribute."""
    if line["type"] == "icecandidate" and line["candidate"] is not None:
        return line["candidate"].get(name, ABSENT)
    return line.get(name, ABSENT)


def context(lines: list[dict[str, Any]], servers: dict[str, str]) -> dict[str, str]:
    ctx = dict(servers)
    for line in lines:
        kind = kind_of(line)
        if kind in ("host4", "host6"):
            ctx.setdefault("P" + kind[-1], str(line["candidate"]["port"]))
    return ctx


def expand(value: Any, ctx: dict[str, str]) -> Any:
    """Fill templates; a whole-string port template becomes the int port."""
    if not isinstance(value, str) or "{" not in value:
        return value
    try:
        text = value.format(**ctx)
    except KeyError:
        return value  # a port that never showed (no host candidate): cannot match
    return int(text) if value in ("{P4}", "{P6}") else text


def describe(item: Expect | dict[str, Any]) -> str:
    if isinstance(item, Expect):
        fields = {f: getattr(item, f) for f in ("errorCode", "errorText", "url", "name")
                  if getattr(item, f) is not UNCHECKED}
        return f"{item.kind} {fields}" if fields else item.kind
    kind = kind_of(item)
    if kind == "error":
        return f"error {item['errorCode']} {item['errorText']!r} {item['url']}"
    return kind


def _diffs(want: Expect, line: dict[str, Any], ctx: dict[str, str]) -> list[str]:
    out = []
    for name in FIELDS:
        expected = getattr(want, name)
        if expected is UNCHECKED:
            continue
        expected = expand(expected, ctx)
        got = _value(line, name)
        if got != expected:
            out.append(f"{name} {got!r} (expected {expected!r})")
    return out


def match_stream(expected: tuple[Expect, ...], lines: list[dict[str, Any]], servers: dict[str, str]) -> list[str]:
    """Every difference between the run and the expectation, in words; [] = it matches."""
    ctx = context(lines, servers)
    used: set[int] = set()
    placed: list[tuple[int, Expect]] = []
    problems: list[str] = []
    for want in expected:
        same_kind = [i for i, x in enumerate(lines) if i not in used and kind_of(x) == want.kind]
        exact = [i for i in same_kind if not _diffs(want, lines[i], ctx)]
        if exact:
            i = exact[0]
        elif same_kind:
            i = same_kind[0]
            problems.append(f"{describe(want)}: " + "; ".join(_diffs(want, lines[i], ctx)))
        else:
            problems.append(f"missing: {describe(want)}")
            continue
        used.add(i)
        placed.append((i, want))
    problems += [f"unexpected: {describe(x)}" for i, x in enumerate(lines) if i not in used]
    ordered = [(i, w) for i, w in placed if not w.order_free]
    for (i, a), (j, b) in zip(ordered, ordered[1:]):
        if j < i:
            problems.append(f"order: {describe(b)} came before {describe(a)}")
    problems += _timing(placed, lines)
    return problems


def _timing(placed: list[tuple[int, Expect]], lines: list[dict[str, Any]]) -> list[str]:
    """`t` after "gathering"; in a stream without one (Firefox, relay only and nothing to
    gather: capture pref_relay_only) after createOffer, the origin of every `t`."""
    t0 = next((x["t"] for x in lines if kind_of(x) == "gathering"), 0.0)
    out = []
    for i, want in placed:
        if want.t is None:
            continue
        rel = lines[i]["t"] - t0
        tol = t_tolerance(want.t)
        if abs(rel - want.t) > tol:
            out.append(f"t: {describe(want)} at {rel:.1f} ms after {'gathering' if t0 else 'createOffer'} (expected {want.t:.1f} ± {tol:.1f})")
    return out


def first_error_t(lines: list[dict[str, Any]]) -> float | None:
    return next((x["t"] for x in lines if x["type"] == "icecandidateerror"), None)
