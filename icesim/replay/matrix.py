"""The confusion matrix of a detector's verdicts against the sessions' labels (pure).

Rows are scenario x label, columns the verdicts (bot / human / error / unsettled). Bot is the
positive class: TPR = bot sessions flagged bot / bot sessions, FPR = human sessions flagged bot /
human sessions, precision = flagged bot sessions that are bots / sessions flagged bot. Sessions
that errored or never settled count in the denominators (the detector did not flag them).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .verdict import VERDICTS, verdict_of

UNLABELLED = "-"
TOP_REASONS = 3
PROBLEM_LIST_MAX = 10


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    """One replayed session: its document's labels and what the detector concluded."""

    session_id: str
    label: str | None
    scenario: str | None
    profile: str | None
    browser: str
    verdict: str
    reason: str
    status: str
    value: Any = None
    settled_ms: float | None = None
    errors: list = field(default_factory=list)
    console: list = field(default_factory=list)
    requests: list = field(default_factory=list)  # what the page sent (Node runner only)

    def line(self) -> dict[str, Any]:
        """The `--format jsonl` line for this session; `requests` only when the page sent any."""
        line = {"session_id": self.session_id, "label": self.label, "scenario": self.scenario, "profile": self.profile,
                "browser": self.browser, "verdict": self.verdict, "reason": self.reason, "status": self.status,
                "value": self.value, "settled_ms": self.settled_ms, "errors": self.errors, "console": self.console}
        if self.requests:
            line["requests"] = self.requests
        return line


def outcome_of(document: dict[str, Any], result: dict[str, Any], rejected: str = "bot") -> SessionOutcome:
    """A runner (or served page) result for a replay document, with its verdict."""
    verdict = verdict_of(result, rejected)
    return SessionOutcome(
        session_id=document["session_id"], label=document.get("label"), scenario=document.get("scenario"),
        profile=document.get("profile"), browser=document["browser"], verdict=verdict.verdict, reason=verdict.reason,
        status=str(result.get("status")), value=result.get("value"), settled_ms=result.get("settled_ms"),
        errors=list(result.get("errors") or []), console=list(result.get("console") or []),
        requests=list(result.get("requests") or []),
    )


@dataclass
class _Cell:
    counts: Counter = field(default_factory=Counter)  # verdict -> sessions
    reasons: dict[str, Counter] = field(default_factory=dict)  # verdict -> reason -> sessions

    def add(self, verdict: str, reason: str) -> None:
        self.counts[verdict] += 1
        self.reasons.setdefault(verdict, Counter())[reason] += 1


class ConfusionMatrix:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], _Cell] = {}
        self.totals: dict[str, _Cell] = {}
        self.problems: list[SessionOutcome] = []  # errored or never settled, in input order

    def add(self, outcome: SessionOutcome) -> None:
        label = outcome.label or UNLABELLED
        key = (outcome.scenario or UNLABELLED, label)
        self.rows.setdefault(key, _Cell()).add(outcome.verdict, outcome.reason)
        self.totals.setdefault(label, _Cell()).add(outcome.verdict, outcome.reason)
        if outcome.verdict in ("error", "unsettled"):
            self.problems.append(outcome)

    @property
    def sessions(self) -> int:
        return sum(sum(c.counts.values()) for c in self.totals.values())

    def metrics(self) -> dict[str, dict[str, Any]]:
        """TPR, FPR and precision with their counts; value None where a denominator is 0."""
        bots, humans = self.totals.get("bot", _Cell()).counts, self.totals.get("human", _Cell()).counts
        tp, fp = bots["bot"], humans["bot"]
        return {
            "tpr": _ratio(tp, sum(bots.values())),
            "fpr": _ratio(fp, sum(humans.values())),
            "precision": _ratio(tp, tp + fp),
        }

    # --- output ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The matrix as data (the last `--format jsonl` line)."""
        def cell(c: _Cell) -> dict[str, Any]:
            return {**{v: c.counts[v] for v in VERDICTS}, "sessions": sum(c.counts.values()),
                    "reasons": {v: dict(c.reasons[v].most_common(TOP_REASONS)) for v in VERDICTS if v in c.reasons}}

        return {"summary": {
            "sessions": self.sessions,
            "matrix": [{"scenario": s, "label": lab, **cell(c)} for (s, lab), c in sorted(self.rows.items())],
            "totals": {lab: cell(c) for lab, c in sorted(self.totals.items())},
            "metrics": self.metrics(),
            "problems": [{"session_id": p.session_id, "verdict": p.verdict, "reason": p.reason} for p in self.problems],
        }}

    def table(self) -> str:
        header = ["scenario", "label", "sessions", *VERDICTS]
        body = [[s, lab, str(sum(c.counts.values())), *(str(c.counts[v]) for v in VERDICTS)]
                for (s, lab), c in sorted(self.rows.items())]
        totals = [["total", lab, str(sum(c.counts.values())), *(str(c.counts[v]) for v in VERDICTS)]
                  for lab, c in sorted(self.totals.items())]
        widths = [max(len(r[k]) for r in [header, *body, *totals]) for k in range(len(header))]

        def fmt(r: list[str]) -> str:
            return "  ".join(c.ljust(w) if k < 2 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths))).rstrip()

        rule = "  ".join("-" * w for w in widths)
        lines = [fmt(header), rule, *map(fmt, body), rule, *map(fmt, totals), ""]
        lines.append("bot = positive: " + "  ".join(_metric_text(name, m) for name, m in self.metrics().items()))
        lines += ["", "most common reasons (scenario / label -> verdict: reason x sessions):"]
        for (s, lab), c in sorted(self.rows.items()):
            for v in VERDICTS:
                if v in c.reasons:
                    top = ", ".join(f"{r} x{n}" for r, n in c.reasons[v].most_common(TOP_REASONS))
                    lines.append(f"  {s} / {lab} -> {v}: {top}")
        if self.problems:
            lines += ["", f"sessions that errored or never settled ({len(self.problems)}):"]
            for p in self.problems[:PROBLEM_LIST_MAX]:
                lines.append(f"  {p.session_id}  {p.profile or UNLABELLED}  {p.verdict}: {p.reason}")
            if len(self.problems) > PROBLEM_LIST_MAX:
                lines.append(f"  {len(self.problems) - PROBLEM_LIST_MAX} more: --format jsonl")
        return "\n".join(lines)


def _ratio(num: int, den: int) -> dict[str, Any]:
    return {"value": round(num / den, 4) if den else None, "num": num, "den": den}


def _metric_text(name: str, m: dict[str, Any]) -> str:
    shown = "n/a" if m["value"] is None else f"{m['value']:.3f}"
    return f"{name.upper() if name != 'precision' else name} {shown} ({m['num']}/{m['den']})"
