"""What a detector concluded on one session: the runner's result -> `bot` / `human` / `error` /
`unsettled`, with a short reason (pure).

Detectors settle in many shapes (the seed documents' samples resolve a boolean, a list of IPs,
an object with a flag, or reject on a timeout): a value that says bot or human in one of the
usual spellings counts as such; any other value the detector settled with means it let the
session through (human). A rejection is what the user says it is (`--rejected`, default bot:
seed-style detectors reject to flag a visitor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERDICTS = ("bot", "human", "error", "unsettled")
REJECTED_CHOICES = ("bot", "human", "error")
SETTLED = ("resolved", "callback", "returned")
_WORDS = {"bot": "bot", "human": "human", "true": "bot", "false": "human"}
_FLAG_KEYS = ("isBot", "bot", "is_bot")
_LABEL_KEYS = ("verdict", "label", "result", "class")
_REASON_KEYS = ("reason", "type", "why", "message")
REASON_MAX = 80


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str  # one of VERDICTS
    reason: str


def verdict_of(result: dict[str, Any], rejected: str = "bot") -> Verdict:
    """The verdict for one runner result line (icesim/js/README.md: status, value, errors)."""
    status = result.get("status")
    value = result.get("value")
    if status in SETTLED:
        return Verdict(value_verdict(value) or "human", reason_of(value) or status)
    if status == "rejected":
        return Verdict(rejected, reason_of(value) or "rejected")
    if status == "threw":
        return Verdict("error", reason_of(value) or "threw")
    if status == "unsettled":
        return Verdict("unsettled", reason_of(value) or "never settled")
    return Verdict("error", f"runner status {status!r}")


def value_verdict(value: Any) -> str | None:
    """bot / human when the value says so (true, "bot", {isBot: true}, {verdict: "bot"}...),
    else None (the caller decides what a plain value means)."""
    if isinstance(value, bool):
        return "bot" if value else "human"
    if isinstance(value, str):
        return _WORDS.get(value.strip().lower())
    if isinstance(value, dict):
        for key in _FLAG_KEYS:
            if isinstance(value.get(key), bool):
                return "bot" if value[key] else "human"
        for key in _LABEL_KEYS:
            if isinstance(value.get(key), str) and (word := _WORDS.get(value[key].strip().lower())):
                return word
    return None


def reason_of(value: Any) -> str | None:
    """A short reason: value.reason / .type / an Error's message / a short string value."""
    text: str | None = None
    if isinstance(value, dict):
        for key in _REASON_KEYS:
            if isinstance(value.get(key), str) and value[key].strip():
                text = value[key]
                if key == "message" and isinstance(value.get("name"), str):
                    text = f"{value['name']}: {text}"  # a serialized Error
                break
    elif isinstance(value, str) and value.strip() and value.strip().lower() not in _WORDS:
        text = value
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"
