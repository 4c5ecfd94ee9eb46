"""IP address rules the browsers share: precedence, redaction, URI forms. Pure functions."""

from __future__ import annotations

import ipaddress

from .config import IPAddress

_6TO4 = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_6BONE = ipaddress.IPv6Network("3ffe::/16")
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")
_V4_COMPAT = ipaddress.IPv6Network("::/96")


def address_precedence(ip: IPAddress) -> int:
    """RFC 3484-bis precedence as libwebrtc computes it (rtc_base/ip_address.cc IPAddressPrecedence)."""
    if ip.version == 4:
        return 30
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip.is_loopback:
        return 60
    if ip in ipaddress.IPv6Network("fc00::/7"):
        return 50
    if ip.ipv4_mapped is not None:
        return 30
    if ip in _6TO4:
        return 20
    if ip in _TEREDO:
        return 10
    if (ip in _V4_COMPAT and not ip.is_unspecified) or ip in _SITE_LOCAL or ip in _6BONE:
        return 1
    return 40


_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fd00::/8",
))


def is_private_ip(ip: IPAddress) -> bool:
    """libwebrtc's IPIsPrivate (rtc_base/ip_address.cc): link-local, loopback, RFC 1918,
    shared (100.64/10) or fd00::/8. Not Python's is_private, which also counts the
    documentation ranges (capture C2: 203.0.113.2 is treated as public)."""
    return ip.is_link_local or ip.is_loopback or any(ip in n for n in _PRIVATE_NETS if n.version == ip.version)


def redact(ip: IPAddress) -> str:
    """Chrome's sensitive form (rtc_base/ip_address.cc ToSensitiveString): 192.168.1.x, [fd00:5:0:x:x:x:x:x].

    Captures: the any-address sockets show as "0.0.0.x" and "[0:0:0:x:x:x:x:x]".
    """
    if ip.version == 4:
        a, b, c, _ = str(ip).split(".")
        return f"{a}.{b}.{c}.x"
    hextets = ip.exploded.split(":")[:3]
    head = ":".join(format(int(h, 16), "x") for h in hextets)
    return f"[{head}:x:x:x:x:x]"


def uri_host(host: str) -> str:
    """An IPv6 literal goes in brackets in URLs and in Chrome's `address` attribute."""
    return f"[{host}]" if ":" in host else host


def parse_ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.strip("[]").split("%")[0])
