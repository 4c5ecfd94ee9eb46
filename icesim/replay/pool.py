"""Runs the Node runner (icesim/js/replay-runner.mjs) in `--jobs` processes and feeds it replay
documents; results come back in input order (icesim/js/README.md, "The runner").

Each process gets the job line once, then one document at a time: the next is written only
after the previous result came back, so a session that never answers is known exactly. A
detector in a busy loop cannot be interrupted from inside its `vm` context: when a result does
not come within the wall limit the process is killed, that session reported `unsettled`, and a
fresh process takes the rest. A runner that exits 2 (the detector does not load: syntax error,
missing export) stops the whole run with its one stderr line.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import structlog

log = structlog.get_logger(__name__)

NODE_MIN_MAJOR = 18
NODE_FLAGS = ("--experimental-vm-modules", "--no-warnings")
# A fresh process loads Node and the detector before its first answer (~50 ms idle, more on a
# busy machine): that first session gets this much extra wall time.
STARTUP_GRACE_S = 3.0
STDERR_TAIL = 20
# The page the detector runs in (location, document.URL, relative request URLs): a name under
# .test (RFC 2606), so nothing could ever resolve it.
DEFAULT_PAGE_URL = "https://www.icesim.test/"


class ReplayUnavailable(Exception):
    """The run cannot start or must stop (no Node, the detector does not load): one line, exit 2."""


@dataclass(frozen=True, slots=True)
class RunnerJob:
    """The runner's first stdin line."""

    detector: Path
    export: str | None = None
    clock: str = "virtual"  # "virtual" | "real"
    max_ms: float = 120000.0
    console: int = 20
    page_url: str = DEFAULT_PAGE_URL

    def line(self) -> bytes:
        job = {"detector": str(self.detector), "export": self.export, "clock": self.clock,
               "max_ms": self.max_ms, "console": self.console, "page_url": self.page_url}
        return (json.dumps(job) + "\n").encode()


def runner_script() -> Path:
    return Path(str(resources.files("icesim").joinpath("js/replay-runner.mjs")))


def node_command(node: str | None = None) -> list[str]:
    """`node --experimental-vm-modules --no-warnings .../replay-runner.mjs`, after checking that
    Node.js >= 18 is installed and the runner ships with this build."""
    node = node or shutil.which("node")
    if node is None:
        raise ReplayUnavailable(f"icesim replay needs Node.js >= {NODE_MIN_MAJOR}: install it "
                                "(Debian: apt-get install nodejs) and make sure `node` is on PATH")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReplayUnavailable(f"cannot run {node} --version: {exc}") from None
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < NODE_MIN_MAJOR:
        raise ReplayUnavailable(f"icesim replay needs Node.js >= {NODE_MIN_MAJOR}; {node} is {version or 'unknown'}")
    script = runner_script()
    if not script.is_file():
        raise ReplayUnavailable(f"the replay runner is missing from this build: {script}")
    return [node, *NODE_FLAGS, str(script)]


def wall_unsettled(session_id: str, wall_s: float) -> dict[str, Any]:
    return {"session_id": session_id, "status": "unsettled", "settled_ms": None, "errors": [], "console": [],
            "value": {"reason": f"no answer within {wall_s:g} s of real time (busy loop?)"}}


def runner_error(session_id: str, why: str) -> dict[str, Any]:
    return {"session_id": session_id, "status": "threw", "settled_ms": None, "errors": [], "console": [],
            "value": {"name": "RunnerError", "message": why}}


class _Runner:
    """One runner process: its pipes and the tail of its stderr."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.fresh = True
        self._drain = asyncio.ensure_future(self._read_stderr())

    @classmethod
    async def start(cls, command: list[str], job: RunnerJob) -> "_Runner":
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # one result line holds the detector's value and console lines
        )
        runner = cls(proc)
        with contextlib.suppress(ConnectionError):
            await runner.write(job.line())
        return runner

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:  # drained, so a chatty runner never blocks on a full pipe
            text = raw.decode(errors="replace").rstrip()
            if text:
                self.stderr.append(text)

    async def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def ask(self, doc_line: bytes, wall_s: float) -> bytes | None:
        """The result line for one document, b"" when the process ended, None on the wall limit."""
        assert self.proc.stdout is not None
        limit = wall_s + (STARTUP_GRACE_S if self.fresh else 0.0)
        self.fresh = False
        try:
            await self.write(doc_line)
        except ConnectionError:
            return b""
        try:
            return await asyncio.wait_for(self.proc.stdout.readline(), limit)
        except asyncio.TimeoutError:
            return None

    async def exit_code(self) -> int:
        rc = await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain
        return rc

    async def close(self, kill: bool = False) -> None:
        if self.proc.returncode is None:
            if kill:
                self.proc.kill()
            else:
                with contextlib.suppress(ConnectionError, AttributeError):
                    assert self.proc.stdin is not None
                    self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5.0)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain


async def run_documents(
    documents: Iterable[dict[str, Any]], job: RunnerJob, command: list[str], on_result: Callable[[dict, dict], None],
    jobs: int = 1, wall_timeout_s: float = 10.0,
) -> None:
    """Run every document through the runner; `on_result(document, result)` in input order.
    Raises ReplayUnavailable when a runner exits 2 (nothing more is reported after it)."""
    source: Iterator[tuple[int, dict[str, Any]]] = enumerate(documents)
    done: dict[int, tuple[dict, dict]] = {}
    next_out = 0

    def deliver(index: int, doc: dict, result: dict) -> None:
        nonlocal next_out
        done[index] = (doc, result)
        while next_out in done:
            on_result(*done.pop(next_out))
            next_out += 1

    async def worker(n: int) -> None:
        runner: _Runner | None = None
        try:
            for index, doc in source:  # one shared iterator: each document goes to one worker
                if runner is None:
                    runner = await _Runner.start(command, job)
                result, runner = await _one(runner, doc, job, wall_timeout_s)
                deliver(index, doc, result)
        finally:
            if runner is not None:
                await runner.close(kill=True)

    tasks = [asyncio.ensure_future(worker(n)) for n in range(max(jobs, 1))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _one(runner: _Runner, doc: dict[str, Any], job: RunnerJob, wall_timeout_s: float) -> tuple[dict, _Runner | None]:
    """One document's result, and the runner to use next (None: start a fresh one)."""
    session_id = doc["session_id"]
    line = await runner.ask((json.dumps(doc, separators=(",", ":")) + "\n").encode(), wall_timeout_s)
    if line is None:
        log.warning("replay.wall_timeout", session_id=session_id, wall_s=wall_timeout_s)
        await runner.close(kill=True)
        return wall_unsettled(session_id, wall_timeout_s), None
    if line == b"":
        rc = await runner.exit_code()
        if rc == 2:
            first = next(iter(runner.stderr), f"the replay runner exited 2 on {job.detector}")
            raise ReplayUnavailable(first)
        why = f"the replay runner exited {rc}" + (f": {runner.stderr[-1]}" if runner.stderr else "")
        log.warning("replay.runner_died", session_id=session_id, rc=rc, stderr=list(runner.stderr))
        await runner.close(kill=True)
        return runner_error(session_id, why), None
    try:
        result = json.loads(line)
        if not isinstance(result, dict) or result.get("session_id") != session_id:
            raise ValueError(f"answer for {result.get('session_id') if isinstance(result, dict) else result!r}")
    except ValueError as exc:
        log.warning("replay.protocol_error", session_id=session_id, line=line[:200].decode(errors="replace"))
        await runner.close(kill=True)
        return runner_error(session_id, f"unreadable runner answer ({exc})"), None
    return result, runner
