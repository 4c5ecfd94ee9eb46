"""The per-scenario table of matches and differences (pure: rows in, text out). Filled by
test_conformance.py, printed by conftest.py's terminal summary (`make conformance`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from compare import Difference, compare
from known import known_reason
from scenarios import COMMUTING, Scenario

DETAIL_WIDTH = 110


@dataclass
class Row:
    scenario: str
    browser: str
    browser_events: int
    icesim_events: int
    seconds: float
    differences: list[Difference] = field(default_factory=list)
    known: dict[int, str] = field(default_factory=dict)  # index in differences -> reason
    note: str = ""

    @property
    def unexpected(self) -> list[Difference]:
        return [d for i, d in enumerate(self.differences) if i not in self.known]

    @property
    def verdict(self) -> str:
        if not self.differences:
            return "MATCH"
        if not self.unexpected:
            return f"KNOWN ({len(self.differences)})"
        return f"DIFF ({len(self.unexpected)})"


def run_differences(scenario: Scenario, browser: str, browser_lines: list[dict], browser_error: str | None,
                    icesim_lines: list[dict], icesim_error: str | None) -> list[Difference]:
    """Either side failing to produce a stream is a difference of its own (never a skip)."""
    diffs = []
    if browser_error:
        diffs.append(Difference("unavailable", "browser", browser_error))
    if icesim_error:
        diffs.append(Difference("unavailable", "icesim", icesim_error))
    if diffs:
        return diffs
    return compare(browser_lines, icesim_lines, scenario.masks(browser), COMMUTING[browser])


def make_row(scenario: Scenario, browser: str, browser_lines: list[dict], icesim_lines: list[dict],
             differences: list[Difference], seconds: float) -> Row:
    row = Row(scenario.name, browser, len(browser_lines), len(icesim_lines), seconds, differences)
    for i, diff in enumerate(differences):
        reason = known_reason(browser, scenario.name, diff)
        if reason is not None:
            row.known[i] = reason
    return row


def format_table(rows: list[Row]) -> str:
    """One line per scenario and browser, then every difference in full."""
    rows = sorted(rows, key=lambda r: (r.browser, r.scenario))
    head = ("scenario", "browser", "result", "events b/i", "run s")
    body = [(r.scenario, r.browser, r.verdict + (" *" if r.note else ""), f"{r.browser_events}/{r.icesim_events}",
             f"{r.seconds:.1f}") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*b) for b in body]
    matches = sum(1 for r in rows if not r.differences)
    lines.append(f"{matches}/{len(rows)} match; "
                 f"{sum(1 for r in rows if r.differences and not r.unexpected)} with known differences only")
    lines += [f"  * {r.browser}/{r.scenario}: {r.note}" for r in rows if r.note]
    for r in rows:
        for i, d in enumerate(r.differences):
            tag = "known" if i in r.known else "DIFF"
            text = f"  {tag:5} {r.browser}/{r.scenario}: {d}"
            lines.append(text if len(text) <= DETAIL_WIDTH * 3 else text[: DETAIL_WIDTH * 3] + "...")
            if i in r.known:
                lines.append(f"        reason: {r.known[i]}")
    return "\n".join(lines)
