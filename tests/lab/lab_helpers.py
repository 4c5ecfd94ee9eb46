"""Helpers of the lab tests: run a gather in a lab, pick candidates, snapshot the machine's
own network state and process table (to prove a lab leaves nothing behind)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from icesim.lab import Lab
from icesim.schema import validate_line

GATHER_TIMEOUT_S = 60.0
PROBE = Path(__file__).with_name("stun_probe_in_lab.py")


async def lab_events(lab: Lab, args: list[str]) -> list[dict]:
    """The gather's events (meta dropped), each validated against the schema; the stream ends
    with the null candidate."""
    lines = await asyncio.wait_for(lab.gather(args), GATHER_TIMEOUT_S)
    for line in lines:
        validate_line(json.dumps(line))
    assert lines[0]["type"] == "meta"
    events = lines[1:]
    assert events[-1] == {"type": "icecandidate", "t": events[-1]["t"], "candidate": None}, events[-3:]
    return events


def cands(events: list[dict], type_: str | None = None) -> list[dict]:
    out = [e["candidate"] for e in events if e["type"] == "icecandidate" and e["candidate"] is not None]
    return [c for c in out if type_ is None or c["type"] == type_]


def errors(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "icecandidateerror"]


async def nft_counter(lab: Lab, ns: str, table: str) -> int:
    """Packets counted by the `counter` rules of an nftables table in namespace ns."""
    rc, out, err = await lab.run(ns, ["nft", "-j", "list", "table", "inet", table])
    assert rc == 0, err
    total = 0
    for item in json.loads(out)["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                total += expr["counter"]["packets"]
    return total


async def stun_probe(lab: Lab, ns: str, host: str, port: int, count: int) -> int:
    """Send `count` STUN Binding requests from namespace ns; how many were answered."""
    rc, out, err = await lab.run(ns, [sys.executable, str(PROBE), host, str(port), str(count)])
    assert rc == 0, err
    return int(out.split()[0])


# -- the machine's own state ------------------------------------------------------------------

def machine_state() -> dict[str, set[str]]:
    """What a leaking lab would leave in the machine's namespaces: netns names, links, nftables
    tables."""
    netns = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {
        "netns": netns,
        "links": {line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line},
        "tables": set(tables.splitlines()),
    }


def assert_no_new_state(before: dict[str, set[str]]) -> None:
    """Nothing the lab names (namespaces, devices, icesim_* tables) appeared on the machine.
    Other programs may add their own meanwhile: only the lab's names count."""
    from icesim.lab import TOPOLOGIES

    ours_ns = {ns.name for t in TOPOLOGIES.values() for ns in t.namespaces}
    ours_dev = {d for t in TOPOLOGIES.values() for v in t.links for d in (v.a_dev, v.b_dev)}
    after = machine_state()
    assert not (after["netns"] - before["netns"]) & ours_ns, after["netns"]
    assert not (after["links"] - before["links"]) & ours_dev, after["links"]
    assert not [t for t in after["tables"] - before["tables"] if "icesim" in t], after["tables"]


def descendants(pid: int) -> set[int]:
    """Every process below pid (by parent links), as the machine sees them."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - out
        out |= frontier
    return out


def alive(pids: set[int]) -> set[int]:
    """Those of pids that still exist and are not zombies."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            out.add(pid)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
