"""Helpers for tests/test_captures_chromium156.py: load a tests/data/chromium156 capture into
icesim's line format, run the equivalent gather on that capture's interfaces, and pick events
out of a stream. Comparison itself (shape, label, compare_streams) lives in test_captures.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

import icesim
from icesim.config import IceServerUrl, Interface, parse_ice_url
from icesim.schema import validate_line
from test_captures import W3C_FIELDS, _server_text, check_invariant_order, label

CAPTURES_156 = Path(__file__).resolve().parent / "data" / "chromium156"

# README: the namespace `cap`: eth0 198.51.100.2/24 and 2001:db8:5::2/64 (global IPv6).
IFACES_156 = [
    Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", default=True),
    Interface("eth0", ipaddress.ip_address("2001:db8:5::2"), "ethernet", default=True),
]
GATHER_TIMEOUT_S = 20.0


@dataclass
class Capture156:
    name: str
    lines: list[dict]  # icesim lines (no meta)
    servers: list[IceServerUrl]
    raw: dict


def capture_names() -> list[str]:
    return sorted(p.stem for p in CAPTURES_156.glob("*.json"))


def load156(name: str) -> Capture156:
    data = json.loads((CAPTURES_156 / f"{name}.json").read_text())
    lines: list[dict] = []
    for e in data["events"]:
        kind = e["kind"]
        if kind == "icegatheringstatechange":
            lines.append({"type": kind, "t": e["t"], "state": e["state"]})
        elif kind == "icecandidate":
            cand = None if e["candidateIsNull"] else e["candidate"]
            if cand is not None:
                assert set(cand) == set(W3C_FIELDS), sorted(cand)
                cand = {f: cand[f] for f in W3C_FIELDS if cand[f] != "<<absent>>"}
            lines.append({"type": kind, "t": e["t"], "candidate": cand})
        elif kind == "icecandidateerror":
            lines.append({"type": kind, "t": e["t"], **e["error"]})
        else:
            raise AssertionError(f"{name}: unknown event kind {kind!r}")
    servers = []
    for s in data["config"].get("iceServers", []):
        urls = s["urls"] if isinstance(s["urls"], list) else [s["urls"]]
        servers += [parse_ice_url(u, username=s.get("username"), credential=s.get("credential")) for u in urls]
    return Capture156(name, lines, servers, data)


async def run156(servers: list[IceServerUrl], **options) -> list[dict]:
    """One gather on the capture's interfaces; every line validated, t never going back."""
    options.setdefault("seed", 1)
    config = icesim.GatherConfig(servers=servers, interfaces=IFACES_156, **options)

    async def collect() -> list[dict]:
        return [validate_line(icesim.to_json_line(ev)) async for ev in icesim.gather(config)]

    lines = await asyncio.wait_for(collect(), GATHER_TIMEOUT_S)
    assert lines[0]["type"] == "meta"
    assert lines[0]["servers"] == [_server_text(s) for s in servers]
    check_invariant_order(lines[1:])
    return lines[1:]


def first(lines: list[dict], lab: str) -> dict:
    """The first line whose test_captures.label() is `lab` (e.g. "host4", "srflx udp")."""
    return next(x for x in lines if label(x) == lab)


def all_of(lines: list[dict], prefix: str) -> list[dict]:
    return [x for x in lines if label(x).startswith(prefix)]


def rel_t(lines: list[dict], line: dict) -> float:
    """t of `line` relative to "gathering"."""
    return line["t"] - first(lines, "gathering")["t"]
