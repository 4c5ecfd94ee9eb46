"""What `getStats()` reports during gathering, per browser family (pure: no I/O).

Entries are `[i, entry]`: reported from event `i` on (-1: from setLocalDescription on); the
module stamps `timestamp`. Keys come in WebIDL dictionary order (id, type, then the members
sorted lexicographically), the order a page's `Object.keys(entry)` shows in both browsers
(API captures, `_keysInOrder`). The list is in the browser's report order.

Facts: the API captures (tests/data/API_FACTS.md: C/* = tests/data/chromium156/api, F/* =
firefox/api) and the `page.stats` of shared/captures S1-S8, F3d, F8c.

Chrome (libwebrtc pc/rtc_stats_collector.cc ProduceIceCandidateStats):
- the report iterates in id order (a std::map): certificate "CF..", data-channel "D..",
  candidates "I..", "P", transports "T..";
- candidate id `"I" + 8 random ICE chars` (Candidate::id_), transportId `"T" + mid + "1"`
  (transport name + RTP component: T01/T11/T21 for three m-lines, C/avd_stun);
- `ip` and `address` both hold `candidate.address().ipaddr().ToString()`: "" for an mDNS host
  (the name is not an IP), the IP unbracketed otherwise (S2: "fd00:5::2");
- `isRemote: false`, `networkType` from the adapter ("unknown" for any-address networks: every
  capture); no `vpn` / `networkAdapterType` (not exposed in 156);
- `url` on srflx and relay only, `relayProtocol` on relay only ("udp" for a UDP relay, S8,
  though the candidate's own attribute is null), `relatedAddress`/`relatedPort` only when the
  related port is not 0 (C/stun srflx under mDNS: omitted; S8 relay: the mapped address);
  `tcpType` on TCP candidates;
- any-address gathering (no permission) also makes a TCP active host candidate per family on
  port 9 that the page is never signalled, yet getStats lists it from "complete" on (C/stun:
  absent at the srflx, present at "complete"; C/dead_stun: present only after the 701) with
  address "" under mDNS, "0.0.0.0" / "::" without (S2), priority 1509957375 / 1509959935;
- "P" (peer-connection, from the start) and one "transport" per m-line transport (after
  setLocalDescription: C/dead_stun size 2 -> 4), `localCertificateId` naming the DTLS
  certificate; the `certificate` entry ("CF" + its fingerprint, certificate.py) is in the
  report from the same moment on (C/*: first seen at signalingstatechange, with the
  transports; not at negotiationneeded) and, like every entry but "P", gone after close().
  `data-channel` entries depend on the page's own createDataChannel calls: the module's
  business.

Firefox: peer-connection (`{uuid}` id) first, then the candidates in creation order, then one
transport per m-line; ids and transportIds random 32-bit hex without zero padding ("1430f1a").
Candidate members address (the mDNS name or IP), candidateType, foundation, port, priority,
protocol (lowercase), relayProtocol (relay), tcpType (TCP), transportId, usernameFragment; no
url, ip or related address. A TCP active candidate reports its real local port (F3d, F/stun)
where its string says 9. Host candidates (UDP and TCP) are in the report from "gathering" on,
before their own events (F/stun, F/dead_stun); transport: dtlsState "new", iceRole
"controlling", iceState "checking", iceLocalUsernameFragment.

Safari: WebKit exposes the W3C members from its libwebrtc; it has no Chrome extras (`ip`,
`isRemote`, `networkType`) [source reading only: no Safari capture].
"""

from __future__ import annotations

import ipaddress
import json
import random
import uuid
import zlib
from typing import Any

from ..addresses import address_precedence
from ..dialects.chrome import ICE_CHARS, NETWORK_COST, TYPE_PREF_HOST_TCP
from ..dialects.firefox import TYPE_PREF as FIREFOX_TYPE_PREF

# libwebrtc NetworkTypeToStatsType: loopback, "any" and unknown adapters report "unknown".
_STATS_NETWORK_TYPE = {"ethernet": "ethernet", "wifi": "wifi", "cellular": "cellular", "vpn": "vpn"}
_COST_ADAPTER = {cost: kind for kind, cost in NETWORK_COST.items() if kind in ("ethernet", "wifi", "cellular")}


def candidate_events(events: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(index, candidate dict) of every signalled candidate (no null, no "" marker)."""
    return [(i, e["candidate"]) for i, e in enumerate(events)
            if e.get("type") == "icecandidate" and e.get("candidate") and e["candidate"].get("candidate")]


def session_stats(family: str, events: list[dict[str, Any]], rng: random.Random, *, ufrag: str,
                  certificate: dict[str, Any] | None, transport_mids: list[str], tiebreaker: int | None = None,
                  interfaces: str | None = None) -> list[list[Any]]:
    """`[i, entry]` for one session's getStats() (see the module docstring). `ufrag`: the
    session's local ICE ufrag; `certificate`: Chrome's `certificate` entry (its SDP's);
    `transport_mids`: the m-lines that have a transport of their own; `tiebreaker`: the
    session's, for Chrome's hidden TCP candidates' foundations; `interfaces`: the dataset row's
    JSON list of the session's interfaces, for Chrome's networkType."""
    if family == "firefox":
        return _firefox(events, rng, ufrag, transport_mids)
    entries = [[i, _chrome_entry(c, rng, family, interfaces)] for i, c in candidate_events(events)]
    if family == "chrome":
        entries += _chrome_hidden_tcp(events, rng, tiebreaker)
    entries.append([-1, {"id": "P", "type": "peer-connection", "dataChannelsClosed": 0, "dataChannelsOpened": 0}])
    if family == "chrome" and certificate:
        entries.append([-1, certificate])
    for mid in transport_mids:
        transport: dict[str, Any] = {
            "bytesReceived": 0, "bytesSent": 0, "dtlsRole": "unknown", "dtlsState": "new",
            "iceLocalUsernameFragment": ufrag, "iceRole": "controlling", "iceState": "new",
            "packetsReceived": 0, "packetsSent": 0, "selectedCandidatePairChanges": 0,
        }
        if family == "chrome" and certificate:
            transport["localCertificateId"] = certificate["id"]
        entries.append([-1, {"id": f"T{mid}1", "type": "transport", **dict(sorted(transport.items()))}])
    entries.sort(key=lambda pair: pair[1]["id"])
    return entries


def _state_index(events: list[dict[str, Any]], state: str) -> int | None:
    return next((i for i, e in enumerate(events) if e.get("type") == "icegatheringstatechange"
                 and e.get("state") == state), None)


# --- Chrome / Safari (libwebrtc) -------------------------------------------------------------
def chrome_id(rng: random.Random) -> str:
    return "I" + "".join(rng.choices(ICE_CHARS, k=8))


def _ip_text(address: str | None) -> str:
    """libwebrtc's ipaddr().ToString(): "" for a hostname, the IP without brackets."""
    text = (address or "").strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def _tokens(candidate: str) -> dict[str, str]:
    parts = candidate.split(" ")
    return {parts[k]: parts[k + 1] for k in range(6, len(parts) - 1, 2)}


def _network_type(cand: dict[str, Any], interfaces: str | None) -> str:
    """The candidate's adapter as libwebrtc reports it: from `network-id` (the interface's
    discovery order among usable ones, ChromeDialect._enumerated_networks) when the session's
    interfaces are known, else from `network-cost` (ethernet 0, wifi 10, cellular 900)."""
    tokens = _tokens(cand.get("candidate", ""))
    if "network-id" not in tokens:
        return "unknown"  # any-address networks (ADAPTER_TYPE_ANY)
    if interfaces:
        usable = [kind for _name, addr, kind in json.loads(interfaces)
                  if kind != "loopback" and not _loopback_or_link_local(addr)]
        n = int(tokens["network-id"])
        if 1 <= n <= len(usable):
            return _STATS_NETWORK_TYPE.get(usable[n - 1], "unknown")
    return _STATS_NETWORK_TYPE.get(_COST_ADAPTER.get(int(tokens.get("network-cost", "0")), ""), "unknown")


def _loopback_or_link_local(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or ip.is_link_local


def _relay_protocol(cand: dict[str, Any]) -> str:
    """"udp" / "tcp" / "tls": the candidate's attribute (Chrome: null for UDP, S8), its URL's
    transport, or (Safari: neither attribute exists) the relay type preference."""
    if isinstance(cand.get("relayProtocol"), str):
        return cand["relayProtocol"]
    url = cand.get("url")
    if isinstance(url, str) and url:
        return "tls" if url.startswith("turns:") else ("tcp" if url.endswith("transport=tcp") else "udp")
    return {0: "tls", 1: "tcp"}.get((cand.get("priority") or 0) >> 24, "udp")


def _chrome_entry(cand: dict[str, Any], rng: random.Random, family: str, interfaces: str | None) -> dict[str, Any]:
    ip = _ip_text(cand.get("address"))
    kind = cand.get("type")
    members: dict[str, Any] = {
        "address": ip, "candidateType": kind, "foundation": cand.get("foundation"), "port": cand.get("port"),
        "priority": cand.get("priority"), "protocol": cand.get("protocol"),
        "transportId": f"T{cand.get('sdpMid') or '0'}1", "usernameFragment": cand.get("usernameFragment"),
    }
    if family == "chrome":
        members.update(ip=ip, isRemote=False, networkType=_network_type(cand, interfaces))
    url = cand.get("url")
    if kind in ("srflx", "relay") and isinstance(url, str) and url:
        members["url"] = url
    if kind == "relay":
        members["relayProtocol"] = _relay_protocol(cand)
    if cand.get("relatedPort"):
        members["relatedAddress"] = _ip_text(cand.get("relatedAddress"))
        members["relatedPort"] = cand["relatedPort"]
    if cand.get("protocol") == "tcp":
        members["tcpType"] = cand.get("tcpType")
    return {"id": chrome_id(rng), "type": "local-candidate", **dict(sorted(members.items()))}


def _chrome_hidden_tcp(events: list[dict[str, Any]], rng: random.Random, tiebreaker: int | None) -> list[list[Any]]:
    """The never-signalled TCP active candidates of any-address gathering (see the module
    docstring): per transport, one per family that has a signalled UDP host on an any-address
    socket."""
    hosts = [c for _, c in candidate_events(events)
             if c.get("type") == "host" and c.get("protocol") == "udp" and "network-id" not in _tokens(c["candidate"])]
    due = _state_index(events, "complete")
    if not hosts or due is None:
        return []  # a page that stopped listening before "complete" never sees them
    mdns = any(_ip_text(c.get("address")) == "" for c in hosts)
    per_transport: dict[str, set[int]] = {}
    for c in hosts:
        per_transport.setdefault(c.get("sdpMid") or "0", set()).add(_host_family(c))
    out = []
    for mid, families in per_transport.items():
        for fam in sorted(families):
            bind = "0.0.0.0" if fam == 4 else "::"
            # api/candidate.cc GetPriority: (90 << 24) | ((0 << 8 | precedence) << 8) | 255.
            local = address_precedence(ipaddress.ip_address(bind))
            members = {
                "address": "" if mdns else bind, "candidateType": "host",
                "foundation": str(zlib.crc32(f"host{bind}tcp{tiebreaker or 0}".encode())), "ip": "" if mdns else bind,
                "isRemote": False, "networkType": "unknown", "port": 9,
                "priority": (TYPE_PREF_HOST_TCP << 24) | (local << 8) | 255, "protocol": "tcp", "tcpType": "active",
                "transportId": f"T{mid}1", "usernameFragment": hosts[0].get("usernameFragment"),
            }
            out.append([due, {"id": chrome_id(rng), "type": "local-candidate", **members}])
    return out


def _host_family(cand: dict[str, Any]) -> int:
    """4 or 6 for a UDP host: its address, or (an mDNS name) its priority's address precedence
    (IPv4 30, api/candidate.cc via IPAddressPrecedence)."""
    ip = _ip_text(cand.get("address"))
    if ip:
        return ipaddress.ip_address(ip).version
    return 4 if ((cand.get("priority") or 0) >> 8) & 0xFF == 30 else 6


# --- Firefox -----------------------------------------------------------------------------------
def firefox_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(32):x}"


def _firefox(events: list[dict[str, Any]], rng: random.Random, ufrag: str, transport_mids: list[str]) -> list[list[Any]]:
    transport_ids = {mid: firefox_id(rng) for mid in transport_mids}
    gathering = _state_index(events, "gathering")
    out: list[list[Any]] = [[-1, {"id": f"{{{uuid.UUID(int=rng.getrandbits(128), version=4)}}}", "type": "peer-connection",
                                  "dataChannelsClosed": 0, "dataChannelsOpened": 0}]]
    relay_tcp_pref = FIREFOX_TYPE_PREF[("relay", "tcp")]
    for i, cand in candidate_events(events):
        mid = cand.get("sdpMid") or "0"
        transport = transport_ids.setdefault(mid, firefox_id(rng))
        protocol = (cand.get("protocol") or "").lower()
        members: dict[str, Any] = {
            "address": cand.get("address"), "candidateType": cand.get("type"), "foundation": cand.get("foundation"),
            # A TCP active candidate's stats show the socket's real port, not the 9 of its string (F3d).
            "port": rng.randint(32768, 60999) if cand.get("tcpType") == "active" else cand.get("port"),
            "priority": cand.get("priority"), "protocol": protocol, "transportId": transport,
            "usernameFragment": cand.get("usernameFragment"),
        }
        if cand.get("type") == "relay":
            # The string says UDP either way; the type preference tells a TCP relay (FirefoxDialect).
            members["relayProtocol"] = "tcp" if (cand.get("priority") or 0) >> 24 == relay_tcp_pref else "udp"
        if protocol == "tcp":
            members["tcpType"] = cand.get("tcpType")
        # Hosts exist from "gathering" on, before their own events (F/stun, F/dead_stun).
        due = min(i, gathering) if cand.get("type") == "host" and gathering is not None else i
        out.append([due, {"id": firefox_id(rng), "type": "local-candidate", **dict(sorted(members.items()))}])
    for transport in transport_ids.values():
        out.append([-1, {"id": transport, "type": "transport", "dtlsState": "new", "iceLocalUsernameFragment": ufrag,
                         "iceRole": "controlling", "iceState": "checking"}])
    return out
