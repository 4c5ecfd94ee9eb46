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


KNOWN: tuple[Known, ...] = (
    Known("firefox", "relay_only", "field", "relay udp", "typ relay raddr 0.0.0.0 rport 0'",
          "iceTransportPolicy relay in Firefox (this suite's relay_only scenario): the relay keeps "
          "raddr = its own address (icesim zeroes it as Chrome does), foundations count only the "
          "relay candidates (0, 1; icesim keeps the numbering of a full gather: 5, 2), and the STUN "
          "server is left out of the server ids (TURN/UDP 92151807 = id 0; icesim 92151551). "
          "icesim's Firefox dialect inherits JSEP's relay filter (dialects/transport_rules.py) "
          "until these rules are moved into it"),
)


def known_reason(browser: str, scenario: str, diff: Difference) -> str | None:
    return next((k.reason for k in KNOWN if k.covers(browser, scenario, diff)), None)
