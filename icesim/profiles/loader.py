"""Load and validate profile TOML files (stdlib tomllib). Pure: no sockets, no global state.

Every problem is one `ProfileError` naming the file, the dotted field and the value, so the CLI
prints one line and exits 2. Unknown keys are errors too: a typo must never be silently ignored.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any

from ..config import ADAPTER_TYPES
from .schema import (
    BROWSER_NAMES, BUILTIN_POOLS, BUNDLE_POLICIES, DEFAULTS, ICE_TRANSPORT_POLICIES, LABELS, MEDIA_KINDS,
    NAT_TYPES, PERMISSIONS, POLICIES, TIMING, TURN_TRANSPORTS, WEB_ADDRESS, WEBRTC_STATES, InterfaceSpec,
    Profile, ProfileError,
)

OSES = ("windows", "macos", "linux", "android", "ios", "chromeos")
DEVICES = ("desktop", "mobile", "tablet", "server")
_SECTIONS = ("browser", "page", "network", "timing")


def library_dir() -> Path:
    """profiles/ next to the package (a source checkout), or $ICESIM_PROFILES."""
    env = os.environ.get("ICESIM_PROFILES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "profiles"


def load_profile(path: str | Path) -> Profile:
    path = Path(path)
    src = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(src, "file", src, exc.strerror or str(exc)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(src, "toml", path.name, str(exc)) from None
    return parse_profile(data, src, path.stem, hashlib.sha256(raw).hexdigest())


def parse_profile(data: dict[str, Any], source: str, stem: str, digest: str = "") -> Profile:
    r = _Reader(data, source)
    for key in data:
        if key not in ("name", "label", "scenario", "signal", "pools", *_SECTIONS):
            r.fail(key, data[key], "unknown field")
    for section in _SECTIONS:
        sect = data.get(section, {})
        if not isinstance(sect, dict):
            r.fail(section, sect, "must be a table")
        allowed = {k.split(".", 1)[1] for k in DEFAULTS if k.startswith(section + ".")}
        for key in sect:
            if key not in allowed:
                r.fail(f"{section}.{key}", sect[key], f"unknown field (known: {', '.join(sorted(allowed))})")
    pools = _pools(r)
    name = r.str("name", default=stem)
    if not name or any(c in name for c in " /=,*?"):
        r.fail("name", name, "must be non-empty without spaces or / = , * ?")
    browser = r.choice("browser.name", BROWSER_NAMES)
    versions = _versions(r)
    os_name = r.choice("browser.os", OSES)
    claims = r.str("browser.claims") or browser
    if claims not in BROWSER_NAMES:
        r.fail("browser.claims", claims, f"must be one of {', '.join(BROWSER_NAMES)}")
    media = tuple(r.list_of("page.media", str))
    if not media or any(m not in MEDIA_KINDS for m in media) or len(set(media)) != len(media):
        r.fail("page.media", list(media), "must be a non-empty list of distinct audio, video, data")
    turn = tuple(r.list_of("page.turn", str))
    for t in turn:
        if t not in TURN_TRANSPORTS:
            r.fail("page.turn", list(turn), f"each entry must be one of {', '.join(TURN_TRANSPORTS)}")
    public_name, public = _pool_ref(r, "network.public_pool", pools)
    proxy_name, proxy = _pool_ref(r, "network.proxy_pool", pools)
    return Profile(
        name=name, label=r.choice("label", LABELS, required=True), scenario=r.str("scenario"), signal=r.str("signal"),
        browser=browser, versions=versions, os=os_name, device=r.choice("browser.device", DEVICES),
        user_agent=r.str("browser.user_agent"), claims=claims,
        webrtc=r.choice("page.webrtc", WEBRTC_STATES), permission=r.choice("page.permission", PERMISSIONS),
        policy=r.choice("page.policy", POLICIES), ice_transport_policy=r.choice("page.ice_transport_policy", ICE_TRANSPORT_POLICIES),
        stun_servers=r.int("page.stun_servers", 0, 8), stun_by_name=r.bool("page.stun_by_name"), stun_aaaa=r.bool("page.stun_aaaa"), turn=turn,
        pool_size=r.int("page.pool_size", 0, 255), pool_lead_ms=r.number("page.pool_lead_ms", 0.0, 600_000.0), media=media, bundle_policy=r.choice("page.bundle_policy", BUNDLE_POLICIES),
        timeout_ms=r.number("page.timeout_ms", 0.0, 600_000.0), sdp=r.bool("page.sdp"), mdns=r.bool("page.mdns"),
        interfaces=_interfaces(r), nat=r.choice("network.nat", NAT_TYPES), public_pool=public,
        public_pool_name=public_name, web_address=r.choice("network.web_address", WEB_ADDRESS),
        proxy_pool=proxy, proxy_pool_name=proxy_name, udp_blocked=r.bool("network.udp_blocked"),
        rtt_ms=r.number("network.rtt_ms", 0.0, 10_000.0), rtt_sigma=r.number("network.rtt_sigma", 0.0, 3.0),
        timing=r.choice("timing.behaviour", TIMING), source=source, digest=digest,
    )


class _Reader:
    """Typed access to dotted fields with the schema's defaults; failures name file and field."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.data, self.source = data, source

    def fail(self, field_name: str, value: object, reason: str):
        raise ProfileError(self.source, field_name, value, reason)

    def get(self, dotted: str, required: bool = False) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                if required:
                    self.fail(dotted, None, "is required")
                return DEFAULTS[dotted]
            node = node[part]
        return node

    def str(self, dotted: str, default: str | None = None) -> str:
        v = self.get(dotted) if default is None or _has(self.data, dotted) else default
        if not isinstance(v, str):
            self.fail(dotted, v, "must be a string")
        return v

    def choice(self, dotted: str, options: tuple[str, ...], required: bool = False) -> str:
        v = self.get(dotted, required)
        if v not in options:
            self.fail(dotted, v, f"must be one of {', '.join(options)}")
        return v

    def bool(self, dotted: str) -> bool:
        v = self.get(dotted)
        if not isinstance(v, bool):
            self.fail(dotted, v, "must be true or false")
        return v

    def int(self, dotted: str, lo: int, hi: int) -> int:
        v = self.get(dotted)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.fail(dotted, v, f"must be an integer {lo}-{hi}")
        return v

    def number(self, dotted: str, lo: float, hi: float) -> float:
        v = self.get(dotted)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            self.fail(dotted, v, f"must be a number {lo:g}-{hi:g}")
        return float(v)

    def list_of(self, dotted: str, kind: type) -> list:
        v = self.get(dotted)
        if not isinstance(v, list) or not all(isinstance(x, kind) for x in v):
            self.fail(dotted, v, f"must be a list of {kind.__name__}")
        return v


def _has(data: dict[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _network(r: _Reader, dotted: str, text: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(text, str):
        r.fail(dotted, text, "must be a CIDR string")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        r.fail(dotted, text, "is not a CIDR (e.g. 203.0.113.0/24)")
        raise AssertionError  # unreachable: fail raises


def _pools(r: _Reader) -> dict[str, tuple]:
    pools = {name: tuple(ipaddress.ip_network(c) for c in cidrs) for name, cidrs in BUILTIN_POOLS.items()}
    extra = r.get("pools")
    if not isinstance(extra, dict):
        r.fail("pools", extra, "must be a table NAME = [CIDR, ...]")
    for name, cidrs in extra.items():
        if not isinstance(cidrs, list) or not cidrs:
            r.fail(f"pools.{name}", cidrs, "must be a non-empty list of CIDRs")
        pools[name] = tuple(_network(r, f"pools.{name}", c) for c in cidrs)
    return pools


def _pool_ref(r: _Reader, dotted: str, pools: dict[str, tuple]) -> tuple[str, tuple]:
    v = r.get(dotted)
    if isinstance(v, str):
        if v not in pools:
            r.fail(dotted, v, f"unknown pool (known: {', '.join(sorted(pools))}; or a list of CIDRs)")
        return v, pools[v]
    if isinstance(v, list) and v:
        return "custom", tuple(_network(r, dotted, c) for c in v)
    r.fail(dotted, v, "must be a pool name or a non-empty list of CIDRs")
    raise AssertionError


def _versions(r: _Reader) -> tuple[tuple[str, float], ...]:
    v = r.get("browser.versions")
    if not isinstance(v, dict) or not v:
        r.fail("browser.versions", v, 'must be a table VERSION = WEIGHT, e.g. { "156" = 1.0 }')
    out = []
    for version, weight in v.items():
        if not version.isdigit():
            r.fail(f"browser.versions.{version}", version, "version must be a number")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            r.fail(f"browser.versions.{version}", weight, "weight must be a number > 0")
        out.append((version, float(weight)))
    return tuple(out)


def _interfaces(r: _Reader) -> tuple[InterfaceSpec, ...]:
    v = r.get("network.interfaces")
    if not isinstance(v, list):
        r.fail("network.interfaces", v, "must be a list of tables")
    out = []
    for n, item in enumerate(v):
        where = f"network.interfaces[{n}]"
        if not isinstance(item, dict):
            r.fail(where, item, "must be a table {name, type, cidr}")
        for key in item:
            if key not in ("name", "type", "cidr"):
                r.fail(f"{where}.{key}", item[key], "unknown field (known: name, type, cidr)")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            r.fail(f"{where}.name", name, "must be a non-empty string")
        kind = item.get("type", "unknown")
        if kind not in ADAPTER_TYPES or kind == "loopback":
            r.fail(f"{where}.type", kind, "must be one of ethernet, wifi, cellular, vpn, unknown")
        cidr = _network(r, f"{where}.cidr", item.get("cidr"))
        if cidr.num_addresses < 4 and cidr.version == 4:
            r.fail(f"{where}.cidr", str(cidr), "must hold at least 4 addresses")
        out.append(InterfaceSpec(name, kind, cidr))
    return tuple(out)


# -- the library ------------------------------------------------------------------------

def library_paths(directory: Path | None = None) -> list[Path]:
    return sorted((directory or library_dir()).glob("*.toml"))


def load_library(directory: Path | None = None) -> dict[str, Profile]:
    """Every profile of the library by name; a duplicate name is an error."""
    out: dict[str, Profile] = {}
    for path in library_paths(directory):
        p = load_profile(path)
        if p.name in out:
            raise ProfileError(str(path), "name", p.name, f"also used by {out[p.name].source}")
        out[p.name] = p
    return out


def select_profiles(spec: str, library: dict[str, Profile]) -> list[tuple[Profile, float]]:
    """`--profiles SPEC`: names, globs, paths to .toml files, each optionally `=WEIGHT`,
    comma-separated. A glob's matches share its weight equally."""
    chosen: dict[str, tuple[Profile, float]] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        pattern, sep, weight_text = part.partition("=")
        weight = 1.0
        if sep:
            try:
                weight = float(weight_text)
            except ValueError:
                weight = -1.0
            if not weight > 0:
                raise ProfileError("--profiles", "weight", part, "must be NAME=WEIGHT with a weight > 0")
        if pattern.endswith(".toml"):
            matches = [load_profile(pattern)]
        else:
            matches = [library[n] for n in sorted(library) if fnmatch.fnmatchcase(n, pattern)]
        if not matches:
            raise ProfileError("--profiles", "name", pattern, f"no profile matches (see `icesim profiles list`)")
        for p in matches:
            chosen[p.name] = (p, weight / len(matches) if "*" in pattern or "?" in pattern else weight)
    if not chosen:
        raise ProfileError("--profiles", "spec", spec, "selects no profile")
    return list(chosen.values())
