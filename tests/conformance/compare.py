"""Compares a browser's event stream with icesim's, after masking only what is random in the
browser too. Pure code (no I/O), unit-tested in test_compare.py.

Masking replaces a random value by a symbol that keeps its identity inside the stream: the
port of the first host candidate becomes "host1" wherever it shows (a srflx on that same port,
a raddr/rport, an error's hostCandidate), so "icesim's srflx reuses the host port" is still
checked while the port number itself is not. Symbols are handed out in a canonical candidate
order (type, protocol, tcptype, priority), never by arrival order, so two streams that differ
only in a documented order variance get the same symbols.

The comparison reports, per event label: events the browser had and icesim lacks ("missing"),
the reverse ("extra"), the same event with other fields ("field"); the relative order of every
pair of labels that the browser does not let commute ("order"); and times outside a tolerance
("timing").
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from chrome_helpers import MDNS_RE  # tests/chrome_helpers.py: uuid4 .local names

FIXED_PORTS = (None, 0, 9)  # "no port", raddr 0.0.0.0:0 and TCP active's discard port
TYPE_RANK = {"host": 0, "srflx": 1, "prflx": 2, "relay": 3}
MASK_NAMES = frozenset({"ports", "mdns", "ufrag", "foundation", "seeded_foundation"})


@dataclass(frozen=True)
class Difference:
    kind: str  # unavailable | missing | extra | field | order | timing
    what: str  # the event label it is about
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} [{self.what}] {self.detail}"


@dataclass(frozen=True)
class Tolerance:
    """How far apart the same event's t may be: abs_ms + rel * the later t. Both sides run real
    network I/O on a shared machine: a few hundred ms of scheduling noise is not a rule."""

    abs_ms: float = 300.0
    rel: float = 0.05
    # "gathering" waits for the page's createOffer/setLocalDescription: JavaScript and start-up
    # latency of a loaded browser (seen: 400 ms instead of 50 ms), not an ICE rule.
    gathering_ms: float = 1000.0

    def allows(self, a: float, b: float, what: str = "") -> bool:
        slack = self.gathering_ms if what == "gathering" else self.abs_ms
        return abs(a - b) <= slack + self.rel * max(a, b)


def label(line: dict) -> str:
    """What an event is, without anything random: "host udp", "relay tcp", "error 701 URL"..."""
    kind = line["type"]
    if kind == "icegatheringstatechange":
        return line["state"]
    if kind == "icecandidateerror":
        return f"error {line['errorCode']} {line['url']}"
    cand = line["candidate"]
    if cand is None:
        return "null"
    if not cand.get("candidate"):
        return "end-of-candidates"
    text = f"{cand['type']} {str(cand['protocol']).lower()}"
    return f"{text} {cand['tcpType']}" if cand.get("tcpType") else text


# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------


class _Symbols:
    """value -> symbol tables for one stream, filled in canonical order."""

    def __init__(self, lines: list[dict], masks: frozenset[str]) -> None:
        unknown = masks - MASK_NAMES
        if unknown:
            raise ValueError(f"unknown masks {sorted(unknown)}")
        self.masks = masks
        self.ports: dict[int, str] = {}
        self.names: dict[str, str] = {}
        self.foundations: dict[str, str] = {}
        self.ufrags: dict[str, str] = {}
        cands = [x["candidate"] for x in lines if x["type"] == "icecandidate" and x["candidate"]]
        real = [c for c in cands if c.get("candidate")]
        real.sort(key=lambda c: (TYPE_RANK.get(c["type"], 9), str(c["protocol"]).lower(),
                                 c.get("tcpType") or "", -(c["priority"] or 0)))
        for c in real:
            for port in (c["port"], c.get("relatedPort")):
                self._port(port, c["type"])
            if MDNS_RE.match(str(c["address"])):
                self.names.setdefault(c["address"], f"mdns{len(self.names) + 1}")
            if "foundation" in masks or ("seeded_foundation" in masks and c.get("relayProtocol") != "tcp"):
                self.foundations.setdefault(c["foundation"], f"F{len(self.foundations) + 1}")
        for c in cands:
            if c.get("usernameFragment") is not None:
                self.ufrags.setdefault(c["usernameFragment"], f"ufrag{len(self.ufrags) + 1}")
        for x in lines:
            if x["type"] == "icecandidateerror":
                self._port(x.get("port"), "error")
                if x.get("hostCandidate"):
                    self._port(_port_of(x["hostCandidate"]), "error")

    def _port(self, port: Any, role: str) -> None:
        if port in FIXED_PORTS or port in self.ports:
            return
        n = sum(1 for s in self.ports.values() if s.rstrip("0123456789") == role) + 1
        self.ports[port] = f"{role}{n}"

    def port(self, port: Any) -> Any:
        return self.ports.get(port, port) if "ports" in self.masks else port

    def name(self, address: Any) -> Any:
        return self.names.get(address, address) if "mdns" in self.masks else address

    def foundation(self, value: Any) -> Any:
        return self.foundations.get(value, value)

    def ufrag(self, value: Any) -> Any:
        return self.ufrags.get(value, value) if "ufrag" in self.masks else value


def _port_of(host_candidate: str) -> int | None:
    _, _, port = host_candidate.rpartition(":")
    return int(port) if port.isdigit() else None


def _mask_candidate_string(text: str, sym: _Symbols) -> str:
    tokens = text.split()
    if len(tokens) < 8 or not tokens[0].startswith("candidate:"):
        return text  # "" (end-of-candidates) or something no browser sends: compared verbatim
    tokens[0] = f"candidate:{sym.foundation(tokens[0][len('candidate:'):])}"
    tokens[4] = str(sym.name(tokens[4]))
    tokens[5] = str(sym.port(int(tokens[5]) if tokens[5].isdigit() else tokens[5]))
    for i in range(8, len(tokens) - 1):
        if tokens[i] == "rport" and tokens[i + 1].isdigit():
            tokens[i + 1] = str(sym.port(int(tokens[i + 1])))
        elif tokens[i] == "ufrag":
            tokens[i + 1] = str(sym.ufrag(tokens[i + 1]))
    return " ".join(tokens)


def mask_line(line: dict, sym: _Symbols) -> dict:
    out = dict(line)
    if line["type"] == "icecandidate" and line["candidate"] is not None:
        c = dict(line["candidate"])
        c["candidate"] = _mask_candidate_string(c["candidate"], sym)
        for key, fn in (("foundation", sym.foundation), ("address", sym.name), ("port", sym.port),
                        ("relatedPort", sym.port), ("usernameFragment", sym.ufrag)):
            if key in c and c[key] is not None:
                c[key] = fn(c[key])
        out["candidate"] = c
    elif line["type"] == "icecandidateerror":
        out["port"] = sym.port(line.get("port"))
        if line.get("hostCandidate"):
            addr, _, _ = line["hostCandidate"].rpartition(":")
            out["hostCandidate"] = f"{addr}:{sym.port(_port_of(line['hostCandidate']))}"
    return out


def mask_stream(lines: list[dict], masks: frozenset[str]) -> list[dict]:
    """The stream with what `masks` names replaced by identity-keeping symbols (t kept)."""
    sym = _Symbols(lines, masks)
    return [mask_line(x, sym) for x in lines]


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------


def _key(line: dict) -> str:
    return json.dumps({k: v for k, v in line.items() if k != "t"}, sort_keys=True)


def _field_diffs(want: dict, got: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(want) | set(got), key=str):
        if key == "t":
            continue
        a, b = want.get(key, "<absent>"), got.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _field_diffs(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: browser {a!r}, icesim {b!r}")
    return out


Commuting = tuple[tuple[str, str], ...]  # pairs of label prefixes whose order is free


def commutes(a: str, b: str, commuting: Commuting) -> bool:
    return any((a.startswith(p) and b.startswith(q)) or (a.startswith(q) and b.startswith(p))
               for p, q in commuting)


def compare(
    browser: list[dict], icesim: list[dict], masks: frozenset[str],
    commuting: Commuting = (), tolerance: Tolerance = Tolerance(),
) -> list[Difference]:
    """Every way icesim's stream differs from the browser's (empty: they match)."""
    want, got = mask_stream(browser, masks), mask_stream(icesim, masks)
    diffs = _event_diffs(want, got) + _order_diffs(want, got, commuting)
    return diffs + _timing_diffs(want, got, tolerance)


def _event_diffs(want: list[dict], got: list[dict]) -> list[Difference]:
    by_label: dict[str, tuple[list[dict], list[dict]]] = defaultdict(lambda: ([], []))
    for x in want:
        by_label[label(x)][0].append(x)
    for x in got:
        by_label[label(x)][1].append(x)
    diffs = []
    for lab, (w, g) in by_label.items():
        common = Counter(map(_key, w)) & Counter(map(_key, g))
        left_w, left_g = _without(w, common), _without(g, common)
        for a, b in zip(left_w, left_g):
            diffs.append(Difference("field", lab, "; ".join(_field_diffs(a, b))))
        for a in left_w[len(left_g):]:
            diffs.append(Difference("missing", lab, f"icesim lacks {_key(a)}"))
        for b in left_g[len(left_w):]:
            diffs.append(Difference("extra", lab, f"icesim adds {_key(b)}"))
    return diffs


def _without(lines: list[dict], common: Counter) -> list[dict]:
    budget = Counter(common)
    out = []
    for x in lines:
        k = _key(x)
        if budget[k] > 0:
            budget[k] -= 1
        else:
            out.append(x)
    return out


def _truncated_labels(want: list[dict], got: list[dict]) -> tuple[list[str], list[str]]:
    """Both label sequences keeping only the occurrences the other stream has too."""
    wl, gl = [label(x) for x in want], [label(x) for x in got]
    keep = Counter(wl) & Counter(gl)

    def cut(seq: list[str]) -> list[str]:
        seen: Counter = Counter()
        out = []
        for lab in seq:
            seen[lab] += 1
            if seen[lab] <= keep[lab]:
                out.append(lab)
        return out

    return cut(wl), cut(gl)


def _order_diffs(want: list[dict], got: list[dict], commuting: Commuting) -> list[Difference]:
    """Trace equivalence: two sequences are the same up to swaps of commuting neighbours iff
    their projections on every non-commuting pair of labels are equal."""
    wl, gl = _truncated_labels(want, got)
    diffs = []
    for a, b in combinations(sorted(set(wl)), 2):
        if commutes(a, b, commuting):
            continue
        pw = [x for x in wl if x in (a, b)]
        pg = [x for x in gl if x in (a, b)]
        if pw != pg:
            diffs.append(Difference("order", f"{a} / {b}", f"browser {pw}, icesim {pg}"))
    return diffs


def _timing_diffs(want: list[dict], got: list[dict], tolerance: Tolerance) -> list[Difference]:
    """"gathering" is compared on the page's clock (t since createOffer), every other event
    relative to "gathering": a browser slow to start gathering (a loaded machine delays
    setLocalDescription by hundreds of ms) shows once, not in every later event."""

    def times(lines: list[dict]) -> dict[tuple[str, int], float]:
        base = next((float(x["t"]) for x in lines if label(x) == "gathering"), 0.0)
        seen: Counter = Counter()
        out = {}
        for x in lines:
            lab = label(x)
            out[(lab, seen[lab])] = float(x["t"]) - (0.0 if lab == "gathering" else base)
            seen[lab] += 1
        return out

    tw, tg = times(want), times(got)
    diffs = []
    for key in [k for k in tw if k in tg]:
        lab, n = key
        if not tolerance.allows(tw[key], tg[key], lab):
            diffs.append(Difference("timing", lab if n == 0 else f"{lab} #{n + 1}",
                                    f"browser {tw[key]:.1f}, icesim {tg[key]:.1f} ms{'' if lab == 'gathering' else ' after gathering'} "
                                    f"({tg[key] - tw[key]:+.1f} ms)"))
    return diffs
