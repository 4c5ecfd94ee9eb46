"""What each session of a dataset is, drawn from its profile: pure code, no sockets.

A session is fully decided by (dataset seed, session index, the weighted profile list): which
profile, browser version, user agent, interface addresses, public addresses, the address the web
server sees, the RTT. The same inputs give the same plans, whatever worker runs them.
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
import random
from dataclasses import dataclass

from ..config import Interface, IPAddress
from ..profiles import Profile

# The user agent a profile claims when it does not give one (current stable strings).
_UA = {
    ("chrome", "windows"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    ("chrome", "macos"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    ("chrome", "linux"): "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    ("chrome", "chromeos"): "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    ("chrome", "android"): "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
    ("chrome", "ios"): "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/{v}.0.0.0 Mobile/15E148 Safari/604.1",
    ("firefox", "windows"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    ("firefox", "macos"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    ("firefox", "linux"): "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    ("firefox", "android"): "Mozilla/5.0 (Android 14; Mobile; rv:{v}.0) Gecko/{v}.0 Firefox/{v}.0",
    ("safari", "macos"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v}.0 Safari/605.1.15",
    ("safari", "ios"): "Mozilla/5.0 (iPhone; CPU iPhone OS {v}_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v}.0 Mobile/15E148 Safari/604.1",
}


@dataclass(frozen=True, slots=True)
class SessionPlan:
    index: int
    session_id: str
    seed: int
    profile: Profile
    browser_version: str
    user_agent: str
    interfaces: tuple[Interface, ...]
    public_v4: str | None  # what the STUN server sees (srflx); None = no IPv4 network
    public_v6: str | None
    web_address: str  # what the page's web server sees in the HTTP request
    rtt_ms: float


def session_seed(dataset_seed: int, index: int) -> int:
    """A 63-bit seed per session, independent of every other session's."""
    digest = hashlib.blake2b(f"icesim-dataset|{dataset_seed}|{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class ProfileMix:
    """Weighted profile choice by cumulative weights (bisect: O(log n) per session)."""

    def __init__(self, weighted: list[tuple[Profile, float]]) -> None:
        self.profiles = [p for p, _ in weighted]
        total = sum(w for _, w in weighted)
        acc, self._cum = 0.0, []
        for _, w in weighted:
            acc += w / total
            self._cum.append(acc)

    def pick(self, u: float) -> Profile:
        return self.profiles[min(bisect.bisect_right(self._cum, u), len(self.profiles) - 1)]


def plan_session(mix: ProfileMix, dataset_seed: int, index: int) -> SessionPlan:
    seed = session_seed(dataset_seed, index)
    rng = random.Random(seed)
    p = mix.pick(rng.random())
    versions = [v for v, _ in p.versions]
    version = rng.choices(versions, weights=[w for _, w in p.versions])[0]
    ua = p.user_agent or _UA.get((p.browser, p.os), _UA[("chrome", "windows")]).format(v=version)
    interfaces, seen = [], set()
    for spec in p.interfaces:
        addr = draw_address(rng, spec.cidr)
        interfaces.append(Interface(spec.name, addr, spec.adapter_type, default=spec.family not in seen))
        seen.add(spec.family)
    v4 = next((i.address for i in interfaces if i.family == 4), None)
    v6 = next((i.address for i in interfaces if i.family == 6), None)
    if p.nat == "none":
        public_v4 = str(v4) if v4 is not None else None
    else:
        pool4 = [n for n in p.public_pool if n.version == 4]
        public_v4 = str(draw_address(rng, rng.choice(pool4))) if v4 is not None and pool4 else None
    # IPv6 homes are not NATed: the STUN server sees the interface's own global address.
    public_v6 = str(v6) if v6 is not None else None
    if p.web_address == "proxy":
        proxy4 = [n for n in p.proxy_pool if n.version == 4] or list(p.proxy_pool)
        web = str(draw_address(rng, rng.choice(proxy4)))
    else:
        web = public_v4 or public_v6 or str(draw_address(rng, rng.choice(p.public_pool)))
    spread = rng.lognormvariate(0.0, p.rtt_sigma) if p.rtt_sigma else 1.0  # drawn always: same stream either way
    rtt = p.rtt_ms if p.timing == "regular" else p.rtt_ms * spread
    return SessionPlan(
        index=index, session_id=f"{dataset_seed}-{index}", seed=seed, profile=p, browser_version=version,
        user_agent=ua, interfaces=tuple(interfaces), public_v4=public_v4, public_v6=public_v6,
        web_address=web, rtt_ms=round(rtt, 3),
    )


def draw_address(rng: random.Random, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> IPAddress:
    """A host address of the network: never its network or broadcast address."""
    size = net.num_addresses
    if size <= 2:
        return net.network_address
    offset = rng.randrange(1, size - 1) if size < (1 << 62) else rng.getrandbits(min(net.max_prefixlen - net.prefixlen, 64)) | 1
    return net.network_address + offset
