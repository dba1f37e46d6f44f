"""Single-use content keys for multi-recipient envelopes (AES-256-GCM, NIST SP 800-38D).

A content key encrypts exactly one message, so its nonce can be fixed at zero: the
(key, nonce) pair is never reused, which is the only GCM requirement (SP 800-38D §8).
The key itself travels to each recipient inside an HPKE envelope.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fleetward.crypto.hpke import HpkeError

__all__ = ["CONTENT_KEY_LEN", "new_content_key", "open_once", "seal_once"]

CONTENT_KEY_LEN: Final = 32
_ZERO_NONCE: Final = bytes(12)


def new_content_key() -> bytes:
    """32 fresh bytes from the OS CSPRNG."""
    return os.urandom(CONTENT_KEY_LEN)


def seal_once(key: bytes, aad: bytes, plaintext: bytes) -> bytes:
    """Encrypt with a key that is never used again; the 16-byte tag is appended."""
    return AESGCM(key).encrypt(_ZERO_NONCE, plaintext, aad)


def open_once(key: bytes, aad: bytes, ciphertext: bytes) -> bytes:
    """Decrypt :func:`seal_once` output; any failure is :class:`HpkeError`."""
    try:
        return AESGCM(key).decrypt(_ZERO_NONCE, ciphertext, aad)
    except (InvalidTag, ValueError) as e:
        raise HpkeError("cannot open") from e
