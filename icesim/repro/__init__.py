"""`icesim repro`: ICE error cases as pure data (cases/), run for real (runner), checked
against the browsers' captured streams (matching) and explained (report)."""

from __future__ import annotations

from ..config import ConfigError
from .cases import ALL_CASES
from .model import Case

__all__ = ["ALL_CASES", "Case", "get_case"]

_BY_NAME = {c.name: c for c in ALL_CASES}


def get_case(name: str) -> Case:
    """The case named `name`; ConfigError (one line, exit 2) for an unknown name."""
    case = _BY_NAME.get(name.strip().lower())
    if case is None:
        raise ConfigError("CASE", name, "no such case; `icesim repro 701 --list` shows them")
    return case
