"""A session (dataset row or recorded gather stream) -> its replay document (`icesim.replay/1`,
icesim/js/README.md). Pure: the browser rules come from the dialects.

The SDP is recomputed, not stored: the engine drew the session's identity (ufrag, pwd,
tiebreaker) as `dialect.new_identity(random.Random(seed))` (gathering/engine.py), so the same
seed gives back the credentials and the o= line, and `dialect.local_description` renders
`pc.localDescription` after each signalled candidate exactly as the engine renders the final one
(`--sdp`, the row's `sdp` column). One line differs for Chrome: the engine's fingerprint is drawn
at random, but a Chrome page also reads the certificate itself (getStats), so the replay makes a
real one per session (certificate.py) and its fingerprint replaces the engine's in every
snapshot; the last snapshot is the row's `sdp` with that fingerprint.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import structlog

from ..config import ConfigError
from ..dialects import ChromeDialect, Dialect, GatherIdentity, get_dialect
from ..events import CANDIDATE_FIELDS, IceCandidate
from .certificate import PAGE_EPOCH_MS, created_at_s, session_certificate, with_fingerprint
from .stats import session_stats
from .timing import offer_timing

log = structlog.get_logger(__name__)

SCHEMA = "icesim.replay/1"
REPLAY_EVENT_TYPES = ("icegatheringstatechange", "icecandidate", "icecandidateerror")
# Profile `page.webrtc` -> the document's `webrtc` (the contract says "available" for "present").
WEBRTC = {"present": "available", "missing_api": "missing_api", "stubbed_callback": "stubbed_callback",
          "setup_throws": "setup_throws"}
DEFAULT_MEDIA = ("data",)
DEFAULT_BUNDLE_POLICY = "balanced"


@dataclass(frozen=True, slots=True)
class SdpPlan:
    """What renders the session's SDP: the dialect (Safari: Chrome's), its identity and m-lines."""

    renderer: Dialect
    ident: GatherIdentity
    sections: list
    identity_source: str  # "seed" | "candidates" (the seed was missing or gave another ufrag)


def check_row(row: dict[str, Any]) -> tuple[Dialect, str]:
    """The row's dialect and document `webrtc` value; ConfigError naming --sessions when the row
    cannot be replayed (run over every row before any is, so a bad one stops nothing midway)."""
    session_id = row.get("session_id")
    try:
        dialect = get_dialect(str(row.get("browser") or ""))
    except ConfigError as exc:
        raise ConfigError("--sessions", row.get("browser"), f"session {session_id}: {exc.reason}") from None
    webrtc = WEBRTC.get(row.get("webrtc") or "present")
    if webrtc is None:
        raise ConfigError("--sessions", row.get("webrtc"), f"session {session_id}: unknown page.webrtc value")
    return dialect, webrtc


def replay_document(row: dict[str, Any], called_at_ms: float | None = None) -> dict[str, Any]:
    """The replay document for one session row (`session_row`'s keys, or sessions.gather_row's).

    `called_at_ms`: the wall clock (Unix ms) at which the page calls the detector, so that
    Date.now() and the certificate's validity are today's; None: the fixed PAGE_EPOCH_MS time
    origin, for documents that are the same byte for byte on every run."""
    session_id = str(row["session_id"])
    dialect, webrtc = check_row(row)
    family = dialect.name
    events = _replay_events(row.get("events"))
    if webrtc in ("missing_api", "setup_throws"):
        events = []  # the page never reaches ICE (the contract: no events)
    # stubbed_callback: the page's code never hears the candidates, yet the browser gathered them
    # and puts them in pc.localDescription and getStats: render from the whole stream.
    whole = _replay_events(row.get("stubbed_events")) if webrtc == "stubbed_callback" else []
    source = whole or events
    plan = sdp_plan(dialect, row, source)
    snapshots = local_descriptions(plan, source)
    page_ms = page_start_ms(session_id)
    epoch_ms = PAGE_EPOCH_MS if called_at_ms is None else int(called_at_ms - page_ms)
    # Safari's certificate is not captured: its SDP keeps the drawn fingerprint, its report has none.
    certificate = session_certificate(_certificate_secret(session_id, plan.ident),
                                      created_at_s(page_ms, epoch_ms)) if family == "chrome" else None
    as_replayed = (lambda sdp: with_fingerprint(sdp, certificate.fingerprint)) if certificate else (lambda sdp: sdp)
    snapshots = [[i, as_replayed(sdp)] for i, sdp in snapshots]
    if row.get("sdp") and snapshots[-1][1] != as_replayed(row["sdp"]):
        log.warning("replay.sdp_differs", session_id=session_id, identity=plan.identity_source)
    rng = random.Random(f"icesim.replay:{session_id}")
    offer_ms, sld_ms = offer_timing(family, events[0]["t"] if events else None, rng)
    # No connection, no report: missing_api has no RTCPeerConnection, setup_throws rejects SLD.
    stats = [] if webrtc in ("missing_api", "setup_throws") else session_stats(
        family, source, rng, ufrag=plan.ident.ufrag, certificate=certificate and certificate.stats_entry(),
        transport_mids=[s.mid for s in plan.sections if s.transport_mid == s.mid],
        tiebreaker=plan.ident.tiebreaker, interfaces=row.get("interfaces"),
    )
    if whole:
        snapshots, stats = _onto_page_events(whole, snapshots, stats)
    return {
        "schema": SCHEMA, "session_id": session_id, "label": row.get("label"), "scenario": row.get("scenario"),
        "profile": row.get("profile"), "browser": f"{dialect.name}@{dialect.version}", "family": family,
        "user_agent": row.get("user_agent"), "web_address": row.get("web_address"), "webrtc": webrtc,
        "page_error": row.get("page_error"),
        "page_ms": page_ms, "epoch_ms": epoch_ms,
        "offer_sdp": offer_sdp(family, snapshots[0][1]), "offer_ms": offer_ms, "sld_ms": sld_ms,
        "events": events, "local_descriptions": snapshots, "stats": stats,
    }


# When the detector starts, a real page has been loading for a while: performance.now() is never
# 0 there, and a script that reads it first would spot a page born with it. Not captured: an
# assumption of loaded-page times, log-uniform over 250-2500 ms, fixed per session.
PAGE_START_MS = (250.0, 2500.0)


def page_start_ms(session_id: str) -> float:
    """performance.now() (ms) at which the page runs the detector, drawn from the session id."""
    low, high = PAGE_START_MS
    u = random.Random(f"icesim.replay.page:{session_id}").random()
    return round(low * (high / low) ** u, 1)


def _replay_events(value: Any) -> list[dict[str, Any]]:
    """A row's event list (JSON text in a dataset, a list from a gather stream), the page's
    event types only."""
    events = json.loads(value) if isinstance(value, str) else list(value or [])
    return [e for e in events if e.get("type") in REPLAY_EVENT_TYPES]


def _onto_page_events(whole: list[dict[str, Any]], snapshots: list[list[Any]],
                      stats: list[list[Any]]) -> tuple[list[list[Any]], list[list[Any]]]:
    """Indexes into the whole stream -> indexes into the page's events (the whole stream without
    its icecandidate events): a swallowed candidate shows from the page's last event before it."""
    page_index, kept = [], -1
    for event in whole:
        kept += event.get("type") != "icecandidate"
        page_index.append(kept)

    def onto(i: int) -> int:
        return -1 if i < 0 else page_index[i]

    by_index: dict[int, str] = {}
    for i, sdp in snapshots:
        by_index[onto(i)] = sdp  # the latest snapshot due at that page event wins
    return [[i, sdp] for i, sdp in sorted(by_index.items())], [[onto(i), entry] for i, entry in stats]


def _certificate_secret(session_id: str, ident: GatherIdentity) -> str:
    """What the session's certificate is made from: its id and its identity (seed-drawn), so
    one row always gets the same certificate and two sessions never share one."""
    return f"{session_id}|{ident.tiebreaker}|{ident.ufrag}|{ident.pwd}"


def sdp_plan(dialect: Dialect, row: dict[str, Any], events: list[dict[str, Any]]) -> SdpPlan:
    """The session's identity as the engine drew it, checked against the candidates' ufrag.
    A missing seed or a ufrag that does not match (a stream from another build, a hand-edited
    file) falls back to the candidates' ufrag with the rest drawn from the session id: the SDP
    is then self-consistent but not the one the engine would have rendered."""
    # Safari: WebKit's SDP is not modelled (SafariDialect.renders_sdp is False). libwebrtc writes
    # WebKit's SDP too, so Chrome's renderer gives its form; the codec lists differ.
    renderer: Dialect = dialect if dialect.renders_sdp else ChromeDialect()
    media = tuple(m for m in (row.get("media") or "").split(",") if m) or DEFAULT_MEDIA
    bundle_policy = row.get("bundle_policy") or DEFAULT_BUNDLE_POLICY
    if renderer.sdp_unsupported(media):
        # Firefox audio/video m-lines are not captured: its renderer writes them as data m-lines.
        log.info("replay.sdp_media_unmodelled", browser=row.get("browser"), media=",".join(media))
    sections = renderer.media_sections(media, bundle_policy)
    ufrag = next((c["usernameFragment"] for c in _candidates(events) if c.get("usernameFragment")), None)
    seed = row.get("seed")
    if seed is not None:
        ident = dialect.new_identity(random.Random(seed))
        if ufrag is None or ident.ufrag == ufrag:
            return SdpPlan(renderer, ident, sections, "seed")
    ident = dialect.new_identity(random.Random(f"icesim.replay.identity:{row['session_id']}"))
    if ufrag is not None:
        ident.ufrag = ufrag
    return SdpPlan(renderer, ident, sections, "candidates")


def _candidates(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["candidate"] for e in events if e.get("type") == "icecandidate" and e.get("candidate")]


def local_descriptions(plan: SdpPlan, events: list[dict[str, Any]]) -> list[list[Any]]:
    """`[i, sdp]`: after setLocalDescription (-1), then after each signalled candidate, Firefox's
    "" end-of-candidates marker included (it adds the m-line's a=end-of-candidates)."""
    signalled: dict[str, list[IceCandidate]] = {}
    out: list[list[Any]] = [[-1, plan.renderer.local_description(plan.ident, plan.sections, signalled)]]
    for i, event in enumerate(events):
        cand = event.get("candidate") if event.get("type") == "icecandidate" else None
        if cand is None:
            continue
        signalled.setdefault(cand.get("sdpMid") or "", []).append(
            IceCandidate(**{k: cand[k] for k in CANDIDATE_FIELDS if k in cand}))
        out.append([i, plan.renderer.local_description(plan.ident, plan.sections, signalled)])
    return out


def offer_sdp(family: str, initial_local_description: str) -> str:
    """The SDP createOffer() resolves with. Chrome: the local description before any candidate
    (S1-S8, C/stun: identical). Firefox: the same without the session-level `a=sendrecv` that
    its local description has after `t=` from setLocalDescription on (F1, F3d, F5b, F8c, F/stun:
    the only difference)."""
    if family != "firefox":
        return initial_local_description
    lines = initial_local_description.split("\r\n")
    if len(lines) > 4 and lines[4] == "a=sendrecv":
        del lines[4]
    return "\r\n".join(lines)
