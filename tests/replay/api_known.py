"""Differences between the browsers' API captures and the replay module that are known, each
explained in tests/data/API_FACTS.md ("Module vs capture", item N). Pure data: a difference
no entry covers fails test_module_matches_capture; an entry that covers nothing any more
fails test_every_known_difference_still_occurs (remove it when the module is fixed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    browser: str  # "chromium156" | "firefox" | "*"
    area: str  # api_compare.AREAS
    what: str  # a substring of the difference line
    item: int  # API_FACTS.md, "Module vs capture", item number
    scenario: str = "*"  # a capture's name, or "*"

    def covers(self, browser: str, area: str, line: str, scenario: str) -> bool:
        return (self.browser in ("*", browser) and self.area == area and self.what in line
                and self.scenario in ("*", scenario))


# Items 1-6, 8-20 were fixed in the module (js 488d1c2, 1d69020), Chrome's certificate entry
# (item 7) by the replay certificate (icesim/replay/certificate.py); what is left:
KNOWN: tuple[Known, ...] = (
    # 7: F/dead_stun: the browser garbage-collected the page's unreferenced channel, so its
    # data-channel entry is gone (the browser's doing, not to copy)
    Known("firefox", "stats", "statsAtEnd.types", 7, "dead_stun"),
)


def known_item(browser: str, area: str, line: str, scenario: str) -> int | None:
    return next((k.item for k in KNOWN if k.covers(browser, area, line, scenario)), None)
