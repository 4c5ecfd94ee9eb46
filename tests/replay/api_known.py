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


# Items 1-6, 9, 11-19 were fixed in the module (js 488d1c2); what is left:
KNOWN: tuple[Known, ...] = (
    # 7: Chrome's certificate entry is not in the document (icesim/replay/stats.py on cli)
    Known("chromium156", "stats", "statsAtEnd.types", 7),
    # 7: Firefox drops the data-channel entry after close() (and, in F/dead_stun, once the
    # page's unreferenced channel was garbage-collected: the browser's doing, not to copy)
    Known("firefox", "stats", "statsAfterClose.types", 7),
    Known("firefox", "close", "close.afterClose.getStats.value", 7),
    Known("firefox", "stats", "statsAtEnd.types", 7, "dead_stun"),
    # 8: Chrome's report after close() holds the peer-connection entry
    Known("chromium156", "stats", "statsAfterClose.types", 8),
    Known("chromium156", "close", "close.afterClose.getStats.value", 8),
    # 10: Firefox keeps a legacy `url` key in getConfiguration()
    Known("firefox", "badinput", "(legacy key).getConfiguration", 10),
    # 20: Firefox's negotiationneeded when the page does not call SLD at once
    Known("firefox", "timeline", "resolve:createOffer event:negotiationneeded call:setLocalDescription", 20),
)


def known_item(browser: str, area: str, line: str, scenario: str) -> int | None:
    return next((k.item for k in KNOWN if k.covers(browser, area, line, scenario)), None)
