"""`icesim dataset --lab`, the pure part: which topology a profile runs in, refusals naming the
field, and the gather options of a lab session (the in-process mapping, through the gather's own
parser). The labs themselves: tests/lab/test_lab_dataset.py."""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from icesim.cli import build_config, gather_cmd
from icesim.dataset.build import DatasetOptions, build_dataset
from icesim.dataset.lab_network import (
    LAB_NETWORKS, LAB_STUN, check_lab_runnable, client_addresses, gather_args, lab_session, lab_topology,
)
from icesim.dataset.plan import ProfileMix, plan_session
from icesim.dataset.session import session_config, WorkerEnv
from icesim.dataset.nat import NatRegistry
from icesim.lab import TOPOLOGIES
from icesim.profiles import ProfileError, load_library, load_profile

REPO = Path(__file__).resolve().parents[2]

# The README's table, applied to the library.
EXPECTED = {
    "bot-chrome-ua-firefox-stream": "home-nat", "bot-fast-regular-timing": "home-nat",
    "bot-headless-chrome-datacenter": "datacenter", "bot-mobile-ua-home-router": "home-nat",
    "bot-policy-disable-non-proxied-udp": "home-nat", "bot-proxy-blocks-udp": "udp-blocked",
    "bot-residential-proxy-mismatch": "home-nat", "bot-stubbed-onicecandidate": "home-nat",
    "human-android-chrome-cgnat": "cgnat", "human-chrome-dualstack-ipv6-home": "dual-stack",
    "human-chrome-linux-home-ethernet": "home-nat", "human-chrome-macos-home-ethernet": "home-nat",
    "human-chrome-vpn-user": "vpn", "human-chrome-windows-home-wifi": "home-nat",
    "human-chrome-windows-symmetric-nat": "symmetric-nat", "human-corporate-udp-blocked": "udp-blocked",
    "human-creepjs-page-three-seconds": "home-nat", "human-firefox-windows-home": "home-nat",
    "human-ios-safari-cgnat": "cgnat", "human-ipv6-no-route": "dual-stack",
}


def _profile(tmp_path: Path, text: str, name: str = "p"):
    path = tmp_path / f"{name}.toml"
    path.write_text('label = "human"\n' + text)
    return load_profile(path)


def test_every_lab_topology_is_described_and_its_public_address_is_in_the_lab() -> None:
    assert set(LAB_NETWORKS) == set(TOPOLOGIES)
    for name, net in LAB_NETWORKS.items():
        addrs = {str(ipaddress.ip_interface(c).ip) for ns in TOPOLOGIES[name].namespaces if ns.name != "public"
                 for _, c in ns.addresses}
        assert net.public_v4 in addrs, name
        assert net.public_v6 is None or net.public_v6 in addrs, name


def test_library_profiles_map_to_the_nearest_topology_and_the_rest_are_refused_by_field() -> None:
    library = load_library()
    got, refused = {}, {}
    for name, p in library.items():
        if not p.needs_gather:
            continue
        try:
            check_lab_runnable(p)
            got[name] = lab_topology(p)
        except ProfileError as exc:
            refused[name] = exc
    assert got == EXPECTED
    assert set(refused) == {"bot-permission-granted-docker-bridges"}
    exc = refused["bot-permission-granted-docker-bridges"]
    assert exc.field_name.endswith(": network.interfaces") and "docker0" in str(exc.value)
    assert "home-nat" in exc.reason


def test_a_named_topology_wins_and_must_agree_with_the_profile(tmp_path: Path) -> None:
    p = _profile(tmp_path, '[network]\nnat = "symmetric"\ntopology = "symmetric-nat"\n')
    assert lab_topology(p) == "symmetric-nat"
    corporate = _profile(tmp_path, '[network]\nudp_blocked = true\ntopology = "corporate"\n', "c")
    assert lab_topology(corporate) == "corporate"
    with pytest.raises(ProfileError) as exc:
        lab_topology(_profile(tmp_path, '[network]\ntopology = "cgnat"\n', "x"))  # nat defaults to eim
    assert exc.value.field_name.endswith("x.toml: network.nat") and exc.value.value == "eim"
    assert "'cgnat'" in exc.value.reason
    with pytest.raises(ProfileError) as exc:
        lab_topology(_profile(tmp_path, '[network]\ntopology = "udp-blocked"\n', "y"))
    assert exc.value.field_name.endswith(": network.udp_blocked")


def test_unmappable_networks_are_refused_naming_the_field(tmp_path: Path) -> None:
    v6_only = _profile(tmp_path, '[network]\ninterfaces = [{ name = "e", type = "ethernet", cidr = "2001:db8:5::/64" }]\n')
    with pytest.raises(ProfileError) as exc:
        check_lab_runnable(v6_only)
    assert exc.value.field_name.endswith(": network.interfaces")
    vpn_symmetric = _profile(tmp_path, '[network]\nnat = "symmetric"\ninterfaces = [{ name = "t", type = "vpn", cidr = "10.8.0.0/24" }]\n', "v")
    with pytest.raises(ProfileError, match="network.nat"):
        check_lab_runnable(vpn_symmetric)
    many = _profile(tmp_path, "[page]\nstun_servers = 5\n", "m")
    with pytest.raises(ProfileError, match="page.stun_servers"):
        check_lab_runnable(many)
    tls = _profile(tmp_path, '[page]\nturn = ["tls"]\n', "t")
    with pytest.raises(ProfileError, match="page.turn"):
        check_lab_runnable(tls)
    check_lab_runnable(_profile(tmp_path, '[page]\nturn = ["udp", "tcp"]\n', "ok"))  # the lab's coturn serves TURN


def test_unknown_topology_is_one_line_naming_file_field_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('label = "bot"\n[network]\ntopology = "moon"\n')
    done = subprocess.run([sys.executable, "-m", "icesim", "profiles", "validate", str(path)], capture_output=True,
                          text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert str(path) in done.stderr and "network.topology 'moon'" in done.stderr and "home-nat" in done.stderr


def test_vpn_client_lists_the_default_route_interface_first() -> None:
    addrs = client_addresses(TOPOLOGIES["vpn"])
    assert [(d, str(i.ip)) for d, i in addrs[4]] == [("tun0", "10.8.0.2"), ("eth0", "192.168.1.10")]
    assert [d for d, _ in client_addresses(TOPOLOGIES["dual-stack"])[6]] == ["eth0", "eth0"]


def test_lab_gather_args_are_the_in_process_settings_with_the_labs_network() -> None:
    """Every runnable library profile: the options parse back (through `icesim gather`'s own
    parser) into the very GatherConfig, whose page settings are the in-process session's."""
    library = load_library()
    for name, topology in EXPECTED.items():
        p = library[name]
        plan = plan_session(ProfileMix([(p, 1.0)]), 7, 11)
        run, config, scale = lab_session(plan, topology, 1000.0)
        ctx = gather_cmd.make_context("icesim gather", gather_args(config))
        parsed, embedded = build_config({k: v for k, v in ctx.params.items() if k not in ("fmt", "log_level")})
        assert parsed == config and not embedded, name
        in_process = session_config(plan, WorkerEnv(None, NatRegistry(), [("127.0.0.1", 1)], [], 1000.0))  # type: ignore[arg-type]
        for field in ("browser", "permission", "mdns", "time_scale", "timeout_ms", "seed", "ip_policy",
                      "ice_transport_policy", "media", "bundle_policy", "pool_size", "pool_lead_ms", "sdp"):
            assert getattr(config, field) == getattr(in_process, field), (name, field)
        assert config.time_scale == scale
        # The network is the lab's: its client's addresses, its coturn, no in-process blocking.
        client = {str(ipaddress.ip_interface(c).ip) for _, c in TOPOLOGIES[topology].namespace("client").addresses}
        assert {str(i.address) for i in config.interfaces or ()} <= client
        assert [i.adapter_type for i in config.interfaces or ()] == [
            i.adapter_type for i in sorted(p.interfaces, key=lambda s: (s.family, s.adapter_type != "vpn"))], name
        assert not config.faults.block_udp_all and config.faults.latency_ms == plan.rtt_ms
        stun = [(s.host, s.port) for s in config.servers if not s.is_turn]
        if p.stun_by_name:
            assert [h for h, _ in stun] == [f"stun{k}.icesim.test" for k in range(p.stun_servers)]
            assert [str(a) for r in config.faults.resolve for a in r.addresses if a.version == 4] == [
                h for h, _ in LAB_STUN[:p.stun_servers]]
        else:
            assert stun == list(LAB_STUN[:p.stun_servers])
        assert run.public_v4 == LAB_NETWORKS[topology].public_v4
        if p.web_address == "srflx":
            assert run.web_address == run.public_v4


def test_lab_option_checks(tmp_path: Path) -> None:
    for kw, option in (({"executor": "dask", "scheduler": "tcp://127.0.0.1:1"}, "--executor"), ({"labs": 0}, "--labs"),
                       ({"lab_gathers": 0}, "--lab-gathers")):
        opts = DatasetOptions(out=tmp_path / "x", lab=True, **kw)
        with pytest.raises(Exception) as exc:
            build_dataset(opts, None, print)
        assert getattr(exc.value, "field_name", None) == option
    assert not (tmp_path / "x").exists()


def test_profile_topology_defaults_to_none(tmp_path: Path) -> None:
    assert _profile(tmp_path, "").topology == ""
    assert dataclasses.replace(_profile(tmp_path, '[network]\ntopology = "lossy"\n', "l")).topology == "lossy"


async def test_lab_worker_runs_gathers_from_gather_options_and_reports_bad_ones() -> None:
    from icesim.dataset.lab_worker import run_one

    ok = await run_one({"id": 1, "args": ["--stun=none", "--interface=eth0=127.0.0.1:ethernet", "--no-mdns",
                                          "--seed=3", "--time-scale=1000"]}, 0.25)
    assert ok["id"] == 1 and ok["lag_ms"] == 0.25 and "error" not in ok
    assert ok["events"][0]["type"] == "meta" and ok["events"][0]["seed"] == 3
    assert ok["events"][-1] == {"type": "icecandidate", "t": ok["events"][-1]["t"], "candidate": None}
    assert {"type": "icegatheringstatechange", "t": ok["events"][-2]["t"], "state": "complete"} == ok["events"][-2]
    bad = await run_one({"id": 2, "args": ["--browser=netscape", "--stun=none"]}, 0.0)
    assert bad["id"] == 2 and "netscape" in bad["error"] and "events" not in bad
    serverless = await run_one({"id": 3, "args": []}, 0.0)  # a lab session always names the lab's servers
    assert "--stun" in serverless["error"]


def test_labs_are_shared_by_sessions_at_least_one_per_topology() -> None:
    from icesim.dataset.lab_sessions import share_labs

    assert share_labs({"a": 6, "b": 6, "c": 6}, 3) == {"a": 1, "b": 1, "c": 1}
    assert share_labs({"a": 6, "b": 6, "c": 6}, 2) == {"a": 1, "b": 1, "c": 1}  # one each, whatever --labs
    assert share_labs({"a": 90, "b": 10, "c": 1}, 8) == {"a": 6, "b": 1, "c": 1}
    assert share_labs({"a": 2}, 4) == {"a": 2}  # no lab without a session for it
    assert share_labs({}, 4) == {}


async def test_pages_that_never_reach_ice_need_no_lab() -> None:
    from icesim.dataset.lab_sessions import run_lab_shards
    from icesim.dataset.worker import Job, Shard

    library = load_library()
    job = Job(profiles=((library["bot-api-removed"], 1.0), (library["bot-setup-throws"], 1.0)), seed=1,
              time_scale=1000.0, concurrency=1)
    written: list = []
    stats = await run_lab_shards(job, [Shard(0, 0, 3), Shard(1, 3, 5)], lambda s, rows, feats: written.append((s, rows)),
                                 lambda n: None, labs=4, per_lab=2)
    assert stats["labs"] == {} and stats["gathers"] == 0
    assert [len(rows) for _, rows in written] == [3, 2]
    assert all(r["page_error"] and r["lab_topology"] is None and r["events"] == "[]" for _, rows in written for r in rows)
