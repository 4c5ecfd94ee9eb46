"""Browser dialects: pure rules, no sockets. `get_dialect("chrome@156")`, `get_dialect("firefox")`,
`get_dialect("safari")`, `get_dialect("chrome@99")`."""

from __future__ import annotations

from ..config import ConfigError
from .base import Dialect, GatherIdentity, NetworkPlan, RetransmitSchedule
from .chrome import ChromeDialect
from .chrome_timers import ChromeTimers
from .chrome_versions import CURRENT_CHROME, OLDEST_CHROME, parse_chrome_version
from .firefox import CURRENT_FIREFOX, FirefoxDialect
from .firefox_timers import FirefoxTimers
from .safari import CURRENT_SAFARI, SafariDialect

__all__ = [
    "CURRENT_CHROME", "ChromeDialect", "ChromeTimers", "Dialect", "FirefoxDialect", "FirefoxTimers",
    "GatherIdentity", "NetworkPlan", "OLDEST_CHROME", "RetransmitSchedule", "SafariDialect", "get_dialect",
]

BROWSER_HELP = (
    f"chrome[@{OLDEST_CHROME}-{CURRENT_CHROME}] (default {CURRENT_CHROME}), "
    f"firefox (ESR {CURRENT_FIREFOX}), safari ({CURRENT_SAFARI}, from source reading)"
)


def get_dialect(spec: str) -> Dialect:
    """Parse BROWSER[@VERSION]: chrome[@N], firefox, safari. Bad input raises ConfigError."""
    name, at, version = spec.strip().partition("@")
    name = name.strip().lower()
    if name == "chrome":
        return ChromeDialect(version=parse_chrome_version(spec, version.strip()))
    if name in ("firefox", "safari"):
        current = CURRENT_FIREFOX if name == "firefox" else CURRENT_SAFARI
        if at and version.strip() != str(current):
            raise ConfigError("--browser", spec, f"only {name}@{current} is modelled; use {name}")
        return FirefoxDialect() if name == "firefox" else SafariDialect()
    raise ConfigError("--browser", spec, "must be chrome[@VERSION], firefox or safari")
