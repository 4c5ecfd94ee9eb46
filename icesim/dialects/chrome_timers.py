"""Chrome's timers in browser time: every value is measured in a Chromium 156 capture
(shared/captures S1-S8, tests/data/chromium156) or read from libwebrtc, as each comment says."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChromeTimers:
    """Browser-time constants, measured in the Chromium 156 captures unless noted."""

    # setLocalDescription -> "gathering": 19-41 ms after the page's t0 in S1-S8.
    gathering_after_ms: tuple[float, float] = (19.0, 41.0)
    # Allocation phases (p2p/client/basic_port_allocator.cc kAllocatorStepDelay = 50 ms).
    relay_phase_ms: float = 50.0
    # "complete" 121-142 ms after "gathering" when nothing is pending (S1, S2, S3a, S3d, S7).
    sequences_done_ms: tuple[float, float] = (120.0, 130.0)
    # After the last port finishes: ~4 ms after a 701 (S5); ~60 ms after a TURN relay (S8).
    complete_after_port_ms: tuple[float, float] = (3.0, 5.0)
    # A UDP TURN port settles ~60 ms after its relay candidate: complete (or the TCP active
    # candidates) follow then (S8 +61.7, G +60.1, B2 +63.1); TCP/TLS relays do not (G).
    relay_settle_ms: tuple[float, float] = (58.0, 64.0)
    complete_after_relay_ms: tuple[float, float] = (0.05, 0.3)
    null_after_complete_ms: tuple[float, float] = (0.2, 1.0)
    # mDNS name registration delays the host candidate (S7: srflx 9 ms before its host).
    mdns_register_ms: tuple[float, float] = (1.0, 12.0)
    # STUN retransmissions (p2p/base/stun_request.cc): RTO 250 ms doubling, cap 8 s, 9 sends.
    rto_ms: float = 250.0
    rto_cap_ms: float = 8000.0
    sends: int = 9
    # Timer slack per retransmission: S5 gaps 257, 516, 1013, 2017, 4017, 8014, 8015, 8016 and
    # the 701 39.87 s after the first send (nominal 39.75 s).
    timer_late_ms: tuple[float, float] = (10.0, 18.0)
    # TURN port set-up before its first Allocate: the TURN 701 follows the STUN 701 by ~60 ms
    # (captures README), 50 ms of which is the relay phase.
    turn_setup_ms: tuple[float, float] = (9.0, 14.0)
    # Name lookups through Chrome's host resolver (capture F: srflx for a name ~2 ms after the
    # host; E: the host-lookup 701 comes 0.2-6 ms after the same socket's host candidate).
    dns_lookup_ms: tuple[float, float] = (0.5, 6.5)
    dns_error_after_host_ms: tuple[float, float] = (0.1, 0.7)
    # A later mDNS registration (the IPv6 host) queues behind a pending name lookup: E shows
    # host6 0.1 and 2.6 ms after the IPv4 host-lookup 701, F 6.0 ms vs the lookup <= 6.5 ms.
    host_after_lookup_ms: tuple[float, float] = (0.1, 2.6)
    # TCP active candidates close the sequence: +125-131 ms, complete 0.1-0.2 ms after the
    # last one (captures B1/B2 with permission).
    tcp_gap_ms: tuple[float, float] = (0.1, 4.0)
    tcp_waits_for_relays: bool = True
    # STUN/TURN transactions start with the host candidates, not after the TCP ones (S3a: srflx
    # ~1 ms after gathering; TCP active candidates come at the end of the sequence).
    transactions_after_tcp_hosts: bool = False
    complete_after_tcp_ms: tuple[float, float] = (0.1, 0.3)
    # complete 0.1 ms after an unreachable TURN server's 701 (capture D), ~4 ms after a STUN one (S5).
    complete_after_turn_error_ms: tuple[float, float] = (0.05, 0.3)
    # TURN over TCP/TLS to a private server: the error is held until gathering completes and
    # fires 0-0.2 ms before "complete" (capture C; a public server's fires at once).
    held_error_before_complete_ms: tuple[float, float] = (0.0, 0.2)
    # 437 allocation mismatch: a fresh socket and a new allocation, twice, ~263 ms apart
    # (capture S3_turn437: 6 Allocates, the 437 error at +596 ms).
    mismatch_retries: int = 2
    mismatch_retry_ms: tuple[float, float] = (258.0, 268.0)
    # STUN keepalive after a binding error response: the binding is re-sent and the error fires
    # again ~10 s later (S2_stun420: +25.0 -> +10028.7; Sx_stun401: +5.7 -> +10018.3).
    stun_keepalive_ms: tuple[float, float] = (10000.0, 10015.0)
    # Several transports (balanced/max-compat bundle policy): each starts its sequences a
    # little after the previous one (captures M1, M3, M5, M6: mid 1 hosts 0.4-3.5 ms after mid 0's).
    transport_gap_ms: tuple[float, float] = (0.4, 3.5)
    # A pooled session's candidates reach the page at setLocalDescription, 0.05-0.35 ms apart,
    # "gathering" right after them (captures Q1, Q2).
    pooled_gap_ms: tuple[float, float] = (0.05, 0.35)
    # disable_non_proxied_udp (no UDP port at all): "complete" 99-111 ms after "gathering"
    # when nothing else is pending (captures P3s +99.4, R_policy_no_udp +111).
    sequences_done_no_udp_ms: tuple[float, float] = (99.0, 112.0)
