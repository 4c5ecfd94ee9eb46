"""What the runner tells each side, checked without starting anything: both sides get the same
servers and flags (the suite's premise), the gateway's rules do what the scenario says, and a
machine without namespaces gets a reason, not a crash."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

import runner
from scenarios import SCENARIOS, by_name


def _page_config(argv: list[str]) -> dict:
    query = parse_qs(urlparse(argv[-1]).query)
    return {"cfg": json.loads(query["cfg"][0]), "perm": query["perm"][0]}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_both_sides_get_the_same_servers(scenario, tmp_path):
    page = _page_config(runner.browser_argv("chrome", scenario, tmp_path / "p"))
    urls = [u for s in page["cfg"]["iceServers"] for u in s["urls"]]
    argv = runner.icesim_argv("chrome", scenario)
    given = [argv[i + 1] for i, a in enumerate(argv) if a in ("--stun", "--turn") and argv[i + 1] != "none"]
    assert given == urls
    for server in page["cfg"]["iceServers"]:
        if "username" in server:
            assert argv[argv.index("--username") + 1] == server["username"]
            assert argv[argv.index("--credential") + 1] == server["credential"]
    assert ("--permission" in argv) == scenario.permission == (page["perm"] == "1")
    assert ("--no-mdns" in argv) == (not scenario.mdns)
    policy = page["cfg"].get("iceTransportPolicy", "all")
    assert policy == scenario.ice_transport_policy
    assert (policy == "relay") == ("--ice-transport-policy" in argv and argv[argv.index("--ice-transport-policy") + 1] == "relay")


def test_browser_flags_follow_the_scenario(tmp_path):
    chrome = runner.browser_argv("chrome", by_name("permission"), tmp_path / "c")
    assert "--use-fake-ui-for-media-stream" in chrome and "--no-sandbox" in chrome
    rules = next(a for a in chrome if a.startswith("--host-resolver-rules="))
    # MAP * would also catch the servers' IP literals (TURN/TCP connects through the resolver).
    assert "MAP * ~NOTFOUND" in rules and "EXCLUDE 203.0.113.2" in rules
    nx = runner.browser_argv("chrome", by_name("nxdomain"), tmp_path / "n")
    assert "MAP nx.test ~NOTFOUND" in next(a for a in nx if a.startswith("--host-resolver-rules="))
    assert "--resolve" in runner.icesim_argv("chrome", by_name("nxdomain"))
    assert "--disable-features=WebRtcHideLocalIpsWithMdns" in runner.browser_argv("chrome", by_name("mdns_off"), tmp_path / "m")
    runner.browser_argv("firefox", by_name("mdns_off"), tmp_path / "f")
    prefs = (tmp_path / "f" / "user.js").read_text()
    assert 'user_pref("media.peerconnection.ice.obfuscate_host_addresses", false);' in prefs


def test_gateway_rules():
    dropped = runner.Lab.nft_rules(by_name("stun_dropped"))
    assert "ip daddr 203.0.113.2 udp dport 3478 drop" in dropped and "masquerade random" in dropped
    routed = runner.Lab.nft_rules(by_name("stun"))
    assert "masquerade" not in routed and "drop" not in routed


def test_no_root_is_a_reason_to_skip(monkeypatch):
    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    assert "root" in runner.unavailable_reason()
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    assert "not installed" in runner.browser_missing("firefox")
