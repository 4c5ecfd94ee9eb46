"""Fixtures of the lab tests: skip (with the reason) where this machine cannot build labs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from icesim.lab import LabUnavailable, find_tools  # noqa: E402
from icesim.lab.sandbox import privileged, sandbox_argv  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that build labs get the `lab` marker, so `pytest -m "not lab"` leaves them out.
    for item in items:
        if "lab_tools" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_tools() -> dict[str, str]:
    """The lab's tools; skips when namespaces cannot be created here (CI, as root, has them)."""
    try:
        tools = find_tools()
    except LabUnavailable as exc:
        pytest.skip(f"no network lab on this machine: {exc}")
    probe = [*sandbox_argv(not privileged(), tools), "true"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        pytest.skip(f"no network lab on this machine: `{' '.join(probe)}` failed: {done.stderr.strip()}")
    return tools
