"""The features detectors compute from what a page collected: pure functions of one session row.

Input is a sessions.parquet row (events as event-schema dicts), so the same code runs on stored
data. Each feature mirrors a check from the seed documents (shared/seeds): candidate topology,
srflx vs web-server address, address classes, 701s, timing, dialect consistency with the
claimed browser, network cost, port preservation, transports.
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import lru_cache
from typing import Any

from ..profiles import BUILTIN_POOLS
from ..profiles.schema import ICE_SERVER_RANGES

_POOLS = tuple(
    (name, ipaddress.ip_network(cidr)) for name, cidrs in BUILTIN_POOLS.items() for cidr in cidrs
) + tuple(("ice_server", ipaddress.ip_network(c)) for c in ICE_SERVER_RANGES)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_FIELD_RE = re.compile(r"\b(network-cost|network-id|generation|ufrag) (\S+)")


@lru_cache(maxsize=65536)
def address_class(text: str | None) -> str:
    """mdns | private | cgnat | loopback | <pool name> | public | none (by the address alone)."""
    if not text:
        return "none"
    if text.endswith(".local"):
        return "mdns"
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return "invalid"
    if ip.is_loopback:
        return "loopback"
    if ip.version == 4 and ip in _CGNAT:
        return "cgnat"
    for name, net in _POOLS:
        if ip.version == net.version and ip in net:
            return name
    if ip.is_private or ip.is_link_local:
        return "private"
    return "public"


def claimed_dialect_ok(claimed: str, cand: dict[str, Any]) -> bool:
    """Could this candidate string come from the claimed browser? Chrome/Safari (libwebrtc):
    lowercase protocol, `generation 0 ufrag` extensions; Firefox (nICEr): uppercase UDP/TCP, no
    extensions (shared/reference/browser-ice.md)."""
    text = cand.get("candidate", "")
    parts = text.split()
    if len(parts) < 8:
        return False
    proto = parts[2]
    if claimed == "firefox":
        # nICEr foundations are gathering-order indices ("0", "1", ...), never CRC32 values.
        return proto in ("UDP", "TCP") and "generation" not in text and len(parts[0]) <= len("candidate:") + 3
    return proto in ("udp", "tcp") and " generation " in text and " ufrag " in text


def session_features(row: dict[str, Any]) -> dict[str, Any]:
    events = row["events"]
    if isinstance(events, str):
        events = json.loads(events)
    given = [e["candidate"] for e in events if e["type"] == "icecandidate" and e.get("candidate")]
    cands = [c for c in given if c.get("candidate")]
    # Firefox signals end-of-candidates with an empty candidate string before the null one.
    empty_end = len(given) - len(cands)
    errors = [e for e in events if e["type"] == "icecandidateerror"]
    by_type = {t: 0 for t in ("host", "srflx", "prflx", "relay")}
    protocols = {"udp": 0, "tcp": 0}
    host_ports, srflx, costs, mids = set(), [], set(), set()
    host_classes, ipv6 = set(), 0
    for c in cands:
        by_type[c.get("type") or "host"] = by_type.get(c.get("type") or "host", 0) + 1
        proto = (c.get("protocol") or "").lower()
        protocols[proto] = protocols.get(proto, 0) + 1
        addr = c.get("address") or ""
        if ":" in addr:
            ipv6 += 1
        if c.get("type") == "host":
            host_ports.add(c.get("port"))
            host_classes.add(address_class(addr))
        elif c.get("type") == "srflx":
            srflx.append(c)
        for key, value in _FIELD_RE.findall(c.get("candidate", "")):
            if key == "network-cost":
                costs.add(int(value))
        mids.add(c.get("sdpMid"))
    web = row.get("web_address")
    srflx_addrs = {c.get("address", "").strip("[]") for c in srflx}
    claimed = row.get("claimed_browser") or "chrome"
    t_first = min((e["t"] for e in events if e["type"] == "icecandidate" and (e.get("candidate") or {}).get("candidate")), default=None)
    t_complete = next((e["t"] for e in events if e["type"] == "icegatheringstatechange" and e["state"] == "complete"), None)
    texts = sorted({e.get("errorText") or "" for e in errors})
    return {
        "session_id": row["session_id"], "label": row["label"], "scenario": row["scenario"], "profile": row["profile"],
        "webrtc_present": row.get("page_error") is None,
        "n_events": len(events),
        "n_candidates": len(cands),
        "n_host": by_type["host"], "n_srflx": by_type["srflx"], "n_relay": by_type["relay"], "n_prflx": by_type["prflx"],
        "n_udp": protocols.get("udp", 0), "n_tcp": protocols.get("tcp", 0),
        "n_ipv6_candidates": ipv6,
        "has_mdns_host": "mdns" in host_classes,
        "has_private_host": bool(host_classes & {"private", "cgnat"}),
        "has_public_host": bool(host_classes - {"mdns", "private", "cgnat", "loopback", "none"}),
        "has_cgnat_host": "cgnat" in host_classes,
        "host_address_classes": ",".join(sorted(host_classes)),
        "n_srflx_addresses": len(srflx_addrs),
        "srflx_web_mismatch": None if not srflx_addrs or not web else web not in srflx_addrs,
        "srflx_class": ",".join(sorted({address_class(a) for a in srflx_addrs})) or "none",
        "web_class": address_class(web),
        "n_errors": len(errors),
        "n_701": sum(1 for e in errors if e.get("errorCode") == 701),
        "error_texts": " | ".join(texts),
        "t_first_candidate_ms": t_first,
        "t_complete_ms": t_complete,
        "t_last_event_ms": max((e["t"] for e in events), default=None),
        "completed": t_complete is not None,
        "dialect_consistent": all(claimed_dialect_ok(claimed, c) for c in cands) if cands else None,
        "network_costs": ",".join(str(c) for c in sorted(costs)),
        "max_network_cost": max(costs) if costs else None,
        "srflx_port_preserved": None if not srflx else any(c.get("port") in host_ports for c in srflx),
        "n_transports": len(mids),
        "n_empty_end_candidates": empty_end,
    }


FEATURE_NUMERIC = (
    "n_events", "n_candidates", "n_host", "n_srflx", "n_relay", "n_udp", "n_tcp", "n_ipv6_candidates",
    "has_mdns_host", "has_private_host", "has_public_host", "has_cgnat_host", "n_srflx_addresses",
    "srflx_web_mismatch", "n_errors", "n_701", "t_first_candidate_ms", "t_complete_ms", "t_last_event_ms",
    "completed", "dialect_consistent", "max_network_cost", "srflx_port_preserved", "n_transports",
    "webrtc_present", "n_empty_end_candidates",
)
