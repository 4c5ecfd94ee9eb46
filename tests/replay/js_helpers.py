"""Running icesim/js/replay-runner.mjs from tests: node on real documents, results parsed."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "icesim" / "js" / "replay-runner.mjs"
DATA = Path(__file__).resolve().parent / "data"
NODE = shutil.which("node")

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (Debian: apt-get install nodejs)")


def fixture_doc(name: str, **changes) -> dict:
    """A checked-in replay document (tests/replay/data/js_<name>.json) with top-level changes."""
    doc = json.loads((DATA / f"js_{name}.json").read_text())
    doc = copy.deepcopy(doc)
    doc.update(changes)
    return doc


def run_node(job: dict, docs: list[dict], *, env: dict | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the runner on one job line and documents; returns the finished process."""
    lines = [json.dumps(job)] + [json.dumps(doc) for doc in docs]
    return subprocess.run(
        [NODE, "--experimental-vm-modules", "--no-warnings", str(RUNNER)],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=timeout, env=env,
        cwd=ROOT,
    )


def replay(detector: Path, docs: list[dict], **job) -> list[dict]:
    """Results (one dict per document) of running `detector` over `docs`; fails on a bad exit."""
    proc = run_node({"detector": str(detector), **job}, docs)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(docs), proc.stdout
    return results


def write_detector(tmp_path: Path, source: str, name: str = "detector.js") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def event_indices(doc: dict, kind: str) -> list[int]:
    return [i for i, e in enumerate(doc["events"]) if e["type"] == kind]
