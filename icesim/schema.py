"""The JSON Schema of one output line (icesim/schemas/events.v1.json) and a validator for it.

`jsonschema` is a test extra, not a runtime dependency: it is imported only when a line is
validated, so `icesim gather` never needs it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

SCHEMA_RESOURCE = "schemas/events.v1.json"
# Each top-level "type" value names the $defs entry that describes that kind of line.
_KINDS = ("meta", "icegatheringstatechange", "icecandidate", "icecandidateerror", "localdescription")


class EventSchemaError(ValueError):
    """A line that is not a valid icesim.events/1 event; `errors` lists every violation."""

    def __init__(self, message: str, errors: list[str]) -> None:
        super().__init__(message)
        self.errors = errors


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("icesim").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The schema as a fresh dict (callers may modify it)."""
    return json.loads(_schema_text())


@functools.lru_cache(maxsize=None)
def _validator(kind: str | None) -> Any:
    """Validator for the whole schema (kind None) or for one kind of line: the same document
    with the top-level oneOf replaced by a $ref to that kind, so refs still resolve and the
    errors name the fields of that kind instead of four oneOf branches."""
    from jsonschema import Draft202012Validator  # lazy: a test extra, not a runtime dependency

    schema = load_schema()
    if kind is not None:
        del schema["oneOf"]
        schema["$ref"] = f"#/$defs/{kind}"
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _where(error: Any) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path or "(line)"


def validate_line(line: str | bytes | dict[str, Any]) -> dict[str, Any]:
    """Validate one output line (JSON text or an already decoded object); return the object.

    Raises EventSchemaError naming the offending field and the rule it breaks.
    """
    if isinstance(line, (str, bytes, bytearray)):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EventSchemaError(f"not a JSON line: {exc}", [str(exc)]) from None
    else:
        obj = line
    if not _validator(None).is_valid(obj):
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind not in _KINDS:
            msg = f"'type' must be one of {', '.join(_KINDS)}, got {kind!r}"
            raise EventSchemaError(f"invalid event line: {msg}", [msg])
        errors = sorted(_validator(kind).iter_errors(obj), key=lambda e: list(e.absolute_path))
        # dict.fromkeys: a field reached through two $refs reports the same violation twice.
        details = list(dict.fromkeys(f"{_where(e)}: {e.message}" for e in errors)) or ["does not match the schema"]
        raise EventSchemaError(f"invalid {kind} line: " + "; ".join(details), details)
    return obj
