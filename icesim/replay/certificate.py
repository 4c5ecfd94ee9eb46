"""Chrome's DTLS certificate for a replayed session (pure: no I/O).

A page can read Chrome's certificate twice: the SDP's `a=fingerprint:sha-256` lines and the
getStats() `certificate` entry, whose `base64Certificate` hashes (SHA-256 of the DER) to that
fingerprint. The dialect draws the SDP fingerprint at random (chrome_sdp.session_values), which
no certificate hashes to; the replay therefore makes a real certificate per session and uses its
fingerprint everywhere the page can see one.

The form is Chromium 156's (tests/data/API_FACTS.md, "Chrome's DTLS certificate": the
`base64Certificate` of tests/data/chromium156/api/*.json `main.statsAtEnd`, decoded), which is
libwebrtc's rtc_base/boringssl_certificate.cc MakeCertificate with the default KeyParams:
X.509 v3, a uniform random 64-bit serial (RAND_bytes, minimal DER INTEGER: 8 or 9 bytes),
ecdsa-with-SHA256 (no parameters), issuer = subject = CN "WebRTC" (UTF8String), validity
UTCTime from creation - 1 day (kCertificateWindowInSeconds) to creation + 30 days
(kDefaultCertificateLifetimeInSeconds), creation in whole seconds, a P-256 key (namedCurve), no
extensions. Chrome makes it when the page constructs the RTCPeerConnection (the captures:
within 0.1 s of the page's first call on it).

Deterministic: the key (`ec.derive_private_key`) and the serial come from a secret the caller
derives from the session, the signature is RFC 6979's (`ecdsa_deterministic`), and the creation
time is the page clock's, not the wall clock's, so the same dataset gives the same documents.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

COMMON_NAME = "WebRTC"  # rtc_certificate_generator.cc kIdentityName
NOT_BEFORE_S = -24 * 3600  # ssl_identity.h kCertificateWindowInSeconds
LIFETIME_S = 30 * 24 * 3600  # ssl_identity.h kDefaultCertificateLifetimeInSeconds
# Date.now() of the replay page is this epoch + performance.now() (icesim/js/icesim-clock.mjs
# DEFAULT_EPOCH_MS, the runner's and --serve's virtual clock); the detector runs at page_ms.
PAGE_EPOCH_MS = 1795000000000
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_FINGERPRINT_LINE = re.compile(r"^(a=fingerprint:sha-256 )\S+", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class DtlsCertificate:
    der: bytes
    fingerprint: str  # SHA-256 of `der`, the SDP form (libwebrtc SSLFingerprint: upper-case hex, ':')

    @classmethod
    def from_der(cls, der: bytes) -> DtlsCertificate:
        return cls(der, sha256_fingerprint(der))

    def stats_entry(self) -> dict[str, Any]:
        """The getStats() `certificate` entry without `timestamp`, keys as captured (C/*
        statsAtEnd `_keysInOrder`: id, timestamp, type, base64Certificate, fingerprint,
        fingerprintAlgorithm)."""
        return {"id": f"CF{self.fingerprint}", "type": "certificate",
                "base64Certificate": base64.b64encode(self.der).decode("ascii"),
                "fingerprint": self.fingerprint, "fingerprintAlgorithm": "sha-256"}


def sha256_fingerprint(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def created_at_s(page_ms: float, epoch_ms: int = PAGE_EPOCH_MS) -> int:
    """The certificate's creation time (whole seconds, as libwebrtc's time(nullptr)): the page's
    Date.now() when the detector is called, which is when it constructs its RTCPeerConnection."""
    return int((epoch_ms + page_ms) // 1000)


@lru_cache(maxsize=4096)
def session_certificate(secret: str, created_s: int) -> DtlsCertificate:
    """The certificate of one session: key and serial from `secret` (a string the caller derives
    from the session), validity from `created_s`."""
    private_value = _derive(secret, "key") % (_P256_ORDER - 1) + 1
    serial = _derive(secret, "serial") >> 192  # 64 uniform bits, as RAND_bytes into a uint64_t
    return make_certificate(private_value, serial or 1, created_s)  # (x509 forbids serial 0)


def make_certificate(private_value: int, serial: int, created_s: int) -> DtlsCertificate:
    """Chrome's certificate form for this key, serial and creation time."""
    key = ec.derive_private_key(private_value, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    utc = datetime.timezone.utc
    builder = (
        x509.CertificateBuilder().issuer_name(name).subject_name(name).public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(datetime.datetime.fromtimestamp(created_s + NOT_BEFORE_S, utc))
        .not_valid_after(datetime.datetime.fromtimestamp(created_s + LIFETIME_S, utc))
    )
    certificate = builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    return DtlsCertificate.from_der(certificate.public_bytes(serialization.Encoding.DER))


def with_fingerprint(sdp: str, fingerprint: str) -> str:
    """The SDP with every `a=fingerprint:sha-256` line naming `fingerprint`."""
    return _FINGERPRINT_LINE.sub(lambda m: m.group(1) + fingerprint, sdp)


def _derive(secret: str, purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(f"icesim.replay.certificate.{purpose}:{secret}".encode()).digest(), "big")
