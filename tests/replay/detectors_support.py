"""Helpers for the detector and --serve tests: a real `icesim dataset`, `icesim replay` runs, and
what each shipped detector must conclude from a profile's properties (never from a recording).

The three detectors (icesim/js/detectors/, their header comments say what each flags):
(a) ice_error_or_silence.js: an icecandidateerror, or neither error nor the null candidate by
    2 s, means bot; (b) ip_mismatch.mjs: a public WebRTC address of the web address's family
    that differs from it means bot; (c) gather_ips_timeout.js: no IP address within 1 s rejects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from icesim.profiles.loader import load_library
from icesim.profiles.schema import Profile

REPO = Path(__file__).resolve().parents[2]
DETECTORS = REPO / "icesim" / "js" / "detectors"
ICE_ERROR_OR_SILENCE = DETECTORS / "ice_error_or_silence.js"
IP_MISMATCH = DETECTORS / "ip_mismatch.mjs"
GATHER_IPS_TIMEOUT = DETECTORS / "gather_ips_timeout.js"
ICE_EXPORT = "detectIceErrorOrSilence"  # a classic script's global function: named with --export

# Bots and people whose streams the detectors read differently; ~10 sessions each.
PROFILES = (
    "bot-proxy-blocks-udp", "bot-residential-proxy-mismatch", "human-corporate-udp-blocked",
    "human-chrome-linux-home-ethernet", "human-chrome-windows-home-wifi", "human-firefox-windows-home",
    "human-ios-safari-cgnat", "human-chrome-dualstack-ipv6-home", "human-ipv6-no-route",
    "bot-api-removed", "bot-setup-throws", "bot-stubbed-onicecandidate",
)
SESSIONS = 10 * len(PROFILES)
DATASET_SEED = 11
# Chrome's STUN timeout is ~40 s and Firefox's ~11 s of browser time: both far beyond (a)'s 2 s.
SILENCE_MS, GATHER_MS = 2000, 1000


def icesim(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m icesim ARGS` from this worktree (never the shared editable install)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "icesim", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)
    if check and done.returncode != 0:
        raise AssertionError(f"icesim {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def make_dataset(out: Path, profiles: tuple[str, ...] = PROFILES, sessions: int = SESSIONS,
                 seed: int = DATASET_SEED) -> Path:
    icesim("dataset", "--profiles", ",".join(profiles), "--sessions", str(sessions), "--out", str(out),
           "--workers", "1", "--seed", str(seed), "--format", "jsonl")
    return out


def dataset_rows(ds: Path) -> dict[str, dict[str, Any]]:
    rows = {}
    for part in sorted((ds / "sessions.jsonl").glob("part-*.jsonl")):
        for line in part.read_text().splitlines():
            row = json.loads(line)
            rows[str(row["session_id"])] = row
    return rows


def replay_jsonl(ds: Path, detector: Path, export: str | None = None, *extra: str) -> dict[str, dict[str, Any]]:
    args = ["replay", "--sessions", str(ds), "--detector", str(detector), "--format", "jsonl", *extra]
    if export:
        args += ["--export", export]
    lines = [json.loads(x) for x in icesim(*args).stdout.splitlines() if x.strip()]
    return {str(line["session_id"]): line for line in lines if "session_id" in line}


def profiles_by_name() -> dict[str, Profile]:
    return load_library()


# ---- what each detector must conclude, from the profile -----------------------------------------


@dataclass(frozen=True)
class Expected:
    status: str  # the runner's: resolved | rejected
    reason: str  # value.reason for (a)/(b); the Error's name or message for (c)
    bot: bool


def _no_ice(p: Profile) -> str | None:
    """The page never gathers: RTCPeerConnection missing, or its setup throws."""
    return {"missing_api": "missing", "setup_throws": "throws"}.get(p.webrtc)


def _silent(p: Profile) -> bool:
    """Gathering never reaches the page's callback within the detectors' windows: a stubbed
    onicecandidate, or UDP dropped (no srflx; the 701 only at the browser's STUN timeout)."""
    return p.webrtc == "stubbed_callback" or (p.udp_blocked and p.stun_servers > 0)


def _benign_lookup_701(p: Profile) -> bool:
    """An IPv6 socket and a STUN server named without an AAAA record: Chrome's immediate 701
    "STUN host lookup received error." (repro case stun-no-aaaa)."""
    has_v6 = any(i.family == 6 for i in p.interfaces)
    return p.browser == "chrome" and has_v6 and p.stun_by_name and not p.stun_aaaa


def _flagged_before_ice(p: Profile) -> Expected | None:
    """(a) and (b) resolve a bot verdict when the page cannot even start gathering."""
    kind = _no_ice(p)
    if kind is None:
        return None
    return Expected("resolved", "WEBRTC_MISSING" if kind == "missing" else "WEBRTC_SETUP_FAILED", True)


def expected_ice_error_or_silence(p: Profile) -> Expected:
    if early := _flagged_before_ice(p):
        return early
    if _silent(p):
        return Expected("resolved", "ICE_TIMEOUT", True)
    if _benign_lookup_701(p):
        return Expected("resolved", "ICE_CANDIDATE_ERROR", True)
    return Expected("resolved", "ICE_SUCCESS", False)


def expected_ip_mismatch(p: Profile) -> Expected:
    if early := _flagged_before_ice(p):
        return early
    if _silent(p):
        return Expected("resolved", "NO_PUBLIC_IP", False)
    proxied = p.web_address == "proxy" and not set(p.proxy_pool) & set(p.public_pool)
    return Expected("resolved", "IP_MISMATCH", True) if proxied else Expected("resolved", "IP_MATCH", False)


def expected_gather_ips(p: Profile) -> Expected:
    kind = _no_ice(p)
    if kind == "missing":
        return Expected("rejected", "TypeError", True)  # `new undefined(...)`
    if kind == "throws":
        return Expected("rejected", "InvalidStateError", True)
    if _silent(p):
        return Expected("rejected", "WebRTC IP gathering timed out.", True)
    return Expected("resolved", "", False)
