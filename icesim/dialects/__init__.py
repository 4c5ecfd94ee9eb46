"""Browser dialects: pure rules, no sockets. `get_dialect("chrome@156")`."""

from __future__ import annotations

from ..config import ConfigError
from .base import Dialect, GatherIdentity, NetworkPlan, RetransmitSchedule
from .chrome import ChromeDialect

__all__ = ["ChromeDialect", "Dialect", "GatherIdentity", "NetworkPlan", "RetransmitSchedule", "get_dialect"]

CURRENT_CHROME = 156


def get_dialect(spec: str) -> Dialect:
    """Parse BROWSER[@VERSION]. Firefox and Safari are accepted names without a dialect yet."""
    name, _, version = spec.partition("@")
    name = name.strip().lower()
    if name == "chrome":
        if version and not version.isdigit():
            raise ConfigError("--browser", spec, "version must be a number, e.g. chrome@156")
        v = int(version) if version else CURRENT_CHROME
        if v != CURRENT_CHROME:
            raise ConfigError("--browser", spec, f"only chrome@{CURRENT_CHROME} is modelled so far")
        return ChromeDialect(version=v)
    if name in ("firefox", "safari"):
        raise ConfigError("--browser", spec, "this dialect is not implemented yet; use chrome")
    raise ConfigError("--browser", spec, "must be chrome, firefox or safari")
