"""Detached labs (`icesim lab up` / `down`): one small JSON record per running lab, by name.

Records live in $ICESIM_LAB_DIR, else $XDG_RUNTIME_DIR/icesim-lab, else /tmp/icesim-lab-UID.
A record whose PID 1 is gone (reboot, kill) is stale: listing drops it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import ConfigError
from .lab import process_alive
from .sandbox import RUNNER

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class LabRecord:
    name: str
    topology: str
    runner_pid: int
    rootless: bool
    up_s: float

    def alive(self) -> bool:
        """PID 1 still runs and is our runner (not a recycled PID)."""
        if not process_alive(self.runner_pid):
            return False
        try:
            cmdline = Path(f"/proc/{self.runner_pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return str(RUNNER).encode() in cmdline


def state_dir(create: bool = False) -> Path:
    explicit = os.environ.get("ICESIM_LAB_DIR")
    if explicit:
        path = Path(explicit)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "icesim-lab"
    else:
        path = Path(tempfile.gettempdir()) / f"icesim-lab-{os.getuid()}"
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigError("NAME", name, "letters, digits, '.', '_' or '-' (at most 64)")
    return name


def running() -> list[LabRecord]:
    out = []
    for path in sorted(state_dir().glob("*.json")):  # no directory: nothing runs
        try:
            record = LabRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if record.alive():
            out.append(record)
        else:
            path.unlink(missing_ok=True)
    return out


def free_name(base: str) -> str:
    taken = {r.name for r in running()}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def save(record: LabRecord) -> None:
    path = state_dir(create=True) / f"{record.name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)


def find(name: str) -> LabRecord:
    for record in running():
        if record.name == name:
            return record
    names = ", ".join(r.name for r in running()) or "none"
    raise ConfigError("NAME", name, f"no running lab by that name (running: {names})")


def forget(name: str) -> None:
    (state_dir() / f"{name}.json").unlink(missing_ok=True)
