"""The lab's topologies as pure data: namespaces, veth links, addresses, routes, nftables rules.

Address plan (only ranges that exist solely inside the lab's private namespaces; never the
machine's own uplink 192.0.2.0/24 or fd00::/64):

* 203.0.113.0/24 — the "internet" the home routers see; `public` is 203.0.113.1 (coturn).
* 198.51.100.0/24 — a second public segment (the VPN provider's exit).
* 100.64.0.0/24 — the carrier-grade NAT's middle (RFC 6598 shared space).
* 192.168.1.0/24, 10.20.0.0/24, 10.8.0.0/24 — home LAN, corporate LAN, VPN tunnel.
* 2001:db8:1::/64 (LAN), 2001:db8:ff::/64 (WAN), fd12:3456:789a:1::/64 (ULA) — IPv6.

Every topology has a `client` namespace (where the gather runs) and a `public` namespace
(coturn on 203.0.113.1 and .2, ports 3478 and 443, UDP and TCP; user test, credential
secret, realm icesim; relays from 203.0.113.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PUBLIC_IP = "203.0.113.1"
PUBLIC_IP2 = "203.0.113.2"
PUBLIC_IP6 = "2001:db8:ff::1"
TURN_USER, TURN_PASSWORD, TURN_REALM = "test", "secret", "icesim"
STUN_PORT, ALT_PORT = 3478, 443


@dataclass(frozen=True)
class Veth:
    """A veth pair created directly inside two namespaces (nothing in the machine's own)."""

    a: str
    a_dev: str
    b: str
    b_dev: str


@dataclass(frozen=True)
class Namespace:
    """One network namespace: addresses as (device, CIDR), routes and rules in `ip` syntax."""

    name: str
    addresses: tuple[tuple[str, str], ...] = ()
    routes: tuple[str, ...] = ()  # `ip route add ...` arguments (the family follows the gateway)
    rules: tuple[str, ...] = ()  # `ip rule add ...` arguments (policy routing)
    sysctls: tuple[str, ...] = ()  # key=value
    nft: str = ""  # an nftables ruleset, loaded with `nft -f -`


@dataclass(frozen=True)
class Topology:
    name: str
    summary: str
    expect: str  # what a gather with the default servers shows
    namespaces: tuple[Namespace, ...]
    links: tuple[Veth, ...]
    servers: tuple[str, ...]  # default `icesim gather` server options for this lab
    coturn_ips: tuple[str, ...] = (PUBLIC_IP, PUBLIC_IP2)
    notes: tuple[str, ...] = field(default=())

    def namespace(self, name: str) -> Namespace:
        for ns in self.namespaces:
            if ns.name == name:
                return ns
        raise KeyError(name)


# -- building blocks --------------------------------------------------------------------

FORWARD4 = "net.ipv4.ip_forward=1"
FORWARD6 = "net.ipv6.conf.all.forwarding=1"


def masquerade(out_dev: str, how: str = "") -> str:
    """Source NAT to the outgoing address. Linux masquerade keeps the source port when it is
    free (endpoint-independent mapping); `random`/`fully-random` pick a new port per flow."""
    action = f"masquerade {how}".strip()
    return (
        "table ip icesim_nat {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f"    oifname \"{out_dev}\" {action}\n"
        "  }\n"
        "}\n"
    )


def forward_filter(*rules: str, policy: str = "accept") -> str:
    body = "".join(f"    {r}\n" for r in rules)
    return (
        "table inet icesim_filter {\n"
        "  chain forward {\n"
        f"    type filter hook forward priority filter; policy {policy};\n"
        f"{body}"
        "  }\n"
        "}\n"
    )


def public(*extra_addresses: tuple[str, str], routes: tuple[str, ...] = ()) -> Namespace:
    """coturn's namespace. Its second address makes coturn open its alternative port (443) too
    (RFC 5780 needs two addresses), a real second listener rather than a port redirect, which
    would remap clients whose one socket talks to both ports."""
    return Namespace("public", addresses=(("eth0", f"{PUBLIC_IP}/24"), ("eth0", f"{PUBLIC_IP2}/24"), *extra_addresses),
                     routes=routes)


def home_client(lan_ip: str = "192.168.1.10", gateway: str = "192.168.1.1") -> Namespace:
    return Namespace("client", addresses=(("eth0", f"{lan_ip}/24"),), routes=(f"default via {gateway}",))


def home_router(nft: str, wan: str = "203.0.113.10/24", name: str = "router",
                wan_gateway: str | None = None) -> Namespace:
    routes = (f"default via {wan_gateway}",) if wan_gateway else ()
    return Namespace(name, addresses=(("lan0", "192.168.1.1/24"), ("wan0", wan)), routes=routes,
                     sysctls=(FORWARD4,), nft=nft)


HOME_LINKS = (Veth("client", "eth0", "router", "lan0"), Veth("router", "wan0", "public", "eth0"))
STUN = f"--stun=stun:{PUBLIC_IP}:{STUN_PORT}"
STUN_443 = f"--stun=stun:{PUBLIC_IP}:{ALT_PORT}"
TURN_UDP = f"--turn=turn:{PUBLIC_IP}:{STUN_PORT}?transport=udp"
TURN_TCP_443 = f"--turn=turn:{PUBLIC_IP}:{ALT_PORT}?transport=tcp"
CREDENTIALS = (f"--username={TURN_USER}", f"--credential={TURN_PASSWORD}")
BASE_SERVERS = (STUN, TURN_UDP, *CREDENTIALS)
ALL_SERVERS = (STUN, TURN_UDP, TURN_TCP_443, *CREDENTIALS)


# -- the topologies -----------------------------------------------------------------------

TOPOLOGIES: dict[str, Topology] = {t.name: t for t in (
    Topology(
        "home-nat", "client 192.168.1.10 behind a home router (masquerade to 203.0.113.10)",
        "srflx 203.0.113.10 with the host's port (endpoint-independent, port-preserving); relay 203.0.113.1",
        (home_client(), home_router(masquerade("wan0")), public()), HOME_LINKS, BASE_SERVERS,
    ),
    Topology(
        "symmetric-nat", "home router with `masquerade fully-random`: a new port per destination",
        "one srflx per STUN server, each with a different mapped port",
        (home_client(), home_router(masquerade("wan0", "fully-random")), public()), HOME_LINKS,
        (STUN, STUN_443, TURN_UDP, *CREDENTIALS),
    ),
    Topology(
        "cgnat", "home NAT (to 100.64.0.10) behind a carrier NAT (snat to 203.0.113.20:40000-40999)",
        "srflx 203.0.113.20 with a port in 40000-40999 (the carrier's mapping)",
        (
            home_client(),
            home_router(masquerade("wan0"), wan="100.64.0.10/24", name="home", wan_gateway="100.64.0.1"),
            Namespace("cgn", addresses=(("inside0", "100.64.0.1/24"), ("wan0", "203.0.113.20/24")),
                      sysctls=(FORWARD4,), nft=(
                          "table ip icesim_nat {\n"
                          "  chain postrouting {\n"
                          "    type nat hook postrouting priority srcnat; policy accept;\n"
                          "    oifname \"wan0\" meta l4proto { tcp, udp } snat to 203.0.113.20:40000-40999\n"
                          "    oifname \"wan0\" snat to 203.0.113.20\n"
                          "  }\n"
                          "}\n")),
            public(),
        ),
        (Veth("client", "eth0", "home", "lan0"), Veth("home", "wan0", "cgn", "inside0"),
         Veth("cgn", "wan0", "public", "eth0")),
        BASE_SERVERS,
    ),
    Topology(
        "datacenter", "a server with a public address (203.0.113.50), no NAT",
        "host 203.0.113.50; the srflx equals the host address",
        (Namespace("client", addresses=(("eth0", "203.0.113.50/24"),), routes=(f"default via {PUBLIC_IP}",)),
         public()),
        (Veth("client", "eth0", "public", "eth0"),), BASE_SERVERS,
    ),
    Topology(
        "vpn", "LAN (192.168.1.10 via a home NAT) plus a VPN interface tun0 (10.8.0.2) that holds the "
        "default route; its exit NATs to 198.51.100.10; policy routing keeps LAN-sourced traffic on eth0",
        "srflx 198.51.100.10 (the VPN exit) by default; with --permission also 203.0.113.10 from eth0",
        (
            Namespace("client", addresses=(("eth0", "192.168.1.10/24"), ("tun0", "10.8.0.2/24")),
                      routes=("default via 10.8.0.1 dev tun0", "default via 192.168.1.1 dev eth0 table 100"),
                      rules=("from 192.168.1.10 lookup 100 priority 100",)),
            home_router(masquerade("wan0")),
            Namespace("vpn", addresses=(("tun0", "10.8.0.1/24"), ("wan0", "198.51.100.10/24")),
                      routes=("default via 198.51.100.1",), sysctls=(FORWARD4,), nft=masquerade("wan0")),
            public(("eth1", "198.51.100.1/24")),
        ),
        (*HOME_LINKS, Veth("client", "tun0", "vpn", "tun0"), Veth("vpn", "wan0", "public", "eth1")),
        BASE_SERVERS,
        notes=("the tunnel is a veth: encapsulation over eth0 is not modelled",),
    ),
    Topology(
        "dual-stack", "IPv4 home NAT beside IPv6: a global 2001:db8:1::10 and a ULA fd12:3456:789a:1::10",
        "srflx 203.0.113.10 (IPv4); IPv6 host addresses reach the IPv6 STUN server unNATed",
        (
            Namespace("client", addresses=(("eth0", "192.168.1.10/24"), ("eth0", "2001:db8:1::10/64"),
                                           ("eth0", "fd12:3456:789a:1::10/64")),
                      routes=("default via 192.168.1.1", "default via 2001:db8:1::1")),
            Namespace("router", addresses=(("lan0", "192.168.1.1/24"), ("lan0", "2001:db8:1::1/64"),
                                           ("lan0", "fd12:3456:789a:1::1/64"), ("wan0", "203.0.113.10/24"),
                                           ("wan0", "2001:db8:ff::10/64")),
                      sysctls=(FORWARD4, FORWARD6), nft=masquerade("wan0")),
            public(("eth0", f"{PUBLIC_IP6}/64"), routes=("2001:db8:1::/64 via 2001:db8:ff::10",)),
        ),
        HOME_LINKS, (STUN, f"--stun=stun:[{PUBLIC_IP6}]:{STUN_PORT}", TURN_UDP, *CREDENTIALS),
        coturn_ips=(PUBLIC_IP, PUBLIC_IP2, PUBLIC_IP6),
        notes=("the ULA is not routed beyond the router, as on a real ISP",),
    ),
    Topology(
        "udp-blocked", "home NAT whose router drops all forwarded UDP",
        "host only; 701 `STUN binding request timed out.` for STUN and TURN/UDP; relay over TURN/TCP 443",
        (home_client(), home_router(masquerade("wan0") + forward_filter("meta l4proto udp counter drop")),
         public()), HOME_LINKS, ALL_SERVERS,
    ),
    Topology(
        "udp-rejected", "home NAT whose router rejects forwarded UDP with ICMP port unreachable",
        "as udp-blocked: unconnected UDP sockets never see the ICMP, so the page sees 701 timeouts",
        (home_client(), home_router(masquerade("wan0") + forward_filter("meta l4proto udp counter reject")),
         public()), HOME_LINKS, ALL_SERVERS,
    ),
    Topology(
        "corporate", "corporate LAN 10.20.0.10 behind a firewall: only TCP 443 out (then NAT to 203.0.113.30)",
        "host only; 701s for STUN and TURN/UDP; relay over TURN/TCP on 443 only",
        (
            home_client("10.20.0.10", "10.20.0.1"),
            Namespace("router", addresses=(("lan0", "10.20.0.1/24"), ("wan0", "203.0.113.30/24")),
                      sysctls=(FORWARD4,),
                      nft=masquerade("wan0") + forward_filter(
                          "ct state established,related accept",
                          "iifname \"lan0\" oifname \"wan0\" tcp dport 443 accept",
                          "counter drop", policy="drop")),
            public(),
        ),
        HOME_LINKS, ALL_SERVERS,
    ),
    Topology(
        "lossy", "home NAT whose router drops 20% of forwarded packets at random (nftables numgen)",
        "as home-nat, after STUN retransmissions; sometimes a 701 when every try is lost",
        (home_client(), home_router(masquerade("wan0") + forward_filter("numgen random mod 100 < 20 counter drop")),
         public()), HOME_LINKS, BASE_SERVERS,
        notes=("loss only: this kernel has no netem, so there is no added delay or jitter",),
    ),
)}


def get_topology(name: str) -> Topology:
    from ..config import ConfigError

    try:
        return TOPOLOGIES[name]
    except KeyError:
        raise ConfigError("TOPOLOGY", name, f"unknown; one of {', '.join(TOPOLOGIES)}") from None
