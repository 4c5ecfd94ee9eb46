"""One dataset session: its plan -> a GatherConfig -> a real gather -> one output row.

Profile fields the engine cannot honour yet are refused up front (`check_runnable`), never
silently dropped: a dataset labelled "disable_non_proxied_udp" that was gathered with the default
policy would teach a detector the wrong thing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError, Faults, GatherConfig, parse_ice_url
from ..dialects import get_dialect
from ..gathering import gather
from ..net import Net
from ..profiles import Profile, ProfileError
from ..stun_transaction import MIN_REAL_RTO_S
from .nat import NatRegistry, ServerAliases, SessionNat, SessionNet
from .plan import SessionPlan

# GatherConfig's CLI option names (in its ConfigErrors) -> the profile field that set them.
_OPTION_FIELDS = {
    "--browser": "browser.name/versions", "--policy": "page.policy", "--ice-transport-policy": "page.ice_transport_policy",
    "--bundle-policy": "page.bundle_policy", "--media": "page.media", "--pool-size": "page.pool_size",
    "--pool-lead": "page.pool_lead_ms", "--sdp": "page.sdp",
}

# What a page sees when it cannot even start gathering (Chrome's messages).
PAGE_ERRORS = {
    "missing_api": "TypeError: RTCPeerConnection is not a constructor",
    "setup_throws": "InvalidStateError: Failed to execute 'setLocalDescription' on 'RTCPeerConnection'",
}


def check_runnable(profile: Profile) -> None:
    """Raise ProfileError naming the field this build cannot honour for the profile: the checks
    the engine makes when a gather starts, run once per browser version before any session."""
    if not profile.needs_gather:
        return
    if profile.turn:
        raise ProfileError(profile.source, "page.turn", list(profile.turn),
                           "TURN sessions need a NAT in front of coturn: run them with `icesim dataset --lab`")
    for version, _ in profile.versions:
        config = GatherConfig(browser=f"{profile.browser}@{version}", permission=profile.permission == "granted",
                              mdns=profile.mdns, **_page_settings(profile))
        try:
            config.validate()
            dialect = get_dialect(config.browser)
            dialect.gather_policy(config.ip_policy, config.permission, config.mdns, config.ice_transport_policy)
            dialect.media_sections(config.media, config.bundle_policy)
            if config.sdp and not dialect.renders_sdp:
                raise ConfigError("--sdp", config.browser, "the local description is not modelled for this browser yet")
            if config.sdp and (why := dialect.sdp_unsupported(config.media)):
                raise ConfigError("--sdp", ",".join(config.media), why)
        except ConfigError as exc:
            field_name = _OPTION_FIELDS.get(exc.field_name, exc.field_name)
            raise ProfileError(profile.source, field_name, exc.value, f"not runnable in this build: {exc.reason}") from None


def _page_settings(p: Profile) -> dict[str, Any]:
    return {"ip_policy": p.policy, "ice_transport_policy": p.ice_transport_policy, "media": p.media,
            "bundle_policy": p.bundle_policy, "pool_size": p.pool_size, "pool_lead_ms": p.pool_lead_ms, "sdp": p.sdp}


# What the page's iceServers say: server k is stun:198.51.100.(224+k):3478, or by name
# stun{k}.icesim.test (A record; the AAAA 2001:db8:ffff::(224+k) is seen only by sessions whose
# profile says stun_aaaa: the URL itself never tells the profiles apart).
# The addresses are aliases (ServerAliases) for the worker's loopback servers.
STUN_ALIAS_PORT = 3478


def stun_alias(k: int, family: int) -> str:
    return f"198.51.100.{224 + k}" if family == 4 else f"2001:db8:ffff::{224 + k:x}"


@dataclass
class WorkerEnv:
    """What every session in one worker shares: the STUN servers, the NAT registry, the Net."""

    net: Net
    registry: NatRegistry
    stun_v4: list[tuple[str, int]]  # where server slot k really listens (loopback)
    stun_v6: list[tuple[str, int]]
    time_scale: float
    names: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    aliases: ServerAliases = field(default_factory=ServerAliases)
    _urls: dict[tuple[int, bool], list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k, real in enumerate(self.stun_v4):
            self.aliases.add((stun_alias(k, 4), STUN_ALIAS_PORT), real)
        for k, real in enumerate(self.stun_v6):
            self.aliases.add((stun_alias(k, 6), STUN_ALIAS_PORT), real)

    def urls(self, count: int, by_name: bool) -> list:
        key = (count, by_name)
        if key not in self._urls:
            out = []
            for k in range(count):
                host = stun_alias(k, 4)
                if by_name:
                    host = f"stun{k}.icesim.test"
                    self.names[host] = {4: [stun_alias(k, 4)], 6: [stun_alias(k, 6)] if self.stun_v6 else []}
                out.append(parse_ice_url(f"stun:{host}:{STUN_ALIAS_PORT}"))
            self._urls[key] = out
        return self._urls[key]


def session_time_scale(plan: SessionPlan, time_scale: float) -> float:
    """The run's time scale, except for a slow path: a scaled retransmission timer fires after
    max(rto / scale, MIN_REAL_RTO_S) of real time yet counts its full browser RTO, so an answer
    slower than MIN_REAL_RTO_S would be stamped after the RTO (Chrome: 250 ms) instead of one round
    trip (measured: RTT 128 ms -> srflx at 319 ms). Such sessions run on real timers; the 1.5 x +
    20 ms margin covers RTT spread and loop lag. Unanswered (UDP-blocked) sessions keep the scale."""
    if time_scale <= 1.0 or plan.profile.udp_blocked:
        return time_scale
    if plan.rtt_ms * 1.5 + 20.0 >= MIN_REAL_RTO_S * 1000.0:
        return 1.0
    return time_scale


def session_config(plan: SessionPlan, env: WorkerEnv) -> GatherConfig:
    p = plan.profile
    # The RTT is applied by the STUN server (SessionNat.rtt_s); FaultyNet only where UDP is blocked.
    faults = Faults(block_udp_all=p.udp_blocked)
    config = GatherConfig(
        browser=f"{p.browser}@{plan.browser_version}", servers=env.urls(p.stun_servers, p.stun_by_name),
        interfaces=list(plan.interfaces), permission=p.permission == "granted", mdns=p.mdns, faults=faults,
        time_scale=session_time_scale(plan, env.time_scale), timeout_ms=p.timeout_ms or None, seed=plan.seed,
        **_page_settings(p),
    )
    return config


async def run_session(plan: SessionPlan, env: WorkerEnv, loop_lag_ms: float = 0.0) -> dict[str, Any]:
    """A real gather for the plan; the row of sessions.parquet (events as event-schema JSON)."""
    p = plan.profile
    start = time.perf_counter()
    raw: list[dict[str, Any]] = []
    if p.webrtc not in PAGE_ERRORS:
        nat = SessionNat(p.nat, plan.public_v4, plan.public_v6, plan.rtt_ms / 1000.0)
        net = SessionNet(env.net, env.registry, nat, env.names, env.aliases, p.stun_aaaa)
        raw = [event.to_dict() async for event in gather(session_config(plan, env), net)]
    return session_row(plan, raw, session_time_scale(plan, env.time_scale), start, loop_lag_ms)


def session_row(plan: SessionPlan, raw: list[dict[str, Any]], time_scale: float, start: float,
                loop_lag_ms: float = 0.0, lab_topology: str | None = None) -> dict[str, Any]:
    """The row for a gather's event stream as dicts (the `meta` line included), as a page sees it;
    shared by in-process sessions and `--lab` ones (dataset/lab_sessions.py)."""
    p = plan.profile
    events: list[dict[str, Any]] = []
    swallowed = False  # candidates the page's replaced callback never heard
    sdp = None
    browser = f"{p.browser}@{plan.browser_version}"
    for event in raw:
        if event["type"] == "meta":
            browser = event["browser"]
            continue
        if event["type"] == "localdescription":
            sdp = event["sdp"]  # its own column: what the page reads after gathering
            continue
        if p.webrtc == "stubbed_callback" and event["type"] == "icecandidate":
            swallowed = True
            continue  # the page replaced onicecandidate: candidates never reach its code
        events.append(event)
    return {
        "session_id": plan.session_id, "index": plan.index, "seed": plan.seed, "label": p.label,
        "scenario": p.scenario, "profile": p.name, "browser": browser, "claimed_browser": p.claims,
        "user_agent": plan.user_agent, "os": p.os, "device": p.device, "webrtc": p.webrtc,
        "permission": p.permission, "policy": p.policy, "nat": p.nat, "udp_blocked": p.udp_blocked,
        "web_address": plan.web_address, "public_v4": plan.public_v4, "public_v6": plan.public_v6,
        "interfaces": json.dumps([[i.name, str(i.address), i.adapter_type] for i in plan.interfaces]),
        "rtt_ms": plan.rtt_ms, "time_scale": time_scale,
        "page_timeout_ms": p.timeout_ms or None, "page_error": PAGE_ERRORS.get(p.webrtc),
        "events": json.dumps(events, separators=(",", ":")),
        "_events": events,  # for the features; dropped before writing
        "browser_ms": max((e["t"] for e in events), default=0.0),
        "wall_ms": round((time.perf_counter() - start) * 1000.0, 3),
        # The worker loop's lag at the session's start and end: real time in `t` that was not network.
        "loop_lag_ms": loop_lag_ms,
        "sdp": sdp,
        "lab_topology": lab_topology,  # the `icesim lab` topology the session ran in; None = in-process
        # The offer's m-lines and bundle policy: `icesim replay` renders the page's SDP from them.
        "media": ",".join(p.media), "bundle_policy": p.bundle_policy,
        # stubbed_callback: the whole stream, swallowed candidates included (they still reach
        # pc.localDescription and getStats, which `icesim replay` renders); null otherwise.
        "stubbed_events": json.dumps([e for e in raw if e["type"] not in ("meta", "localdescription")],
                                     separators=(",", ":")) if swallowed else None,
    }
