"""What changed between Chrome versions, for `--browser chrome@N`. Pure data and rules.

Each threshold is the first Chrome major version with the new behaviour. Dates and upstream
changes come from shared/reference/browser-ice.md (B2, B3, B6); mapping a date to a milestone
is our estimate where the reference gives none, as each comment says.
"""

from __future__ import annotations

from ..config import ConfigError

CURRENT_CHROME = 156
# icecandidateerror exists since Chrome 77 (reference B6: "Chrome 77 to ~99"); older versions
# fire no error event at all, which this model does not cover.
OLDEST_CHROME = 77

# B6: "STUN binding request timed out." from ~100; 77-99 said "STUN allocate request timed out.".
BINDING_TIMEOUT_TEXT_FROM = 100
# B3 + B2: foundations became random per connection (the ICE tiebreaker in the CRC, upstream
# #38485) and relay preferences became N..1 (were N-1..0), both late 2022 (Nov). Estimate:
# M109 (branch cut end of Nov 2022, stable Jan 2023).
RANDOM_FOUNDATION_FROM = 109
RELAY_PREF_FROM_N_FROM = 109
# B2: relay UDP type preference 2 -> 3 in Jan 2026 (upstream #46752); captures of 156 show 3.
# Estimate: M145 (branch cut mid-Jan 2026).
RELAY_UDP_PREF_3_FROM = 145
# B6: the 401 text became libwebrtc's own "Unauthorized." in mid-2025; before, the server's
# reason phrase passed through (coturn: "Unauthorized"). Estimate: M138 (stable June 2025).
OWN_UNAUTHORIZED_TEXT_FROM = 138


def parse_chrome_version(spec: str, version: str) -> int:
    """`chrome@N` -> N; one ConfigError naming --browser for anything else."""
    if not version:
        return CURRENT_CHROME
    if not version.isdigit():
        raise ConfigError("--browser", spec, "version must be a number, e.g. chrome@156")
    v = int(version)
    if not OLDEST_CHROME <= v <= CURRENT_CHROME:
        raise ConfigError("--browser", spec, f"Chrome versions {OLDEST_CHROME}-{CURRENT_CHROME} are modelled")
    return v


def relay_udp_type_pref(version: int) -> int:
    return 3 if version >= RELAY_UDP_PREF_3_FROM else 2


def stun_timeout_text(version: int) -> str:
    if version >= BINDING_TIMEOUT_TEXT_FROM:
        return "STUN binding request timed out."
    return "STUN allocate request timed out."


def static_foundation_type_name(type_name: str) -> str:
    """Before the random foundations libwebrtc named port types local/stun/relay: 842163049 is
    CRC32("stun0.0.0.0udp"), the any-address srflx foundation CreepJS keys on (reference B3)."""
    return {"host": "local", "srflx": "stun"}.get(type_name, type_name)
