"""HKDF-SHA256 (RFC 5869) and HPKE's labeled variants (RFC 9180 §4), for :mod:`.hpke`.

HMAC comes from the standard library (OpenSSL underneath): one call per block, no object
set-up, which matters when a message needs about ten of them.
"""

from __future__ import annotations

import hmac
from typing import Final

__all__ = ["N_H", "expand", "extract", "labeled_expand", "labeled_extract"]

N_H: Final = 32  # HKDF-SHA256 output length
_VERSION_LABEL: Final = b"HPKE-v1"  # RFC 9180 §4


def extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 §2.2); an empty salt is HashLen zeros, which HMAC pads to."""
    return hmac.digest(salt, ikm, "sha256")


def expand(prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 §2.3); ``length`` is at most 255 * 32."""
    if not 0 <= length <= 255 * N_H:
        raise ValueError("HKDF output too long")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    """``LabeledExtract(salt, label, ikm)`` (RFC 9180 §4)."""
    return extract(salt, _VERSION_LABEL + suite_id + label + ikm)


def labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    """``LabeledExpand(prk, label, info, L)`` (RFC 9180 §4)."""
    labeled_info = length.to_bytes(2, "big") + _VERSION_LABEL + suite_id + label + info
    return expand(prk, labeled_info, length)
