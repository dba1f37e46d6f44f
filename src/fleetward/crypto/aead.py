"""AES-256-GCM: sealing data at rest and wrapping data keys.

One recipe serves both jobs. ``seal`` returns ``nonce || ciphertext || tag`` with a
fresh random 96-bit nonce (NIST SP 800-38D §8.2.2: random nonces are safe while one
key seals fewer than 2^32 messages; a data key belongs to one owner and a KEK wraps one
data key per owner, far below that). ``open_sealed`` fails with one opaque
:class:`AeadError` whatever went wrong (short input, wrong key, wrong associated data,
a flipped bit), as pyca's Fernet does, so a caller cannot become a decryption oracle.

Data keys are wrapped with AES-256-GCM too, not with AES key wrap (RFC 3394/5649):

* GCM authenticates associated data, so a wrapped key is bound to its key id, tenant
  and owner; RFC 3394 has no associated data and a wrapped key copied onto another
  owner's row would unwrap there.
* Every PKCS#11 token we target implements ``CKM_AES_GCM`` for plain encrypt/decrypt
  with a non-extractable key (PKCS#11 v2.40 §2.10.4), so the HSM provider uses the
  same construction without making the data key a token object.
* The cost is 28 bytes per wrapped key (nonce and a 128-bit tag instead of RFC 3394's
  64-bit integrity check); there are only as many wrapped keys as owners.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fleetward.errors import FleetwardError

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "OVERHEAD",
    "TAG_BYTES",
    "AeadError",
    "RandomBytes",
    "key_fingerprint",
    "new_key",
    "open_sealed",
    "seal",
    "seal_many",
    "unwrap_key",
    "wrap_key",
]

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
OVERHEAD = NONCE_BYTES + TAG_BYTES
_WRAP_LABEL = b"fleetward/aes-gcm-keywrap/v1\x00"

RandomBytes = Callable[[int], bytes]


class AeadError(FleetwardError):
    """Sealed data could not be opened; deliberately says nothing about why."""

    code = "crypto.open_failed"


def new_key(random: RandomBytes = os.urandom) -> bytes:
    """A fresh 256-bit key from the OS CSPRNG (or an injected source in tests)."""
    key = random(KEY_BYTES)
    if len(key) != KEY_BYTES:
        raise ValueError("the random source returned the wrong number of bytes")
    return key


def seal(key: bytes, plaintext: bytes, aad: bytes, *, random: RandomBytes = os.urandom) -> bytes:
    """``nonce || AES-256-GCM(key, nonce, plaintext, aad)`` with a random 96-bit nonce."""
    _check_key(key)
    nonce = random(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:
        raise ValueError("the random source returned the wrong number of bytes")
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def seal_many(
    key: bytes, items: Sequence[tuple[bytes, bytes]], *, random: RandomBytes = os.urandom
) -> list[bytes]:
    """:func:`seal` of each ``(plaintext, aad)`` under one key, each with its own random
    nonce; one cipher object for the batch (the telemetry history's ingest path)."""
    _check_key(key)
    cipher = AESGCM(key)
    pool = random(NONCE_BYTES * len(items))  # one CSPRNG call; each nonce its own slice
    if len(pool) != NONCE_BYTES * len(items):
        raise ValueError("the random source returned the wrong number of bytes")
    out: list[bytes] = []
    for i, (plaintext, aad) in enumerate(items):
        nonce = pool[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
        out.append(nonce + cipher.encrypt(nonce, plaintext, aad))
    return out


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext of ``sealed``; raises :class:`AeadError` on any failure."""
    _check_key(key)
    if len(sealed) < OVERHEAD:
        raise AeadError("cannot open sealed data")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise AeadError("cannot open sealed data") from None


def wrap_key(kek: bytes, key: bytes, context: bytes, *, random: RandomBytes = os.urandom) -> bytes:
    """``key`` sealed under ``kek``, bound to ``context`` (domain-separated from data)."""
    _check_key(key)
    return seal(kek, key, _WRAP_LABEL + context, random=random)


def unwrap_key(kek: bytes, wrapped: bytes, context: bytes) -> bytes:
    """The key inside ``wrapped``; raises :class:`AeadError` unless it is intact and bound to
    ``context``."""
    if len(wrapped) != KEY_BYTES + OVERHEAD:
        raise AeadError("cannot open sealed data")
    return open_sealed(kek, wrapped, _WRAP_LABEL + context)


def key_fingerprint(key: bytes, label: str) -> str:
    """A short public name for a secret key: HMAC-SHA256(key, label), 64 bits in hex.

    A keyed hash, not a hash of the key, so the name reveals nothing a guesser could
    test offline without the key itself.
    """
    _check_key(key)
    return hmac.new(key, label.encode(), hashlib.sha256).hexdigest()[:16]


def _check_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"an AES-256 key is {KEY_BYTES} bytes, not {len(key)}")
