"""Detector (b)'s address rules, run in Node: which tokens of a candidate line are IP addresses,
which count as public, and how they compare with the web server's address (by family)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from detectors_support import IP_MISMATCH

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (make test installs it)")

SCRIPT = """
import { addressesInCandidate, compareWithWebAddress } from %s;
const cases = JSON.parse(process.argv[1]);
const out = cases.map(([lines, web]) => {
  const harvested = lines.flatMap(addressesInCandidate);
  return { ips: harvested.map((ip) => ip.text), verdict: compareWithWebAddress(harvested, web) };
});
console.log(JSON.stringify(out));
"""


def run(cases: list[tuple[list[str], str | None]]) -> list[dict]:
    script = SCRIPT % json.dumps(IP_MISMATCH.as_uri())
    done = subprocess.run(["node", "--input-type=module", "-e", script, json.dumps(cases)],
                          capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


CHROME_SRFLX = "candidate:1231420733 1 udp 1677729535 203.0.113.7 47893 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag g4qA network-cost 999"
CHROME_HOST_MDNS = "candidate:2488572228 1 udp 2113937151 93983dad-78f0-4472-86ea-93ebe2e1a49a.local 57573 typ host generation 0 ufrag CzdP network-cost 999"
CHROME_SRFLX_V6 = "candidate:1494794479 1 udp 1677732095 2001:db8:100:1:a6b:3300:d661:6639 43873 typ srflx raddr :: rport 0 generation 0 ufrag iAQC network-cost 999"
FIREFOX_SRFLX = "candidate:1 1 UDP 1686052863 203.0.113.14 44971 typ srflx raddr 0.0.0.0 rport 0"
PERMISSION_HOST = "candidate:3 1 udp 2122260223 192.168.1.23 50000 typ host generation 0 ufrag x network-id 1"
SRFLX_WITH_RADDR = "candidate:4 1 udp 1686052607 198.51.100.9 50001 typ srflx raddr 10.8.0.5 rport 50000 generation 0"


def test_harvests_addresses_not_names_masks_or_foundations() -> None:
    out = run([([CHROME_HOST_MDNS], None), ([CHROME_SRFLX], None), ([CHROME_SRFLX_V6], None),
               ([FIREFOX_SRFLX], None), ([SRFLX_WITH_RADDR], None),
               (["candidate:5 1 udp 1 2001:DB8::1 9 typ host", "candidate:6 1 udp 1 1:2:3:4:5:6:7:8:9 9 typ host",
                 "candidate:7 1 udp 1 256.1.1.1 9 typ host", "candidate:8 1 udp 1 ::ffff:203.0.113.4 9 typ host"], None)])
    assert [o["ips"] for o in out] == [
        [], ["203.0.113.7"], ["2001:db8:100:1:a6b:3300:d661:6639"], ["203.0.113.14"], ["198.51.100.9", "10.8.0.5"],
        ["2001:db8::1", "::ffff:203.0.113.4"],
    ]


@pytest.mark.parametrize(("lines", "web", "reason", "bot"), [
    ([CHROME_HOST_MDNS, CHROME_SRFLX], "203.0.113.7", "IP_MATCH", False),
    ([CHROME_HOST_MDNS, CHROME_SRFLX], "198.51.100.50", "IP_MISMATCH", True),
    ([CHROME_SRFLX, CHROME_SRFLX_V6], "203.0.113.7", "IP_MATCH", False),          # dual stack: v6 not compared
    ([CHROME_SRFLX_V6], "203.0.113.7", "NO_COMPARABLE_IP", False),
    ([CHROME_SRFLX_V6], "2001:db8:100:1:a6b:3300:d661:6639", "IP_MATCH", False),
    ([CHROME_SRFLX_V6], "2001:0db8:0100:0001:0a6b:3300:d661:6639", "IP_MATCH", False),  # same address, other spelling
    ([CHROME_HOST_MDNS], "203.0.113.7", "NO_PUBLIC_IP", False),
    ([PERMISSION_HOST], "203.0.113.7", "NO_PUBLIC_IP", False),                   # private hosts are no evidence
    ([PERMISSION_HOST, SRFLX_WITH_RADDR], "198.51.100.9", "IP_MATCH", False),
    ([CHROME_SRFLX], None, "NO_WEB_ADDRESS", False),
])
def test_compares_public_addresses_of_the_web_address_family(lines, web, reason, bot) -> None:
    verdict = run([(lines, web)])[0]["verdict"]
    assert (verdict["reason"], verdict["isBot"]) == (reason, bot)
