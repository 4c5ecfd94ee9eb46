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
    reason: str

    def covers(self, browser: str, scenario: str, diff: Difference) -> bool:
        return (self.browser == browser and self.scenario in ("*", scenario) and self.kind == diff.kind
                and self.what in diff.what)


KNOWN: tuple[Known, ...] = (
    Known("firefox", "mixed", "field", "relay udp",
          "Firefox gives a relay over TCP the STUN-server priority 31 (8265727) even when other "
          "servers come before it in iceServers; icesim's Firefox dialect counts it after them "
          "(31 - 2: 8265215). One capture (this suite's mixed scenario) shows it; whether nICEr "
          "numbers TCP TURN servers apart or always uses 31 is open, so the rule waits for a "
          "capture with two TCP TURN servers"),
)


def known_reason(browser: str, scenario: str, diff: Difference) -> str | None:
    return next((k.reason for k in KNOWN if k.covers(browser, scenario, diff)), None)
