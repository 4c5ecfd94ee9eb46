"""Every repro case, one module each, in the order `--list` shows them (the issue's order)."""

from __future__ import annotations

from ..model import Case
from . import (
    corporate_firewall, proxy_udp_blocked, stun_closed_port, stun_dns_failure, stun_error_response,
    stun_error_response_500, stun_no_aaaa, stun_udp_blocked, turn_bad_credentials, turn_disallowed_port,
    turn_dns_failure, turn_no_credentials, turn_tcp_refused, turn_udp_unreachable, webrtc_disabled_policy,
)

ALL_CASES: tuple[Case, ...] = tuple(m.CASE for m in (
    stun_udp_blocked, stun_closed_port, stun_dns_failure, stun_no_aaaa, turn_udp_unreachable,
    turn_tcp_refused, turn_dns_failure, proxy_udp_blocked, corporate_firewall, webrtc_disabled_policy,
    turn_bad_credentials, turn_no_credentials, stun_error_response, stun_error_response_500,
    turn_disallowed_port,
))
