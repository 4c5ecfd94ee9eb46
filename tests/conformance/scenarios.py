"""The conformance scenarios as pure data: which servers the page configures, what the lab
network does to packets, the page's flags, and what is random per connection in each browser
(the masks the comparison applies). No I/O here; tests/conformance/runner.py builds the lab.

Every scenario runs in a lab of its own (runner.Lab): the browser namespace (eth0 198.51.100.2/24
and 2001:db8:5::2/64, default routes via the gateway), a gateway namespace (198.51.100.1 inside,
203.0.113.1 outside; routing only, or `masquerade random` = a symmetric NAT) and a server
namespace where coturn listens on 203.0.113.2:3478 (test/secret, realm test). The browser and
icesim run side by side in the browser namespace, against the same servers, at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BROWSERS = ("chrome", "firefox")

# The lab's addresses (network rule: documentation ranges, only inside our namespaces).
CLIENT_V4 = "198.51.100.2"
CLIENT_V6 = "2001:db8:5::2"
GATEWAY_IN_V4 = "198.51.100.1"
GATEWAY_IN_V6 = "2001:db8:5::1"
GATEWAY_OUT_V4 = "203.0.113.1"
SERVER_V4 = "203.0.113.2"
SERVER_PORT = 3478
CLOSED_PORT = 3999  # nothing listens there: the server namespace answers ICMP port unreachable
USERNAME, PASSWORD = "test", "secret"

STUN = f"stun:{SERVER_V4}:{SERVER_PORT}"
TURN_UDP = f"turn:{SERVER_V4}:{SERVER_PORT}?transport=udp"
TURN_TCP = f"turn:{SERVER_V4}:{SERVER_PORT}?transport=tcp"

# What is random per connection in the real browser, and so masked on both sides:
#   ports      every port but 0 and 9 (host sockets, NAT mappings, coturn's relays), replaced by
#              symbols that keep their identity (a srflx on the host's port stays "host1")
#   mdns       the uuid4 .local names (one per host address)
#   ufrag      the ICE username fragment
#   foundation libwebrtc seeds foundations with a per-connection random value...
#   seeded_foundation ...except a relay over TCP: its foundation is CRC32("relay" + TURN server
#              IP + "udp" + "tcp" + "0"), the same on every connection (measured by this suite:
#              598655908 for 203.0.113.2 in every run, 1797656238 for 127.0.0.1 in capture G)
# Firefox foundations are indices in gathering order: not random, not masked.
MASKS = {
    "chrome": frozenset({"ports", "mdns", "ufrag", "seeded_foundation"}),
    "firefox": frozenset({"ports", "mdns", "ufrag"}),
}

# Pairs of event-label prefixes whose relative order is not a rule of the browser (compare.label
# names the events). Chrome: with mDNS on, a socket's srflx often arrives before its host
# candidate (captures README), and the IPv4 and IPv6 sockets run independently, so the IPv6 host
# candidate (its mDNS name registers late under load) may come after the IPv4 socket's results,
# and one socket's srflx may come before or after the other socket's error (capture F_stuntest:
# the IPv6 host-lookup 701 1.7 ms before the IPv4 srflx; this suite's stun_name: either way).
COMMUTING: dict[str, tuple[tuple[str, str], ...]] = {
    "chrome": (("host udp", "srflx"), ("host udp", "relay"), ("host udp", "error"), ("srflx", "error")),
    # Firefox: the IPv4 socket's srflx and the IPv6 socket's failed lookup of the same name
    # (tests/data/firefox/stun_name: the 701 1 ms first; this suite's stun_name: the srflx first).
    "firefox": (("srflx", "error"),),
}


@dataclass(frozen=True)
class Server:
    """One RTCIceServer entry (urls share the credentials, as in the page's config)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_js(self) -> dict:
        out: dict = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    servers: tuple[Server, ...] = ()
    nat: bool = False  # gateway masquerades (random ports: symmetric) instead of routing
    drop_udp_to: tuple[tuple[str, int], ...] = ()  # the gateway drops UDP to these
    mdns: bool = True
    permission: bool = False  # getUserMedia granted first (fake devices)
    # Name rules: Chromium --host-resolver-rules and icesim --resolve; None = NXDOMAIN. Firefox
    # uses the namespace's resolver: /etc/hosts gets the mapped names (an A record only), and
    # there is no DNS server, so every other name fails.
    resolve: tuple[tuple[str, str | None], ...] = ()
    ice_transport_policy: str = "all"  # RTCConfiguration.iceTransportPolicy
    # A browser timer of ~40 s (Chrome's dead STUN server) runs: started first, in parallel.
    long_timers: bool = False
    extra_masks: frozenset[str] = field(default_factory=frozenset)

    def masks(self, browser: str) -> frozenset[str]:
        return MASKS[browser] | self.extra_masks

    def ice_servers_js(self) -> list[dict]:
        return [s.to_js() for s in self.servers]

    def rtc_configuration(self) -> dict:
        cfg: dict = {"iceServers": self.ice_servers_js()}
        if self.ice_transport_policy != "all":
            cfg["iceTransportPolicy"] = self.ice_transport_policy
        return cfg

    @property
    def loopback_server(self) -> bool:
        """A server on 127.0.0.1: coturn runs in the browser namespace too."""
        return any(":127.0.0.1:" in u for s in self.servers for u in s.urls)

    def literal_hosts(self) -> list[str]:
        """The servers' IP-literal hosts (Chromium's --host-resolver-rules must EXCLUDE them:
        `MAP *` also catches literals, and TURN/TCP connects through the resolver)."""
        hosts = [u.split(":", 1)[1].rsplit(":", 1)[0] for s in self.servers for u in s.urls]
        return list(dict.fromkeys(h for h in hosts if h.replace(".", "").isdigit() or h.startswith("[")))


def _turn(*urls: str, credential: str = PASSWORD) -> Server:
    return Server(tuple(urls), USERNAME, credential)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("host_only", "no iceServers"),
    Scenario("mdns_off", "mDNS obfuscation off, STUN through the NAT (raddr shows the host)",
             servers=(Server((STUN,)),), nat=True, mdns=False),
    Scenario("permission", "getUserMedia granted, STUN", servers=(Server((STUN,)),), permission=True),
    Scenario("stun", "STUN, routed (srflx = host address)", servers=(Server((STUN,)),)),
    Scenario("stun_nat", "STUN through a symmetric NAT", servers=(Server((STUN,)),), nat=True),
    Scenario("stun_dropped", "STUN, UDP to it dropped at the gateway", servers=(Server((STUN,)),),
             nat=True, drop_udp_to=((SERVER_V4, SERVER_PORT),), long_timers=True),
    Scenario("closed_port", "STUN to a closed port (ICMP port unreachable)",
             servers=(Server((f"stun:{SERVER_V4}:{CLOSED_PORT}",)),), nat=True, long_timers=True),
    Scenario("nxdomain", "STUN by a name that does not resolve",
             servers=(Server(("stun:nx.test:3478",)),), resolve=(("nx.test", None),)),
    Scenario("turn_udp", "TURN over UDP through the NAT", servers=(_turn(TURN_UDP),), nat=True),
    Scenario("turn_tcp", "TURN over TCP through the NAT", servers=(_turn(TURN_TCP),), nat=True),
    Scenario("bad_credentials", "TURN over UDP, wrong password",
             servers=(_turn(TURN_UDP, credential="wrong"),), nat=True),
    Scenario("mixed", "STUN + TURN/UDP + TURN/TCP through the NAT",
             servers=(Server((STUN,)), _turn(TURN_UDP, TURN_TCP)), nat=True),
    Scenario("stun_name", "STUN by a name with an A record only (the IPv6 lookup fails)",
             servers=(Server((f"stun:stun.test:{SERVER_PORT}",)),), nat=True,
             resolve=(("stun.test", SERVER_V4),)),
    Scenario("turn_udp_dropped", "TURN over UDP, UDP to the server dropped at the gateway",
             servers=(_turn(TURN_UDP),), nat=True, drop_udp_to=((SERVER_V4, SERVER_PORT),), long_timers=True),
    Scenario("relay_only", "iceTransportPolicy relay: TURN/UDP and TURN/TCP through the NAT",
             servers=(Server((STUN,)), _turn(TURN_UDP, TURN_TCP)), nat=True, ice_transport_policy="relay"),
    Scenario("stun_loopback", "STUN on the browser's own loopback (Firefox refuses it)",
             servers=(Server((f"stun:127.0.0.1:{SERVER_PORT}",)),)),
)


def by_name(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)
