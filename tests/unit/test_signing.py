"""Ed25519 signing keys and the rotating key ring (``fleetward.crypto.signing``).

Known-answer tests use RFC 8032 §7.1 TEST 1; key ids are checked against an independent
RFC 7638 thumbprint computation.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import stat
from pathlib import Path

import pytest

from fleetward.crypto import KeyRing, SigningKey, VerifyKey

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)

# RFC 8032 §7.1, TEST 1 (empty message).
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def _pem(prefix_hex: str, seed: bytes) -> bytes:
    """A PKCS#8 PEM from a fixed DER prefix (RFC 8410 §7) and a 32-byte private key."""
    body = base64.encodebytes(bytes.fromhex(prefix_hex) + seed).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n".encode()


def _ed25519(seed: bytes) -> SigningKey:
    return SigningKey.from_pem(_pem("302e020100300506032b657004220420", seed))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- keys -----------------------------------------------------------------------------------


def test_rfc8032_known_answer() -> None:
    key = _ed25519(RFC_SECRET)
    assert key.public.raw == RFC_PUBLIC
    assert key.sign(b"") == RFC_SIGNATURE
    assert key.public.verify(RFC_SIGNATURE, b"")


def test_sign_and_verify() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"hello")
    assert len(signature) == 64
    assert key.public.verify(signature, b"hello")
    assert not SigningKey.generate().public.verify(signature, b"hello")


def test_tampered_message_or_signature_fails() -> None:
    key = _ed25519(RFC_SECRET)
    signature = key.sign(b"message")
    assert not key.public.verify(signature, b"messagE")
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not key.public.verify(flipped, b"message")


@pytest.mark.parametrize("size", [0, 1, 63, 65, 128])
def test_signature_of_wrong_length_is_false_not_an_exception(size: int) -> None:
    assert not _ed25519(RFC_SECRET).public.verify(bytes(size), b"")


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_public_key_of_wrong_length_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        VerifyKey.from_raw(bytes(size))


def test_invalid_public_point_never_verifies() -> None:
    # Not every 32-byte string is a curve point; verification says no rather than raising.
    assert not VerifyKey.from_raw(b"\xff" * 32).verify(RFC_SIGNATURE, b"")


def test_kid_is_the_rfc7638_thumbprint_prefix_and_deterministic() -> None:
    key = _ed25519(RFC_SECRET)
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(RFC_PUBLIC)}, separators=(",", ":")
    )
    assert key.kid == _b64url(hashlib.sha256(canonical.encode()).digest())[:16]
    assert key.kid == VerifyKey.from_raw(RFC_PUBLIC).kid == _ed25519(RFC_SECRET).kid
    assert SigningKey.from_pem(key.to_pem()).kid == key.kid
    assert SigningKey.generate().kid != key.kid


def test_jwk_is_an_rfc8037_okp_key() -> None:
    key = _ed25519(RFC_SECRET)
    assert key.public.jwk() == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",  # RFC 8037 Appendix A.2
        "kid": key.kid,
    }


def test_pem_round_trip_signs_alike() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_pem(key.to_pem())
    assert again.sign(b"x") == key.sign(b"x")  # Ed25519 is deterministic (RFC 8032 §5.1.6)


def test_a_non_ed25519_pem_is_refused() -> None:
    # An X25519 key (OID 1.3.101.110) is a valid PKCS#8 key of the wrong kind.
    x25519 = _pem("302e020100300506032b656e04220420", bytes(range(32)))
    with pytest.raises(TypeError, match="Ed25519"):
        SigningKey.from_pem(x25519)


def test_garbage_pem_is_refused() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - cryptography's message is not ours to pin
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


# -- the key ring ---------------------------------------------------------------------------


def test_ring_creates_one_key_with_private_permissions(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ring = KeyRing.open(directory, now=NOW, overlap=HOUR)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    pem = directory / f"{ring.active.kid}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert list(ring.verify_keys(now=NOW)) == [ring.active.kid]


def test_ring_persists_keys_and_order(tmp_path: Path) -> None:
    ring = KeyRing.open(tmp_path, now=NOW, overlap=HOUR)
    first = ring.active.kid
    second = ring.rotate(now=NOW + dt.timedelta(minutes=10)).kid
    again = KeyRing.open(tmp_path, now=NOW + dt.timedelta(minutes=20), overlap=HOUR)
    assert again.active.kid == second
    assert again.active.sign(b"m") == ring.active.sign(b"m")
    assert list(again.verify_keys(now=NOW + dt.timedelta(minutes=20))) == [second, first]


def test_rotation_overlap(tmp_path: Path) -> None:
    ring = KeyRing.open(tmp_path, now=NOW, overlap=HOUR)
    old = ring.active
    rotated_at = NOW + dt.timedelta(minutes=5)
    new = ring.rotate(now=rotated_at)
    assert ring.active is new
    # The retired key verifies until its successor is `overlap` old, not a moment longer.
    assert set(ring.verify_keys(now=rotated_at + HOUR - dt.timedelta(microseconds=1))) == {
        old.kid,
        new.kid,
    }
    assert set(ring.verify_keys(now=rotated_at + HOUR)) == {new.kid}


def test_rotation_prunes_keys_past_the_overlap(tmp_path: Path) -> None:
    ring = KeyRing.open(tmp_path, now=NOW, overlap=HOUR)
    k1 = ring.active.kid
    k2 = ring.rotate(now=NOW + dt.timedelta(minutes=10)).kid
    k3 = ring.rotate(now=NOW + dt.timedelta(minutes=90)).kid  # k1 retired 80 min ago
    assert not (tmp_path / f"{k1}.pem").exists()
    assert (tmp_path / f"{k2}.pem").exists()
    index = json.loads((tmp_path / "ring.json").read_text())
    assert set(index) == {k2, k3}
    later = NOW + dt.timedelta(minutes=95)
    assert set(KeyRing.open(tmp_path, now=later, overlap=HOUR).verify_keys(now=later)) == {k2, k3}


def test_ring_refuses_a_key_file_that_does_not_match_its_name(tmp_path: Path) -> None:
    ring = KeyRing.open(tmp_path, now=NOW, overlap=HOUR)
    (tmp_path / f"{ring.active.kid}.pem").write_bytes(SigningKey.generate().to_pem())
    with pytest.raises(ValueError, match="does not hold key"):
        KeyRing.open(tmp_path, now=NOW, overlap=HOUR)
