"""Differences between a real browser and icesim that are known and explained (README, "Known
differences"). Pure data: a difference the suite finds and no entry here covers fails its test.
"""

from __future__ import annotations

from dataclasses import dataclass

from compare import Difference


@dataclass(frozen=True)
class Known:
    browser: str  # "chrome" | "firefox"
    scenario: str  # a scenario name, or "*"
    kind: str  # Difference.kind
    what: str  # a substring of Difference.what ("" = any)
    detail: str  # a substring of Difference.detail ("" = any)
    reason: str

    def covers(self, browser: str, scenario: str, diff: Difference) -> bool:
        return (self.browser == browser and self.scenario in ("*", scenario) and self.kind == diff.kind
                and self.what in diff.what and self.detail in diff.detail)


# Empty: every difference the suite found so far is fixed (README, "Known differences").
KNOWN: tuple[Known, ...] = ()


def known_reason(browser: str, scenario: str, diff: Difference) -> str | None:
    return next((k.reason for k in KNOWN if k.covers(browser, scenario, diff)), None)
