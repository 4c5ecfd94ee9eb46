"""How a repro run is shown: the explanation after a case's stream, and the `--all` table.
Pure formatting; the CLI decides where it goes."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from typing import Any

from ..events import (
    ABSENT, CandidateErrorEvent, CandidateEvent, Event, GatheringStateChange, GatherMeta, IceCandidate,
)
from .matching import first_error_t
from .model import Case, expectation_origin
from .runner import PUBLIC_ALIAS, CaseRun

WIDTH = 100


def _wrapped(label: str, text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=f"{label:<10}", subsequent_indent=" " * 10) or [label]


def explanation_lines(run: CaseRun, problems: list[str]) -> list[str]:
    """The text after a case's stream (`--format pretty`)."""
    case = run.case
    out = ["", *_wrapped("cause:", case.cause), *_wrapped("detector:", case.detector)]
    if case.browser_note and run.browser_name == "chrome":
        out += _wrapped("browser:", case.browser_note)
    if run.browser_name in case.dialect_notes:
        out += _wrapped("browser:", case.dialect_notes[run.browser_name])
    if run.lab:
        out += _wrapped("network:", "a kernel network lab: the page behind a home NAT, the servers in another "
                        "namespace, UDP dropped by the router's nftables where the case says")
    if run.aliased:
        out += _wrapped("network:", f"{run.browser_name} refuses servers on loopback: the page names them "
                        f"{PUBLIC_ALIAS}, which icesim rewrites to 127.0.0.1 in process (nothing leaves the machine)")
    out += _wrapped("expected:", f"{expectation_origin(case, run.browser_name)}: {case.sources.get(run.browser_name, '-')}")
    verdict = "matches the expected stream" if not problems else "DIFFERS from the expected stream:"
    out += _wrapped("result:", f"{verdict} (wall time {run.wall_s:.2f} s)")
    out += [" " * 10 + "- " + p for p in problems]
    return out


def explanation_json(run: CaseRun, problems: list[str]) -> str:
    """The last line of a case's stream (`--format jsonl`)."""
    case = run.case
    return json.dumps({
        "type": "repro", "case": case.name, "browser": run.browser, "matchesExpected": not problems,
        "differences": problems, "cause": case.cause, "detector": case.detector,
        "browserNote": case.dialect_notes.get(run.browser_name)
        or (case.browser_note if run.browser_name == "chrome" else None) or None,
        "expectedFrom": case.sources.get(run.browser_name),
        "expectedOrigin": expectation_origin(case, run.browser_name),
        "wallSeconds": round(run.wall_s, 3),
    }, ensure_ascii=False)


def exception_line(line: dict[str, Any]) -> str:
    return f"{'':10}    new RTCPeerConnection() threw {line['name']}: {line['message']}"


def errors_seen(run: CaseRun) -> str:
    codes = Counter(str(x.get("errorCode", x.get("name"))) for x in run.errors)
    if not codes:
        return "none"
    return ", ".join(code if n == 1 else f"{n}x {code}" for code, n in codes.items())


def summary_row(case: Case, browser: str, run: CaseRun | None, problems: list[str] | None,
                note: str = "") -> dict[str, Any]:
    if run is None:
        return {"case": case.name, "browser": browser, "errorsSeen": None, "firstErrorT": None,
                "matchesExpected": None, "note": note}
    return {"case": case.name, "browser": browser, "errorsSeen": errors_seen(run),
            "firstErrorT": first_error_t(run.lines), "matchesExpected": not problems,
            "differences": problems, "wallSeconds": round(run.wall_s, 3)}


def summary_table(rows: list[dict[str, Any]]) -> list[str]:
    head = ("case", "browser", "errors seen", "first error t", "matches expected")
    body = []
    for r in rows:
        t = r["firstErrorT"]
        if r["matchesExpected"] is None:
            verdict = f"skipped: {r['note']}"
        else:
            verdict = "yes" if r["matchesExpected"] else "no"
        body.append((r["case"], r["browser"], r["errorsSeen"] or "-", "-" if t is None else f"{t:.1f} ms", verdict))
    widths = [max(len(str(row[i])) for row in (head, *body)) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*row).rstrip() for row in body]
    for r in rows:
        for p in r.get("differences") or []:
            lines.append(f"{r['case']}: {p}")
    return lines


def event_of(line: dict[str, Any]) -> Event:
    """A printed line (a lab gather's output) back as the event it was, for `--format pretty`."""
    kind = line["type"]
    if kind == "meta":
        return GatherMeta(browser=line["browser"], time_scale=line["timeScale"], seed=line.get("seed"),
                          servers=tuple(line.get("servers", ())))
    if kind == "icegatheringstatechange":
        return GatheringStateChange(t=line["t"], state=line["state"])
    if kind == "icecandidate":
        cand = line["candidate"]
        return CandidateEvent(t=line["t"], candidate=None if cand is None else IceCandidate(**cand))
    fields = {k: line[k] for k in ("t", "address", "port", "url", "errorCode", "errorText")}
    return CandidateErrorEvent(**fields, hostCandidate=line.get("hostCandidate", ABSENT))
