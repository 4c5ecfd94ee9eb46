"""Where `icesim replay` reads its sessions: an `icesim dataset` directory (manifest.json plus
sessions.parquet/ or sessions.jsonl/ parts) or a recorded `icesim gather` JSONL stream (a meta
line, then the page's events; several streams may be concatenated, one session per meta line).

Every session comes out as a dataset-row-shaped dict (`session_row`'s keys), so document.py has
one input shape. A gather stream has no label, scenario or profile: those are None.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import structlog

from ..config import ConfigError
from ..dataset.output import FORMATS, iter_rows
from ..events import SCHEMA_ID

OPTION = "--sessions"
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SessionFilter:
    """--scenario / --profile (comma-separated names or globs) and --limit."""

    scenarios: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    limit: int | None = None

    def admits(self, row: dict[str, Any]) -> bool:
        return _matches(row.get("scenario"), self.scenarios) and _matches(row.get("profile"), self.profiles)


def _matches(value: str | None, patterns: tuple[str, ...]) -> bool:
    return not patterns or (value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns))


def read_sessions(path: Path, selection: SessionFilter = SessionFilter()) -> list[dict[str, Any]]:
    """The sessions at `path` that pass the filter, in dataset order. Bad input raises
    ConfigError naming --sessions (nothing has run yet)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(OPTION, str(path), "no such file or directory")
    rows = _dataset_rows(path) if path.is_dir() else _gather_rows(path)
    out: list[dict[str, Any]] = []
    seen = 0
    for row in rows:
        seen += 1
        if selection.admits(row):
            out.append(row)
            if selection.limit is not None and len(out) >= selection.limit:
                break
    if seen == 0:
        raise ConfigError(OPTION, str(path), "holds no sessions")
    if not out:
        wanted = ", ".join(f"{k} {','.join(v)}" for k, v in (("--scenario", selection.scenarios),
                                                              ("--profile", selection.profiles)) if v)
        raise ConfigError(OPTION, str(path), f"no session matches {wanted}")
    return out


def _dataset_rows(root: Path) -> Iterator[dict[str, Any]]:
    if not (root / "manifest.json").is_file():
        raise ConfigError(OPTION, str(root), "is not an icesim dataset directory (no manifest.json)")
    for fmt in FORMATS:
        parts = root / f"sessions.{fmt}"
        if parts.is_dir() and any(parts.glob(f"part-*.{fmt}")):
            try:
                yield from iter_rows(parts, fmt)
            except (OSError, ValueError) as exc:  # a truncated part, a JSON line cut short
                raise ConfigError(OPTION, str(root), f"unreadable sessions part: {exc}") from None
            return
    raise ConfigError(OPTION, str(root), "has no sessions.parquet/ or sessions.jsonl/ parts")


def _gather_rows(path: Path) -> Iterator[dict[str, Any]]:
    """One row per meta line of an `icesim gather` stream (`--sdp` adds its localdescription)."""
    streams: list[tuple[dict[str, Any], list[dict[str, Any]], str | None]] = []
    try:
        with open(path, encoding="utf-8") as lines:
            for n, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                event = _parse_line(path, n, line)
                if event.get("type") == "meta":
                    streams.append((event, [], None))
                elif not streams:
                    raise ConfigError(OPTION, str(path), "is neither a dataset directory nor an `icesim gather` "
                                      "stream (its first line is not a meta line)")
                elif event.get("type") == "localdescription":
                    meta, events, _ = streams[-1]
                    streams[-1] = (meta, events, event.get("sdp"))
                else:
                    streams[-1][1].append(event)
    except UnicodeDecodeError:
        raise ConfigError(OPTION, str(path), "is not a text file (expected an `icesim gather` JSONL stream)") from None
    except OSError as exc:
        raise ConfigError(OPTION, str(path), f"cannot be read: {exc.strerror or exc}") from None
    for k, (meta, events, sdp) in enumerate(streams):
        session_id = path.stem if len(streams) == 1 else f"{path.stem}#{k + 1}"
        yield gather_row(session_id, meta, events, sdp)


def _parse_line(path: Path, n: int, line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        raise ConfigError(OPTION, f"{path}:{n}", "is not JSON (expected a dataset directory or an "
                          "`icesim gather` JSONL stream)") from None
    if not isinstance(event, dict) or "type" not in event:
        raise ConfigError(OPTION, f"{path}:{n}", "is not an icesim event (no \"type\")")
    if event["type"] == "meta" and event.get("schema") != SCHEMA_ID:
        raise ConfigError(OPTION, f"{path}:{n}", f"has schema {event.get('schema')!r}, expected {SCHEMA_ID!r}")
    return event


def gather_row(session_id: str, meta: dict[str, Any], events: list[dict[str, Any]], sdp: str | None) -> dict[str, Any]:
    """A recorded stream as a dataset-shaped row: unlabelled, WebRTC available."""
    media, bundle_policy = stream_media(events, sdp)
    return {
        "session_id": session_id, "seed": meta.get("seed"), "label": None, "scenario": None, "profile": None,
        "browser": meta.get("browser"), "user_agent": None, "web_address": None, "webrtc": "present",
        "page_error": None, "events": events, "sdp": sdp, "interfaces": None, "media": media,
        "bundle_policy": bundle_policy,
    }


_SDP_KIND = {"audio": "audio", "video": "video", "application": "data"}


def stream_media(events: list[dict[str, Any]], sdp: str | None) -> tuple[str | None, str | None]:
    """The offer's m-lines and bundle policy, which a gather stream does not record: read back
    from its `--sdp` line (m= lines; max-bundle when only the first m-line has candidates), else
    from the candidates' m-line indexes (three m-lines: Chrome's audio, video, data order).
    None: one data m-line, the default."""
    mlines = {c["sdpMLineIndex"] for e in events if e.get("type") == "icecandidate"
              and (c := e.get("candidate")) and isinstance(c.get("sdpMLineIndex"), int)}
    if sdp:
        kinds = [_SDP_KIND.get(line[2:].split(" ", 1)[0], "data") for line in sdp.split("\r\n") if line.startswith("m=")]
        if len(kinds) > 1:
            return ",".join(kinds), "max-bundle" if mlines == {0} else "balanced"
        return None, None
    if len(mlines) == 3:
        return "audio,video,data", "balanced"
    if mlines - {0}:
        log.warning("replay.media_unknown", mlines=sorted(mlines),
                    hint="record the stream with --sdp: its m-lines are rendered as one data m-line")
    return None, None
