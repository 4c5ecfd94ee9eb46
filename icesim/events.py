"""The event model: what a page's JavaScript reads, one JSON object per line.

Field names are exactly the W3C attribute names (webrtc-pc: RTCIceCandidate,
RTCPeerConnectionIceEvent, RTCPeerConnectionIceErrorEvent). An attribute a browser does
not implement is ABSENT (omitted from the JSON), which is not the same as null.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SCHEMA_ID = "icesim.events/1"


class _Absent:
    """Marks an attribute the browser does not have at all (the JSON omits it)."""

    _instance: "_Absent | None" = None

    def __new__(cls) -> "_Absent":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()

CANDIDATE_FIELDS = (
    "candidate", "sdpMid", "sdpMLineIndex", "foundation", "component", "priority",
    "address", "protocol", "port", "type", "tcpType", "relatedAddress", "relatedPort",
    "usernameFragment", "relayProtocol", "url",
)


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """RTCIceCandidate as the page reads it (attributes parsed from the string, plus extras)."""

    candidate: str
    sdpMid: str | None
    sdpMLineIndex: int | None
    foundation: str | None = None
    component: str | None = None
    priority: int | None = None
    address: str | None = None
    protocol: str | None = None
    port: int | None = None
    type: str | None = None
    tcpType: str | None = None
    relatedAddress: str | None = None
    relatedPort: int | None = None
    usernameFragment: str | None = None
    relayProtocol: Any = None
    url: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k in CANDIDATE_FIELDS if (v := getattr(self, k)) is not ABSENT}


@dataclass(frozen=True, slots=True)
class GatherMeta:
    """First line of a run: how it ran (browser time vs wall time, scale, seed)."""

    browser: str
    time_scale: float
    seed: int | None
    servers: tuple[str, ...]
    t: float = 0.0
    schema: str = SCHEMA_ID
    type: str = "meta"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "meta", "schema": self.schema, "browser": self.browser,
            "timeScale": self.time_scale, "timeBase": "browser-ms-since-createOffer",
            "seed": self.seed, "servers": list(self.servers),
        }


@dataclass(frozen=True, slots=True)
class GatheringStateChange:
    t: float
    state: str  # new | gathering | complete
    type: str = "icegatheringstatechange"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "t": round(self.t, 1), "state": self.state}


@dataclass(frozen=True, slots=True)
class CandidateEvent:
    t: float
    candidate: IceCandidate | None  # None = the final null candidate
    type: str = "icecandidate"

    def to_dict(self) -> dict[str, Any]:
        cand = None if self.candidate is None else self.candidate.to_dict()
        return {"type": self.type, "t": round(self.t, 1), "candidate": cand}


@dataclass(frozen=True, slots=True)
class CandidateErrorEvent:
    t: float
    address: str | None
    port: int | None
    url: str
    errorCode: int
    errorText: str
    hostCandidate: Any = ABSENT  # Chrome only (deprecated attribute)
    type: str = "icecandidateerror"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": self.type, "t": round(self.t, 1), "address": self.address,
            "port": self.port, "url": self.url, "errorCode": self.errorCode,
            "errorText": self.errorText,
        }
        if self.hostCandidate is not ABSENT:
            d["hostCandidate"] = self.hostCandidate
        return d


@dataclass(frozen=True, slots=True)
class LocalDescription:
    """pc.localDescription.sdp as the page reads it after its last event (opt-in: --sdp)."""

    t: float
    sdp: str
    type: str = "localdescription"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "t": round(self.t, 1), "sdp": self.sdp}


Event = GatherMeta | GatheringStateChange | CandidateEvent | CandidateErrorEvent | LocalDescription


def to_json_line(event: Event) -> str:
    return json.dumps(event.to_dict(), separators=(", ", ": "), ensure_ascii=False)
