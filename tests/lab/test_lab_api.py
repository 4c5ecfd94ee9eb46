"""The Python API other commands call: blocking and async forms, failures as one-line LabErrors."""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from icesim.lab import Lab, LabError, get_topology, run_lab_gather
from lab_helpers import cands

pytestmark = pytest.mark.usefixtures("lab_tools")


def test_run_lab_gather_from_worker_threads_in_parallel() -> None:
    args = ["--time-scale", "100", "--no-mdns"]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda topo: run_lab_gather(topo, args), ["home-nat", "cgnat"]))
    home, cgnat = ([c["address"] for c in cands(events[1:], "srflx")] for events in results)
    assert home == ["203.0.113.10"] and cgnat == ["203.0.113.20"]
    assert all(events[0]["type"] == "meta" and events[-1]["candidate"] is None for events in results)


async def test_a_broken_rule_fails_the_build_with_the_command_and_nfts_words() -> None:
    home = get_topology("home-nat")
    router = dataclasses.replace(home.namespace("router"), nft="table ip t { chain c { masquerade to nowhere } }\n")
    broken = dataclasses.replace(home, name="broken", namespaces=tuple(
        router if ns.name == "router" else ns for ns in home.namespaces))
    lab = Lab(broken)
    with pytest.raises(LabError) as info:
        await lab.start()
    message = str(info.value)
    assert message.startswith("lab broken: ip netns exec router nft -f - failed (1): ") and "\n" not in message
    assert "syntax error" in message or "Error" in message
    assert lab.proc is None  # the sandbox is gone


async def test_gather_failure_inside_the_lab_is_a_lab_error() -> None:
    async with Lab("home-nat") as lab:
        # bad gather options fail in icesim's own parser, before anything runs in the lab
        with pytest.raises(Exception, match="--time-scale"):
            await lab.gather(["--time-scale", "-1"])
        rc, out, _ = await lab.run("client", ["ip", "-o", "-4", "addr", "show", "eth0"])
        assert rc == 0 and "192.168.1.10/24" in out
        with pytest.raises(KeyError):
            await lab.run("cgn", ["true"])


async def test_stop_is_idempotent_and_timed() -> None:
    lab = await Lab("datacenter").start()
    assert 0 < lab.up_s < 10 and lab.runner_pid > 0
    await lab.stop()
    await lab.stop()
    assert 0 < lab.down_s < 10
    with pytest.raises(LabError, match="not started"):
        await asyncio.wait_for(lab.run("client", ["true"]), 5)



async def test_a_start_cancelled_mid_build_leaves_no_sandbox() -> None:
    from lab_helpers import alive, descendants

    lab = Lab("cgnat")
    task = asyncio.ensure_future(lab.start())
    while lab.proc is None or not descendants(lab.proc.pid):  # the sandbox exists, the build runs
        await asyncio.sleep(0.001)
    sandbox = lab.proc.pid
    tree = descendants(sandbox) | {sandbox}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lab.proc is None
    for _ in range(250):
        if not alive(tree):
            break
        await asyncio.sleep(0.02)
    assert not alive(tree)
