"""A running lab, for Python callers (`icesim lab`, `repro --lab`, `dataset --lab`).

    async with Lab("home-nat") as lab:
        events = await lab.gather(["--time-scale", "50"])

Each Lab is its own sandbox (sandbox.py), so any number can run in parallel. A lab ends with
the process that started it, and also with the *thread* that started it (the kernel's
parent-death signal is per thread): start and use a lab from one event loop's thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from .plan import LabPlan, plan_up
from .sandbox import (
    LabError, enter_argv, find_tools, launch_argv, privileged, runner_pid_of, sandbox_argv, unshare_failure,
)
from .topologies import Topology, get_topology

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding `icesim/`


def resolve_gather_args(topology: Topology, gather_args: Sequence[str]) -> list[str]:
    """Check `icesim gather` options with gather's own parser (bad input fails before any lab is
    built) and add the lab's coturn as the servers unless the caller named servers."""
    from ..cli import build_config, gather_cmd

    ctx = gather_cmd.make_context("icesim lab gather", list(gather_args))
    params = {k: v for k, v in ctx.params.items() if k not in ("fmt", "log_level")}
    build_config(params)
    if params["stun"] or params["turn"]:
        return list(gather_args)
    return [*topology.servers, *gather_args]


def gather_env() -> dict[str, str]:
    """The gather inside the lab imports this very icesim."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


class Lab:
    """One lab: `await start()` / `await stop()`, or `async with`. `up_s`/`down_s` time them."""

    def __init__(self, topology: str | Topology, *, detached: bool = False) -> None:
        self.topology = get_topology(topology) if isinstance(topology, str) else topology
        self.detached = detached
        self.tools = find_tools()
        self.rootless = not privileged()
        self.plan: LabPlan = plan_up(self.topology, self.tools["turnserver"])
        self.proc: asyncio.subprocess.Process | None = None
        self.unshare_pid = self.runner_pid = 0
        self.up_s = self.down_s = 0.0

    @property
    def sandbox(self) -> list[str]:
        return sandbox_argv(self.rootless, self.tools)

    async def start(self) -> Lab:
        argv = launch_argv(self.rootless, self.tools, attached=not self.detached)
        start = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=self.detached,
        )
        try:
            await self._handshake()
        except BaseException:  # errors, and cancellation mid-build: no half-built lab stays
            if self.proc and self.proc.returncode is None:
                self.proc.kill()
                await asyncio.shield(self.proc.wait())
            self.proc = None
            raise
        self.up_s = time.perf_counter() - start
        return self

    async def _handshake(self) -> None:
        assert self.proc and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write((json.dumps(self.plan.to_json()) + "\n").encode())
        try:
            await self.proc.stdin.drain()
        except ConnectionError:
            pass  # unshare failed at once: its stderr says why
        reply = await self._reply()
        if "error" in reply:
            raise LabError(f"lab {self.topology.name}: {reply['error']}")
        self.unshare_pid = self.proc.pid
        self.runner_pid = runner_pid_of(self.proc.pid)

    async def _reply(self) -> dict:
        assert self.proc and self.proc.stdout and self.proc.stderr
        line = await self.proc.stdout.readline()
        if line:
            return json.loads(line)
        stderr = (await self.proc.stderr.read()).decode(errors="replace")
        await self.proc.wait()
        if "unshare" in stderr or "setpriv" in stderr:
            raise unshare_failure(stderr, self.sandbox)
        raise LabError(f"lab {self.topology.name}: the sandbox exited ({self.proc.returncode}): "
                       + " ".join(stderr.split())[-400:])

    async def detach(self) -> None:
        """Keep the lab running after this process exits (`icesim lab up`); end it with
        stop_detached(runner_pid)."""
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(b"detach\n")
        await self.proc.stdin.drain()
        await self._reply()

    async def stop(self) -> None:
        """End the lab: closing the runner's stdin makes PID 1 exit; the kernel does the rest."""
        if self.proc is None:
            return
        start = time.perf_counter()
        if self.proc.returncode is None and self.proc.stdin:
            self.proc.stdin.close()
        await self.proc.wait()
        self.down_s = time.perf_counter() - start
        self.proc = None
        self.runner_pid = self.unshare_pid = 0

    async def __aenter__(self) -> Lab:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- running things in the lab ------------------------------------------------------

    @classmethod
    def running(cls, topology: str, runner_pid: int, rootless: bool) -> Lab:
        """A handle on a lab that runs already (`icesim lab up`), to run commands in it."""
        lab = cls(topology, detached=True)
        lab.runner_pid, lab.rootless = runner_pid, rootless
        return lab

    def enter_argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        if not self.runner_pid:
            raise LabError("lab: not started")
        self.topology.namespace(ns)  # KeyError for a namespace the topology lacks
        return enter_argv(self.runner_pid, self.rootless, ns, list(argv), self.tools)

    async def run(self, ns: str, argv: Sequence[str], input: bytes | None = None,
                  timeout: float = 60.0) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of argv run in namespace `ns` of this lab."""
        proc = await asyncio.create_subprocess_exec(
            *self.enter_argv(ns, argv), stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=gather_env(),
        )
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    def gather_argv(self, gather_args: Sequence[str]) -> list[str]:
        """`icesim gather` in the client namespace, against the lab's coturn by default."""
        args = resolve_gather_args(self.topology, gather_args)
        return self.enter_argv("client", [sys.executable, "-m", "icesim", "gather", *args])

    async def gather_stream(self, gather_args: Sequence[str] = ()) -> AsyncIterator[dict]:
        """The gather's JSON lines as dicts (the `meta` line first), as they come."""
        proc = await asyncio.create_subprocess_exec(
            *self.gather_argv([*gather_args, "--format", "jsonl"]), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=gather_env(),
        )
        assert proc.stdout and proc.stderr
        stderr = asyncio.ensure_future(proc.stderr.read())  # drained alongside: logs can be long
        try:
            async for line in proc.stdout:
                yield json.loads(line)
            err = await stderr
            if await proc.wait() != 0:
                raise LabError(f"lab {self.topology.name}: gather failed ({proc.returncode}): "
                               + " ".join(err.decode(errors="replace").split())[-400:])
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            stderr.cancel()

    async def gather(self, gather_args: Sequence[str] = ()) -> list[dict]:
        return [event async for event in self.gather_stream(gather_args)]


async def lab_gather(topology: str, gather_args: Sequence[str] = ()) -> list[dict]:
    """Build the lab, gather once from its client namespace, tear it down; the events as dicts."""
    async with Lab(topology) as lab:
        return await lab.gather(gather_args)


def run_lab_gather(topology: str, gather_args: Sequence[str] = ()) -> list[dict]:
    """Blocking form of lab_gather() (its own event loop; call it from threads, not a loop)."""
    return asyncio.run(lab_gather(topology, gather_args))


def stop_detached(runner_pid: int, timeout_s: float = 5.0) -> bool:
    """End a detached lab by its PID 1 (SIGTERM, then SIGKILL); True once it is gone."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s / 2), (signal.SIGKILL, timeout_s / 2)):
        try:
            os.kill(runner_pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not process_alive(runner_pid):
                return True
            time.sleep(0.005)
    return not process_alive(runner_pid)


def process_alive(pid: int) -> bool:
    """pid exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
