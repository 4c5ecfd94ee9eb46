"""The replay's DTLS certificate (icesim/replay/certificate.py): Chrome's own form (the
certificates Chromium 156 reported, tests/data/chromium156/api/*.json, decoded), its SHA-256
fingerprint everywhere a page reads one, deterministic per session, and what a detector sees of
it through the replay runner (icesim/js/replay-runner.mjs)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from icesim.replay.certificate import (
    LIFETIME_S, NOT_BEFORE_S, PAGE_EPOCH_MS, created_at_s, make_certificate, session_certificate,
)
from icesim.replay.document import replay_document
from js_helpers import NODE, ROOT, needs_node, replay, write_detector
from test_replay_document import gathered

DATA = Path(__file__).resolve().parents[1] / "data"
CHROME_CAPTURES = sorted((DATA / "chromium156" / "api").glob("*.json"))
FIREFOX_CAPTURES = sorted((DATA / "firefox" / "api").glob("*.json"))
FINGERPRINT = re.compile(r"^a=fingerprint:sha-256 (\S+)", re.MULTILINE)
KEYS = ["id", "type", "base64Certificate", "fingerprint", "fingerprintAlgorithm"]  # C/* _keysInOrder, no timestamp


def sha256_colons(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def captured(path: Path) -> tuple[dict, bytes, dict]:
    """(the capture's certificate stats entry, its DER, the capture)."""
    cap = json.loads(path.read_text())
    (entry,) = [e for e in cap["main"]["statsAtEnd"]["entries"] if e["type"] == "certificate"]
    return entry, base64.b64decode(entry["base64Certificate"]), cap


def assert_chrome_form(der: bytes, created_s: int) -> x509.Certificate:
    """What every captured certificate shows (tests/data/API_FACTS.md, "Chrome's DTLS certificate")."""
    cert = x509.load_der_x509_certificate(der)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "WebRTC")])
    assert cert.version == x509.Version.v3 and list(cert.extensions) == []
    assert cert.subject == cert.issuer == name
    assert cert.subject.public_bytes() == bytes.fromhex("3011310f300d06035504030c06576562525443")  # UTF8String
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert cert.signature_algorithm_parameters is None or isinstance(cert.signature_algorithm_parameters, ec.ECDSA)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert 0 < cert.serial_number < 2**64
    utc = datetime.timezone.utc
    assert cert.not_valid_before_utc == datetime.datetime.fromtimestamp(created_s - 86400, utc)
    assert cert.not_valid_after_utc == datetime.datetime.fromtimestamp(created_s + 30 * 86400, utc)
    assert b"\x17\x0d" + cert.not_valid_before_utc.strftime("%y%m%d%H%M%SZ").encode() in cert.tbs_certificate_bytes
    key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))  # self-signed
    return cert


# --- the captures -------------------------------------------------------------------------
@pytest.mark.parametrize("path", CHROME_CAPTURES, ids=[p.stem for p in CHROME_CAPTURES])
def test_chromes_captured_certificates_have_one_form(path: Path) -> None:
    entry, der, cap = captured(path)
    assert list(entry["_keysInOrder"]) == ["id", "timestamp", *KEYS[1:]]
    assert entry["fingerprint"] == sha256_colons(der) and entry["id"] == f"CF{entry['fingerprint']}"
    assert entry["fingerprintAlgorithm"] == "sha-256"
    cert = x509.load_der_x509_certificate(der)
    created = int(cert.not_valid_before_utc.timestamp()) + 86400
    assert_chrome_form(der, created)
    # Made when the page constructed the RTCPeerConnection: within a second of the main run's
    # start (the report's timestamp minus the run's length), whole seconds.
    run_start_s = (entry["timestamp"] - cap["main"]["tEnd"]) / 1000
    assert created - 1 < run_start_s < created + 1
    # Every SDP the page read names it; every transport points at it.
    sdps = [e["state"]["localDescription"]["sdp"] for e in cap["main"]["log"]
            if (e.get("state") or {}).get("localDescription")]
    assert sdps and {f for sdp in sdps for f in FINGERPRINT.findall(sdp)} == {entry["fingerprint"]}
    transports = [e for e in cap["main"]["statsAtEnd"]["entries"] if e["type"] == "transport"]
    assert transports and {t["localCertificateId"] for t in transports} == {entry["id"]}


@pytest.mark.parametrize("path", CHROME_CAPTURES, ids=[p.stem for p in CHROME_CAPTURES])
def test_chrome_lists_it_from_setlocaldescription_until_close(path: Path) -> None:
    entry, _, cap = captured(path)
    key = f"certificate:{entry['id']}"
    for e in cap["main"]["log"]:
        ids = (e.get("stats") or {}).get("ids")
        if ids is not None:  # negotiationneeded (before SLD): P only; signalingstatechange on: with the transports
            assert (key in ids) == any(i.startswith("transport:") for i in ids), (e["type"], ids)
    assert [x["type"] for x in cap["main"]["statsAfterClose"]["entries"]] == ["peer-connection"]


def _certificate_mentions(value) -> list:
    """Stats entries of type certificate and "certificate:<id>" report summaries, anywhere."""
    if isinstance(value, dict):
        own = [value] if value.get("type") == "certificate" else []
        return own + [m for v in value.values() for m in _certificate_mentions(v)]
    if isinstance(value, list):
        return [m for v in value for m in _certificate_mentions(v)]
    if isinstance(value, str) and ('"certificate:' in value or value.startswith("certificate:")):
        return [value]
    return []


def test_firefox_never_reports_a_certificate() -> None:
    """Not at any event, not at the end, not after close (F/*: main, close run)."""
    assert FIREFOX_CAPTURES
    for path in FIREFOX_CAPTURES:
        assert _certificate_mentions(json.loads(path.read_text())) == [], path
    assert _certificate_mentions(json.loads(CHROME_CAPTURES[0].read_text()))  # the walk finds Chrome's


# --- the replay's certificate ---------------------------------------------------------------
@pytest.mark.parametrize("path", CHROME_CAPTURES[:3], ids=[p.stem for p in CHROME_CAPTURES[:3]])
def test_the_certificate_is_the_captured_one_but_for_the_key(path: Path) -> None:
    """Same serial and creation time as a capture: the DER is the capture's with another public
    key and signature, byte for byte (version, algorithms, names, UTCTime validity, no
    extensions)."""
    _, der, _ = captured(path)
    cert = x509.load_der_x509_certificate(der)
    created = int(cert.not_valid_before_utc.timestamp()) + 86400
    ours = x509.load_der_x509_certificate(make_certificate(0x1CE51, cert.serial_number, created).der)
    assert ours.tbs_certificate_bytes == cert.tbs_certificate_bytes.replace(_point(cert), _point(ours))


@pytest.fixture(scope="module")
def chrome_rows() -> dict:
    """Rows of real loopback gathers (test_replay_document.gathered)."""
    import asyncio

    async def rows():
        return {"data": (await gathered("chrome", stun=False))[0],
                "avd": (await gathered("chrome", stun=False, media=("audio", "video", "data")))[0],
                "seed12": (await gathered("chrome", stun=False, seed=12))[0]}
    return asyncio.run(rows())


def _point(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def certificate_of(doc: dict) -> tuple[int, dict]:
    (pair,) = [(i, e) for i, e in doc["stats"] if e["type"] == "certificate"]
    return pair


@pytest.mark.parametrize("kind", ["data", "avd"])
def test_every_fingerprint_the_page_reads_is_the_certificates(chrome_rows, kind) -> None:
    doc = replay_document(chrome_rows[kind])
    i, entry = certificate_of(doc)
    assert i == -1 and list(entry) == KEYS  # from setLocalDescription on, keys as captured
    der = base64.b64decode(entry["base64Certificate"])
    fingerprint = sha256_colons(der)
    assert entry["fingerprint"] == fingerprint and entry["id"] == f"CF{fingerprint}"
    assert entry["fingerprintAlgorithm"] == "sha-256"
    assert_chrome_form(der, created_at_s(doc["page_ms"]))
    sections = doc["offer_sdp"].count("\r\nm=")
    for sdp in [doc["offer_sdp"], *(s for _, s in doc["local_descriptions"])]:
        assert FINGERPRINT.findall(sdp) == [fingerprint] * sections  # one per m-line
    transports = [e for _, e in doc["stats"] if e["type"] == "transport"]
    assert len(transports) == (3 if kind == "avd" else 1)
    assert {t["localCertificateId"] for t in transports} == {entry["id"]}


def test_validity_is_anchored_to_the_page_clock(chrome_rows) -> None:
    """Not the wall clock: Date.now() of the replay page (the clock's epoch + page_ms) when the
    detector runs, in whole seconds."""
    clock = (ROOT / "icesim" / "js" / "icesim-clock.mjs").read_text()
    assert re.search(r"DEFAULT_EPOCH_MS = (\d+);", clock).group(1) == str(PAGE_EPOCH_MS)
    doc = replay_document(chrome_rows["data"])
    cert = x509.load_der_x509_certificate(base64.b64decode(certificate_of(doc)[1]["base64Certificate"]))
    created = int((PAGE_EPOCH_MS + doc["page_ms"]) // 1000)
    assert cert.not_valid_before_utc.timestamp() == created + NOT_BEFORE_S
    assert cert.not_valid_after_utc.timestamp() == created + LIFETIME_S


def test_deterministic_per_session(chrome_rows) -> None:
    first = replay_document(chrome_rows["data"])
    session_certificate.cache_clear()
    again = replay_document(chrome_rows["data"])
    assert certificate_of(again) == certificate_of(first)
    assert again["local_descriptions"] == first["local_descriptions"] and again["offer_sdp"] == first["offer_sdp"]


def test_different_across_sessions(chrome_rows) -> None:
    docs = [replay_document({**chrome_rows["data"], "session_id": f"0-{k}"}) for k in range(40)]
    docs.append(replay_document(chrome_rows["seed12"]))  # same session id, another gather
    certs = [x509.load_der_x509_certificate(base64.b64decode(certificate_of(d)[1]["base64Certificate"])) for d in docs]
    assert len({certificate_of(d)[1]["fingerprint"] for d in docs}) == len(docs)
    assert len({c.serial_number for c in certs}) == len(docs)
    assert len({c.public_key().public_numbers().x for c in certs}) == len(docs)
    assert max(c.serial_number.bit_length() for c in certs) > 60  # 64 uniform bits


# --- what a detector sees (the replay runner) -------------------------------------------------
DETECTOR = r"""
function certificates(report) {
  const out = [];
  report.forEach((entry) => { if (entry.type === "certificate") out.push(entry); });
  return out;
}
async function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}
async function detectCertificate(callback) {
  const pc = new RTCPeerConnection();
  pc.createDataChannel("");
  const seen = [];
  const look = async (when) => {
    const report = await pc.getStats();
    seen.push({ when, size: report.size, certificates: certificates(report) });
  };
  const complete = new Promise((resolve) => { pc.onicecandidate = (e) => { if (!e.candidate) resolve(); }; });
  pc.onsignalingstatechange = () => { look("signalingstatechange"); };
  await look("constructed");
  const offer = await pc.createOffer();
  await look("offer");
  await pc.setLocalDescription(offer);
  await look("setLocalDescription");
  await complete;
  await look("complete");
  const report = await pc.getStats();
  const transports = [];
  report.forEach((entry) => { if (entry.type === "transport") transports.push(entry.localCertificateId); });
  const [certificate] = certificates(report);
  let hashed = null;
  if (certificate && globalThis.crypto && crypto.subtle) {
    const der = Uint8Array.from(atob(certificate.base64Certificate), (c) => c.charCodeAt(0));
    hashed = await hex(await crypto.subtle.digest("SHA-256", der));
  }
  const sdp = pc.localDescription.sdp;
  pc.close();
  await look("closed");
  callback({ seen, hashed, transports, offerSdp: offer.sdp, sdp,
    keys: certificate ? Object.keys(certificate) : null });
}
"""


def node_sha256(b64: str) -> str:
    """The hash by Node's own WebCrypto (the runner's page realm has no crypto.subtle)."""
    script = ("const der = Buffer.from(process.argv[1], 'base64');"
              "crypto.subtle.digest('SHA-256', der).then((d) => console.log("
              "Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':')));")
    done = subprocess.run([NODE, "-e", script, b64], capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


@needs_node
def test_a_detector_sees_it_from_setlocaldescription_until_close(tmp_path, chrome_rows) -> None:
    doc = replay_document(chrome_rows["data"])
    _, entry = certificate_of(doc)
    (result,) = replay(write_detector(tmp_path, DETECTOR), [doc], export="detectCertificate")
    assert result["status"] == "callback" and result["errors"] == [], result
    value = result["value"]
    listed = {s["when"]: [c["id"] for c in s["certificates"]] for s in value["seen"]}
    assert listed == {"constructed": [], "offer": [], "signalingstatechange": [entry["id"]],
                      "setLocalDescription": [entry["id"]], "complete": [entry["id"]], "closed": []}
    closed = next(s for s in value["seen"] if s["when"] == "closed")
    assert closed["size"] == 1  # Chrome: peer-connection only after close()
    shown = next(s for s in value["seen"] if s["when"] == "complete")["certificates"][0]
    assert value["keys"] == ["id", "timestamp", *KEYS[1:]]
    assert {k: v for k, v in shown.items() if k != "timestamp"} == entry
    assert value["transports"] == [entry["id"]]
    # A detector that hashes base64Certificate gets the fingerprint of every SDP it can read.
    hashed = value["hashed"] or node_sha256(shown["base64Certificate"])
    assert FINGERPRINT.findall(value["sdp"]) == FINGERPRINT.findall(value["offerSdp"]) == [hashed]
    assert hashed == entry["fingerprint"]


@needs_node
def test_a_firefox_page_never_sees_one(tmp_path) -> None:
    import asyncio

    row, engine_sdp = asyncio.run(gathered("firefox", stun=False))
    doc = replay_document(row)
    (result,) = replay(write_detector(tmp_path, DETECTOR), [doc], export="detectCertificate")
    assert result["status"] == "callback", result
    assert all(s["certificates"] == [] for s in result["value"]["seen"])
    assert result["value"]["sdp"] == engine_sdp  # Firefox's SDP is the engine's, fingerprint included
