"""AES-256-GCM sealing and key wrapping: round trips, and one opaque error for every failure."""

from __future__ import annotations

import pytest

from fleetward.crypto import (
    AeadError,
    key_fingerprint,
    new_key,
    open_sealed,
    seal,
    unwrap_key,
    wrap_key,
)
from fleetward.crypto.aead import NONCE_BYTES, OVERHEAD


def test_seal_round_trip_and_layout() -> None:
    key = new_key()
    sealed = seal(key, b"secret reading", b"row-1", random=lambda n: b"\x07" * n)
    assert sealed[:NONCE_BYTES] == b"\x07" * NONCE_BYTES
    assert len(sealed) == len(b"secret reading") + OVERHEAD
    assert b"secret reading" not in sealed
    assert open_sealed(key, sealed, b"row-1") == b"secret reading"


def test_fresh_nonce_each_time() -> None:
    key = new_key()
    assert seal(key, b"x", b"") != seal(key, b"x", b"")


@pytest.mark.parametrize("case", ["flip", "aad", "key", "short", "empty"])
def test_every_failure_is_the_same_opaque_error(case: str) -> None:
    key = new_key()
    sealed = seal(key, b"payload", b"aad")
    args = {
        "flip": (key, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"aad"),
        "aad": (key, sealed, b"other"),
        "key": (new_key(), sealed, b"aad"),
        "short": (key, sealed[: OVERHEAD - 1], b"aad"),
        "empty": (key, b"", b"aad"),
    }[case]
    with pytest.raises(AeadError) as info:
        open_sealed(*args)
    assert info.value.code == "crypto.open_failed"
    assert info.value.detail == "cannot open sealed data"


def test_wrapped_key_is_bound_to_its_context() -> None:
    kek, dek = new_key(), new_key()
    wrapped = wrap_key(kek, dek, b"owner-a")
    assert unwrap_key(kek, wrapped, b"owner-a") == dek
    with pytest.raises(AeadError):
        unwrap_key(kek, wrapped, b"owner-b")
    with pytest.raises(AeadError):
        unwrap_key(new_key(), wrapped, b"owner-a")
    # A wrapped key is domain-separated from data sealed with the same key and context.
    with pytest.raises(AeadError):
        unwrap_key(kek, seal(kek, dek, b"owner-a"), b"owner-a")


def test_keys_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"short", b"x", b"")
    with pytest.raises(ValueError, match="wrong number"):
        new_key(lambda n: b"\x00" * (n - 1))


def test_fingerprint_is_stable_and_keyed() -> None:
    key = new_key()
    assert key_fingerprint(key, "a") == key_fingerprint(key, "a")
    assert key_fingerprint(key, "a") != key_fingerprint(key, "b")
    assert key_fingerprint(key, "a") != key_fingerprint(new_key(), "a")
    assert len(key_fingerprint(key, "a")) == 16
