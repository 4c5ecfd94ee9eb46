"""turns: (TURN over TLS) against a real coturn with a certificate made for the test.

The gatherer verifies certificates like Chrome's default TLS_CERT_POLICY_SECURE: a CA it
trusts (here through SSL_CERT_FILE) gives a relay candidate of type preference 0; an
untrusted certificate fails the connection (701 "Failed to establish connection").
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest

import icesim
from icesim.config import Faults, parse_resolve

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=turn.test", "-addext", "subjectAltName=DNS:turn.test,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


async def _gather(url: str, server) -> list[dict]:
    config = icesim.GatherConfig(
        servers=[icesim.parse_ice_url(url, username=server.username, credential=server.password)],
        interfaces=[icesim.Interface("eth0", ipaddress.ip_address("198.51.100.2"), "ethernet", True)],
        faults=Faults(resolve=(parse_resolve("turn.test=127.0.0.1"),)), seed=5,
    )
    return [e.to_dict() async for e in icesim.gather(config)]


async def test_turns_relay_with_trusted_certificate(coturn_factory, tls_cert, monkeypatch) -> None:
    server = coturn_factory(tls_cert=tls_cert)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    events = await _gather(f"turns:turn.test:{server.tls_port}?transport=tcp", server)
    relays = [e["candidate"] for e in events if e["type"] == "icecandidate" and e["candidate"]
              and e["candidate"]["type"] == "relay"]
    assert len(relays) == 1, events
    relay = relays[0]
    # Relay over TLS: type preference 0, local preference 30 (IPv4) + 1 (single TURN server).
    assert relay["priority"] == (0 << 24) | (31 << 8) | 255
    assert relay["relayProtocol"] == "tls"
    assert relay["url"] == f"turns:turn.test:{server.tls_port}?transport=tcp"
    assert relay["address"] == "127.0.0.1"
    # The name has no AAAA: the IPv6 socket reports the TURN host-lookup 701.
    errors = [e for e in events if e["type"] == "icecandidateerror"]
    assert [e["errorText"] for e in errors] == ["TURN host lookup received error."]


async def test_turns_untrusted_certificate_fails_connection(coturn_factory, tls_cert, tmp_path, monkeypatch) -> None:
    server = coturn_factory(tls_cert=tls_cert)
    empty = tmp_path / "no-ca.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    events = await _gather(f"turns:127.0.0.1:{server.tls_port}?transport=tcp", server)
    errors = [e for e in events if e["type"] == "icecandidateerror"]
    assert len(errors) == 1, events
    assert errors[0]["errorCode"] == 701
    assert errors[0]["errorText"] == "Failed to establish connection"
    assert errors[0]["address"] is None and errors[0]["port"] is None
    assert errors[0]["hostCandidate"] == ":0"
    assert not [e for e in events if e["type"] == "icecandidate" and e["candidate"] and e["candidate"]["type"] == "relay"]
