"""Replay documents (icesim/replay/document.py) from real gathers on loopback sockets: the SDP
snapshots end in exactly the SDP the engine rendered itself (`--sdp`; Chrome: with the replay
certificate's fingerprint), the identity matches the candidates, one stats entry per signalled
candidate in each browser's form, the page's WebRTC availability, and the offer timings."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from pathlib import Path

import pytest
import structlog

import icesim
from alias_net import AliasNet
from icesim.replay.certificate import with_fingerprint
from icesim.replay.document import SCHEMA, replay_document
from icesim.replay.sessions import gather_row
from icesim.stun_server import StunServer

V4 = icesim.Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", True)
V6 = icesim.Interface("eth0", ipaddress.ip_address("2001:db8:5::2"), "ethernet", True)
WIFI = icesim.Interface("wlan0", ipaddress.ip_address("192.168.1.20"), "wifi", False)
CHROME_STATS_KEYS = {"id", "type", "address", "candidateType", "foundation", "ip", "isRemote", "networkType", "port",
                     "priority", "protocol", "transportId", "usernameFragment"}
FIREFOX_STATS_KEYS = {"id", "type", "address", "candidateType", "foundation", "port", "priority", "protocol",
                      "transportId", "usernameFragment"}


async def gathered(browser: str, *, stun: bool = True, media=("data",), bundle_policy="balanced", seed=11,
                   interfaces=(V4, V6), **options) -> tuple[dict, str]:
    """A real gather with --sdp through a symmetric NAT alias: its row (as `icesim gather` output
    reads back) and the engine's own final SDP."""
    server, net, servers = None, None, []
    if stun:
        server = StunServer("203.0.113.1", "symmetric")
        _, port = await server.start("127.0.0.1", 0)
        net = AliasNet({("203.0.113.2", 3478): ("127.0.0.1", port)})
        servers = [icesim.parse_ice_url("stun:203.0.113.2:3478")]
    config = icesim.GatherConfig(browser=browser, servers=servers, interfaces=list(interfaces), seed=seed, sdp=True,
                                 media=media, bundle_policy=bundle_policy, time_scale=10, **options)
    try:
        lines = await asyncio.wait_for(_collect(config, net), 30)
    finally:
        if server is not None:
            server.close()
    meta, *events, last = lines
    assert last["type"] == "localdescription"
    row = gather_row("s-1", meta, events, None)
    row.update(media=",".join(media), bundle_policy=bundle_policy)
    return row, last["sdp"]


async def _collect(config, net) -> list[dict]:
    return [e.to_dict() async for e in icesim.gather(config, net)]


def local(doc: dict) -> list[tuple[int, dict]]:
    """The local-candidate entries of the document's stats."""
    return [(i, e) for i, e in doc["stats"] if e["type"] == "local-candidate"]


def engine_sdp_as_replayed(doc: dict, engine_sdp: str) -> str:
    """The engine's SDP as the page sees it: Chrome's names the replay certificate (the
    document's `certificate` stats entry), Firefox's is unchanged."""
    certificates = [e for _, e in doc["stats"] if e["type"] == "certificate"]
    if doc["family"] != "chrome":
        assert certificates == []
        return engine_sdp
    (certificate,) = certificates
    return with_fingerprint(engine_sdp, certificate["fingerprint"])


def candidate_indexes(doc: dict) -> list[int]:
    return [i for i, e in enumerate(doc["events"]) if e["type"] == "icecandidate" and e["candidate"]]


GATHERS = [
    ("chrome", {}), ("chrome", {"mdns": False}), ("chrome", {"permission": True, "interfaces": (V4, WIFI, V6)}),
    ("chrome", {"media": ("audio", "video", "data")}),
    ("chrome", {"media": ("audio", "video", "data"), "bundle_policy": "max-bundle"}),
    ("chrome@150", {}), ("firefox", {}), ("firefox", {"mdns": False}), ("firefox", {"permission": True}),
]


@pytest.mark.parametrize("browser,options", GATHERS)
async def test_the_last_snapshot_is_the_engines_own_sdp(browser, options) -> None:
    row, engine_sdp = await gathered(browser, **options)
    doc = replay_document(row)
    snapshots = doc["local_descriptions"]
    assert snapshots[-1][1] == engine_sdp_as_replayed(doc, engine_sdp)
    if doc["family"] == "chrome":  # only the fingerprint lines differ
        assert snapshots[-1][1] != engine_sdp
        assert with_fingerprint(snapshots[-1][1], "X") == with_fingerprint(engine_sdp, "X")
    # One snapshot after setLocalDescription, then one per signalled candidate (Firefox's "" marker too).
    assert [i for i, _ in snapshots] == [-1, *candidate_indexes(doc)]
    ufrags = {e["candidate"]["usernameFragment"] for e in doc["events"] if e["type"] == "icecandidate" and e["candidate"]}
    assert len(ufrags) == 1
    (ufrag,) = ufrags
    for _, sdp in snapshots:
        assert set(re.findall(r"a=ice-ufrag:(\S+)", sdp)) == {ufrag}
    # Each snapshot holds the candidates signalled so far, per m-line in signalling order, no others.
    for n, (i, sdp) in enumerate(snapshots):
        so_far = [doc["events"][j]["candidate"] for j in candidate_indexes(doc) if j <= i]
        so_far.sort(key=lambda c: int(c["sdpMid"]))  # stable: signalling order within an m-line
        lines = [ln[2:] for ln in sdp.split("\r\n") if ln.startswith("a=candidate:")]
        assert [re.sub(r" ufrag \S+", "", c["candidate"]) for c in so_far if c["candidate"]] == lines, n
    assert doc["schema"] == SCHEMA and doc["webrtc"] == "available"
    assert doc["family"] == browser.split("@")[0]
    json.dumps(doc)


async def test_chrome_offer_is_the_description_before_any_candidate() -> None:
    row, _ = await gathered("chrome")
    doc = replay_document(row)
    assert doc["offer_sdp"] == doc["local_descriptions"][0][1]
    assert "a=candidate" not in doc["offer_sdp"] and "m=application 9 " in doc["offer_sdp"]


async def test_firefox_offer_and_end_of_candidates() -> None:
    row, _ = await gathered("firefox")
    doc = replay_document(row)
    first = doc["local_descriptions"][0][1].split("\r\n")
    # Firefox's local description adds a session-level a=sendrecv that its offer lacks (F1-F8c).
    assert first[4] == "a=sendrecv" and doc["offer_sdp"].split("\r\n") == first[:4] + first[5:]
    marker = next(i for i, e in enumerate(doc["events"]) if e["type"] == "icecandidate" and e["candidate"]
                  and e["candidate"]["candidate"] == "")
    for i, sdp in doc["local_descriptions"]:
        assert ("a=end-of-candidates" in sdp) == (i >= marker)


async def test_without_a_seed_the_ufrag_comes_from_the_candidates() -> None:
    row, engine_sdp = await gathered("chrome")
    ufrag = re.search(r"a=ice-ufrag:(\S+)", engine_sdp).group(1)
    for seed in (None, 12345):  # missing, or one that draws another identity
        doc = replay_document({**row, "seed": seed})
        last = doc["local_descriptions"][-1][1]
        assert re.findall(r"a=ice-ufrag:(\S+)", last) == [ufrag]
        assert last != engine_sdp  # pwd, o= and fingerprint are not the engine's
        assert replay_document({**row, "seed": seed}) == doc  # but stable per session id


@pytest.mark.parametrize("browser", ["chrome", "firefox"])
async def test_a_row_with_its_own_sdp_checks_against_it(browser) -> None:
    """A row's `sdp` (profiles with page.sdp) is the last snapshot, Chrome's fingerprint aside;
    any other difference is logged."""
    row, engine_sdp = await gathered(browser)
    with structlog.testing.capture_logs() as logs:
        doc = replay_document({**row, "sdp": engine_sdp})
    assert doc["local_descriptions"][-1][1] == engine_sdp_as_replayed(doc, engine_sdp)
    assert not [e for e in logs if e["event"] == "replay.sdp_differs"]
    with structlog.testing.capture_logs() as logs:
        replay_document({**row, "sdp": engine_sdp.replace("a=setup:actpass", "a=setup:active")})
    assert [e["session_id"] for e in logs if e["event"] == "replay.sdp_differs"] == ["s-1"]


async def test_chrome_stats_one_entry_per_candidate_plus_the_hidden_tcp_hosts() -> None:
    row, _ = await gathered("chrome")
    doc = replay_document(row)
    cands = {i: doc["events"][i]["candidate"] for i in candidate_indexes(doc)}
    signalled = [(i, e) for i, e in local(doc) if e["protocol"] == "udp"]
    assert sorted(i for i, _ in signalled) == sorted(cands)
    assert [e["id"] for _, e in doc["stats"]] == sorted(e["id"] for _, e in doc["stats"])  # Chrome's report order
    for i, entry in signalled:
        cand = cands[i]
        assert set(entry) - {"url", "relatedAddress", "relatedPort", "relayProtocol"} == CHROME_STATS_KEYS
        assert re.fullmatch(r"I[A-Za-z0-9+/]{8}", entry["id"]) and entry["type"] == "local-candidate"
        assert (entry["candidateType"], entry["port"], entry["priority"], entry["foundation"]) == \
            (cand["type"], cand["port"], cand["priority"], cand["foundation"])
        assert entry["transportId"] == "T01" and entry["isRemote"] is False and entry["networkType"] == "unknown"
        assert entry["usernameFragment"] == cand["usernameFragment"]
        if cand["type"] == "host":  # an mDNS name is no IP: libwebrtc reports ""
            assert entry["address"] == entry["ip"] == "" and "url" not in entry
        else:
            assert entry["address"] == entry["ip"] == cand["address"] and entry["url"] == cand["url"]
            assert "relatedAddress" not in entry  # rport 0 under mDNS (S3d)
        assert list(entry)[:2] == ["id", "type"] and list(entry)[2:] == sorted(list(entry)[2:])
    hidden = [(i, e) for i, e in local(doc) if e["protocol"] == "tcp"]
    assert sorted((e["address"], e["port"], e["tcpType"], e["priority"]) for _, e in hidden) == [
        ("", 9, "active", 1509957375), ("", 9, "active", 1509959935)]  # captures S1-S8, C/stun
    complete = next(i for i, e in enumerate(doc["events"]) if e.get("state") == "complete")
    assert {i for i, _ in hidden} == {complete}  # listed from "complete" on (C/stun, C/dead_stun)
    others = {e["id"]: (i, e) for i, e in doc["stats"] if e["type"] != "local-candidate"}
    assert others["P"] == (-1, {"id": "P", "type": "peer-connection", "dataChannelsClosed": 0, "dataChannelsOpened": 0})
    i, transport = others["T01"]
    fingerprint = re.search(r"a=fingerprint:sha-256 (\S+)", doc["offer_sdp"]).group(1)
    assert others[f"CF{fingerprint}"][0] == -1  # the certificate (test_replay_certificate.py)
    assert i == -1 and transport == {
        "id": "T01", "type": "transport", "bytesReceived": 0, "bytesSent": 0, "dtlsRole": "unknown", "dtlsState": "new",
        "iceLocalUsernameFragment": cand["usernameFragment"], "iceRole": "controlling", "iceState": "new",
        "localCertificateId": f"CF{fingerprint}", "packetsReceived": 0, "packetsSent": 0,
        "selectedCandidatePairChanges": 0}  # C/stun statsAtEnd


async def test_chrome_stats_with_permission_show_ips_adapters_and_related_addresses() -> None:
    row, _ = await gathered("chrome", permission=True, interfaces=(V4, WIFI, V6))
    row["interfaces"] = json.dumps([[i.name, str(i.address), i.adapter_type] for i in (V4, WIFI, V6)])
    doc = replay_document(row)
    entries = [e for _, e in local(doc)]
    assert len(entries) == len(candidate_indexes(doc))  # enumerated: every candidate is signalled
    by_address = {(e["address"], e["protocol"], e["candidateType"]): e for e in entries}
    assert by_address[("198.51.100.2", "udp", "host")]["networkType"] == "ethernet"
    assert by_address[("192.168.1.20", "udp", "host")]["networkType"] == "wifi"
    assert by_address[("2001:db8:5::2", "udp", "host")]["ip"] == "2001:db8:5::2"  # unbracketed
    assert by_address[("198.51.100.2", "tcp", "host")]["tcpType"] == "active"
    srflx = [e for e in entries if e["candidateType"] == "srflx"]
    assert srflx and all(e["relatedAddress"] in ("198.51.100.2", "192.168.1.20") and e["relatedPort"] > 0 for e in srflx)


async def test_firefox_stats_entries() -> None:
    row, _ = await gathered("firefox")
    doc = replay_document(row)
    real = [i for i in candidate_indexes(doc) if doc["events"][i]["candidate"]["candidate"]]
    assert len(local(doc)) == len(real)  # the "" marker has no entry
    gathering = next(i for i, e in enumerate(doc["events"]) if e.get("state") == "gathering")
    transports = set()
    for (due, entry), i in zip(local(doc), real):  # creation (= signalling) order
        cand = doc["events"][i]["candidate"]
        # Hosts are in the report from "gathering" on, the others from their own event (F/stun).
        assert due == (gathering if cand["type"] == "host" else i)
        assert set(entry) - {"relayProtocol", "tcpType"} == FIREFOX_STATS_KEYS
        assert re.fullmatch(r"[0-9a-f]{1,8}", entry["id"])
        assert entry["address"] == cand["address"] and entry["protocol"] == cand["protocol"].lower()
        if cand["protocol"] == "tcp":
            assert cand["port"] == 9 and 32768 <= entry["port"] <= 60999  # F3d: the socket's real port
        else:
            assert entry["port"] == cand["port"]
        transports.add(entry["transportId"])
    assert len(transports) == 1
    (pc, *_), (transport, *_) = ([e for i, e in doc["stats"] if e["type"] == t] for t in ("peer-connection", "transport"))
    assert doc["stats"][0][1] is pc and doc["stats"][-1][1] is transport  # Firefox's report order
    assert re.fullmatch(r"\{[0-9a-f-]{36}\}", pc["id"]) and transport["id"] in transports
    assert transport == {"id": transport["id"], "type": "transport", "dtlsState": "new", "iceRole": "controlling",
                         "iceLocalUsernameFragment": cand["usernameFragment"], "iceState": "checking"}


async def test_safari_renders_with_chromes_sdp_and_standard_stats() -> None:
    row, _ = await gathered("chrome")
    row["browser"] = "safari"  # the candidates are libwebrtc's either way
    doc = replay_document(row)
    assert doc["family"] == "safari" and doc["browser"] == "safari@26"
    assert doc["local_descriptions"][-1][1].startswith("v=0\r\no=- ")
    assert local(doc) and all(not {"ip", "isRemote", "networkType"} & set(e) for _, e in local(doc))
    assert "certificate" not in {e["type"] for _, e in doc["stats"]}  # not captured: not made up


@pytest.mark.parametrize("webrtc,want", [("present", "available"), ("missing_api", "missing_api"),
                                         ("setup_throws", "setup_throws"), ("stubbed_callback", "stubbed_callback")])
async def test_webrtc_availability(webrtc, want) -> None:
    row, engine_sdp = await gathered("chrome", stun=False)
    events = row["events"]
    stubbed = None
    if webrtc == "stubbed_callback":  # the dataset row drops them, keeping the whole stream aside (dataset/session.py)
        events, stubbed = [e for e in events if e["type"] != "icecandidate"], json.dumps(events)
    doc = replay_document({**row, "webrtc": webrtc, "events": json.dumps(events), "stubbed_events": stubbed,
                           "page_error": "TypeError: x" if webrtc == "missing_api" else None})
    assert doc["webrtc"] == want
    if webrtc in ("missing_api", "setup_throws"):
        assert doc["events"] == [] and doc["stats"] == [] and len(doc["local_descriptions"]) == 1
    else:
        assert [e["type"] for e in doc["events"]] == [e["type"] for e in events]
        # The swallowed candidates still reach pc.localDescription and getStats.
        assert doc["local_descriptions"][-1][1] == engine_sdp_as_replayed(doc, engine_sdp)
        indexes = [i for i, _ in doc["local_descriptions"]]
        assert indexes == sorted(set(indexes)) and indexes[-1] < len(doc["events"])
        assert len(local(doc)) == sum(1 for e in row["events"] if e["type"] == "icecandidate" and e["candidate"]) + 2
        assert all(-1 <= i < len(doc["events"]) for i, _ in doc["stats"])
    assert doc["page_error"] == ("TypeError: x" if webrtc == "missing_api" else None)
    assert doc["offer_sdp"].startswith("v=0")


@pytest.mark.parametrize("browser", ["chrome", "firefox"])
async def test_offer_and_sld_resolve_before_the_first_event(browser) -> None:
    row, _ = await gathered(browser, stun=False)
    docs = [replay_document({**row, "session_id": f"s-{k}"}) for k in range(30)]
    for doc in docs:
        assert doc["offer_ms"] > 0 and doc["sld_ms"] >= 0
        gap = 0.2 if browser == "chrome" else 1.0  # the smallest captured SLD -> first event gaps
        assert doc["offer_ms"] + doc["sld_ms"] <= doc["events"][0]["t"] - gap + 1e-9
    assert len({d["offer_ms"] for d in docs}) > 10  # drawn per session
    assert replay_document(row)["offer_ms"] == replay_document(row)["offer_ms"]  # and reproducible


@pytest.mark.parametrize("bundle_policy,transports", [("balanced", {"T01", "T11", "T21"}), ("max-bundle", {"T01"})])
async def test_chrome_stats_name_each_m_lines_transport(bundle_policy, transports) -> None:
    row, _ = await gathered("chrome", media=("audio", "video", "data"), bundle_policy=bundle_policy)
    doc = replay_document(row)
    assert {e["transportId"] for _, e in local(doc)} == transports
    assert {e["id"] for _, e in doc["stats"] if e["type"] == "transport"} == transports
    for i, entry in local(doc):
        if entry["protocol"] == "udp":  # the hidden TCP hosts have no event of their own
            assert entry["transportId"] == f"T{doc['events'][i]['candidate']['sdpMid']}1"


async def test_chrome_hidden_tcp_hosts_show_the_any_address_without_mdns() -> None:
    row, _ = await gathered("chrome", mdns=False)
    doc = replay_document(row)
    hidden = sorted((e["address"], e["ip"]) for _, e in local(doc) if e["protocol"] == "tcp")
    assert hidden == [("0.0.0.0", "0.0.0.0"), ("::", "::")]  # capture S2
    hosts = [e for _, e in local(doc) if e["protocol"] == "udp" and e["candidateType"] == "host"]
    assert {e["address"] for e in hosts} == {"198.51.100.2", "2001:db8:5::2"}


API_CAPTURES = Path(__file__).resolve().parents[1] / "data"


def _shape(sdp: str) -> list[str]:
    """An SDP's lines with the per-connection values masked (o= id, credentials, fingerprint)."""
    masks = [(r"^(o=\S+ )\d+", r"\1<id>"), (r"^(a=ice-(?:ufrag|pwd):).*", r"\1<x>"), (r"^(a=fingerprint:sha-256 ).*", r"\1<x>")]
    out = []
    for line in sdp.split("\r\n"):
        for pattern, repl in masks:
            line = re.sub(pattern, repl, line)
        out.append(line)
    return out


@pytest.mark.parametrize("browser,path", [("chrome", "chromium156/api/stun.json"), ("firefox", "firefox/api/stun.json")])
async def test_offer_and_first_description_have_the_captured_form(browser, path) -> None:
    """The API captures (tests/data/*/api, from branch cap): the offer createOffer() resolves and
    pc.localDescription at signalingstatechange, before any candidate."""
    capture_file = API_CAPTURES / path
    if not capture_file.is_file():
        pytest.skip(f"{capture_file} is not in this checkout (the API captures)")
    main = json.loads(capture_file.read_text())["main"]
    offer = main["offer"]["attributes"]["sdp"]
    first = next(e["state"]["localDescription"]["sdp"] for e in main["log"] if e.get("type") == "signalingstatechange")
    row, _ = await gathered(browser, stun=False)
    doc = replay_document(row)
    assert _shape(doc["offer_sdp"]) == _shape(offer)
    assert _shape(doc["local_descriptions"][0][1]) == _shape(first)


@pytest.mark.parametrize("browser,path", [("chrome", "chromium156/api/stun.json"), ("firefox", "firefox/api/stun.json")])
async def test_stats_entries_have_the_captured_keys_in_order(browser, path) -> None:
    """Every entry's `Object.keys` order (timestamp after id, as the module stamps it) is one the
    capture's report shows for that type (`_keysInOrder` in C/stun, F/stun statsAtEnd)."""
    capture_file = API_CAPTURES / path
    if not capture_file.is_file():
        pytest.skip(f"{capture_file} is not in this checkout (the API captures)")
    entries = json.loads(capture_file.read_text())["main"]["statsAtEnd"]["entries"]
    captured = {(e["type"], tuple(e["_keysInOrder"])) for e in entries}
    row, _ = await gathered(browser)  # a srflx through the NAT alias, as in the capture
    doc = replay_document(row)
    for _, entry in doc["stats"]:
        keys = ("id", "timestamp", *list(entry)[1:])
        assert (entry["type"], keys) in captured, entry
    assert {t for t, _ in captured} - {e["type"] for _, e in doc["stats"]} <= {"data-channel"}


def test_the_page_start_is_a_loaded_pages_age_fixed_per_session() -> None:
    from icesim.replay.document import PAGE_START_MS, page_start_ms

    ages = [page_start_ms(f"0-{i}") for i in range(500)]
    assert all(PAGE_START_MS[0] <= a <= PAGE_START_MS[1] for a in ages)
    assert len(set(ages)) > 400  # not one constant a detector could learn
    assert page_start_ms("0-7") == page_start_ms("0-7")
    assert sorted(ages)[250] < 1000.0  # log-uniform: the median is near sqrt(250 * 2500) = 790
