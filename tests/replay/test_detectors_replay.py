"""The three shipped detectors (icesim/js/detectors/) replayed over a real generated dataset with
`icesim replay`: each session's verdict must follow from its profile (detectors_support.py says
how), and the table shows the matrix per scenario."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from detectors_support import (
    GATHER_IPS_TIMEOUT, ICE_ERROR_OR_SILENCE, ICE_EXPORT, IP_MISMATCH, PROFILES, SILENCE_MS, Expected,
    dataset_rows, expected_gather_ips, expected_ice_error_or_silence, expected_ip_mismatch, icesim, make_dataset,
    profiles_by_name, replay_jsonl,
)

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (make test installs it)")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("idt-ds") / "ds")


@pytest.fixture(scope="module")
def rows(dataset: Path) -> dict[str, dict[str, Any]]:
    return dataset_rows(dataset)


@pytest.fixture(scope="module")
def runs(dataset: Path) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "a": replay_jsonl(dataset, ICE_ERROR_OR_SILENCE, ICE_EXPORT),
        "b": replay_jsonl(dataset, IP_MISMATCH),
        "c": replay_jsonl(dataset, GATHER_IPS_TIMEOUT),
    }


def _events(row: dict[str, Any]) -> list[dict[str, Any]]:
    events = row["events"]
    return json.loads(events) if isinstance(events, str) else events


def _null_candidate_t(row: dict[str, Any]) -> float:
    return next(e["t"] for e in _events(row) if e["type"] == "icecandidate" and e["candidate"] is None)


def _check(line: dict[str, Any], want: Expected) -> None:
    assert line["status"] == want.status, line
    assert line["verdict"] == ("bot" if want.bot else "human"), line


def test_every_profile_is_in_the_dataset(rows: dict[str, dict[str, Any]]) -> None:
    counts = Counter(row["profile"] for row in rows.values())
    assert set(counts) == set(PROFILES)
    assert min(counts.values()) >= 4, counts


def test_every_session_is_replayed_once_per_detector(rows, runs) -> None:
    for name, lines in runs.items():
        assert set(lines) == set(rows), name


def test_ice_error_or_silence_follows_the_profile(rows, runs) -> None:
    profiles = profiles_by_name()
    for sid, row in rows.items():
        want = expected_ice_error_or_silence(profiles[row["profile"]])
        line = runs["a"][sid]
        _check(line, want)
        assert line["value"]["reason"] == want.reason, (row["profile"], line)
        if want.reason == "ICE_TIMEOUT":  # the detector's own 2 s timer, in browser time
            assert SILENCE_MS <= line["settled_ms"] < SILENCE_MS + 50, line
        if want.reason == "ICE_SUCCESS":  # settled when the recorded null candidate was dispatched
            assert line["settled_ms"] == pytest.approx(_null_candidate_t(row), abs=2), line
        if want.reason == "ICE_CANDIDATE_ERROR":
            error = next(e for e in _events(row) if e["type"] == "icecandidateerror")
            assert line["value"]["errorCode"] == error["errorCode"] == 701
            assert line["value"]["errorText"] == error["errorText"] == "STUN host lookup received error."
            assert line["value"]["url"] == error["url"]


def test_udp_blocking_proxy_bot_is_an_ice_timeout_and_the_corporate_person_a_false_positive(rows, runs) -> None:
    by_profile: dict[str, Counter] = {}
    for sid, row in rows.items():
        line = runs["a"][sid]
        by_profile.setdefault(row["profile"], Counter())[(line["verdict"], line["value"]["reason"])] += 1
    assert set(by_profile["bot-proxy-blocks-udp"]) == {("bot", "ICE_TIMEOUT")}
    assert set(by_profile["human-corporate-udp-blocked"]) == {("bot", "ICE_TIMEOUT")}  # label human: a false positive
    assert set(by_profile["human-chrome-linux-home-ethernet"]) == {("human", "ICE_SUCCESS")}
    assert set(by_profile["bot-residential-proxy-mismatch"]) == {("human", "ICE_SUCCESS")}  # (a) misses it


def test_ip_mismatch_follows_the_profile(rows, runs) -> None:
    profiles = profiles_by_name()
    for sid, row in rows.items():
        want = expected_ip_mismatch(profiles[row["profile"]])
        line = runs["b"][sid]
        _check(line, want)
        value = line["value"]
        assert value["reason"] == want.reason, (row["profile"], line)
        if want.reason in ("IP_MATCH", "IP_MISMATCH"):
            assert value["webAddress"] == row["web_address"]
            assert row["public_v4"] in value["publicIps"]
            assert (row["web_address"] in value["publicIps"]) == (want.reason == "IP_MATCH")
            assert not any(ip.endswith(".local") or ip == "0.0.0.0" for ip in value["ips"])
        if want.reason == "NO_PUBLIC_IP":
            assert value["publicIps"] == []


def test_residential_proxy_bot_is_flagged_by_the_address_mismatch(rows, runs) -> None:
    mismatched = [runs["b"][sid] for sid, row in rows.items() if row["profile"] == "bot-residential-proxy-mismatch"]
    assert mismatched and all(line["value"]["reason"] == "IP_MISMATCH" and line["verdict"] == "bot"
                              for line in mismatched)
    dual = [runs["b"][sid] for sid, row in rows.items() if row["profile"] == "human-chrome-dualstack-ipv6-home"]
    # the IPv6 srflx sits beside the IPv4 one the server saw: compared by family, no mismatch
    assert dual and all(line["value"]["reason"] == "IP_MATCH" and
                        any(":" in ip for ip in line["value"]["publicIps"]) for line in dual)


def test_gather_ips_timeout_follows_the_profile(rows, runs) -> None:
    profiles = profiles_by_name()
    for sid, row in rows.items():
        profile = profiles[row["profile"]]
        want = expected_gather_ips(profile)
        line = runs["c"][sid]
        _check(line, want)
        value = line["value"]
        if want.status == "rejected":
            assert want.reason in (value["name"], value["message"]), (row["profile"], line)
            if want.reason.startswith("WebRTC IP gathering"):  # the 1 s timer, in browser time
                assert 1000 <= line["settled_ms"] < 1050, line
        else:
            public = {row["public_v4"], row["public_v6"]} - {None}
            assert row["public_v4"] in value and set(value) <= public, (row["profile"], line)
            if profile.stun_aaaa:
                assert row["public_v6"] in value  # the IPv6 srflx


def test_table_shows_the_matrix_per_scenario(dataset: Path, rows) -> None:
    """Every (scenario, label) row of the table counts what detector (b) must conclude there."""
    table = icesim("replay", "--sessions", str(dataset), "--detector", str(IP_MISMATCH)).stdout
    profiles = profiles_by_name()
    want: dict[tuple[str, str], Counter] = {}
    for row in rows.values():
        bot = expected_ip_mismatch(profiles[row["profile"]]).bot
        want.setdefault((row["scenario"], row["label"]), Counter()).update(sessions=1, bot=int(bot), human=int(not bot))
    lines = table.splitlines()
    header = next(i for i, x in enumerate(lines) if x.split()[:3] == ["scenario", "label", "sessions"])
    columns = lines[header].split()
    got = {}
    for line in lines[header + 2:]:
        if line.startswith("-"):
            break
        cells = dict(zip(columns, line.split()))
        got[(cells["scenario"], cells["label"])] = Counter(
            {k: int(cells[k]) for k in ("sessions", "bot", "human") if int(cells[k])})
    assert got == want
    assert "TPR" in table and "FPR" in table
