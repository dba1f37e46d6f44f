"""HPKE (RFC 9180) building blocks shared by :mod:`fleetward.crypto.hpke`: the error, the
ciphersuites, the key-schedule output and the encryption contexts (§5.2, §5.3).

Private: import them from :mod:`fleetward.crypto.hpke`, which re-exports the public ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fleetward.crypto._hkdf import labeled_expand
from fleetward.errors import FleetwardError

KEM_X25519_HKDF_SHA256: Final = 0x0020  # §7.1, table 2
KDF_HKDF_SHA256: Final = 0x0001  # §7.2, table 3
AEAD_AES_128_GCM: Final = 0x0001  # §7.3, table 5
AEAD_AES_256_GCM: Final = 0x0002
N_N: Final = 12  # AES-GCM nonce
N_T: Final = 16  # AES-GCM tag
N_H: Final = 32  # HKDF-SHA256 output
MAX_SEQ: Final = (1 << (8 * N_N)) - 1


class HpkeError(FleetwardError):
    """An HPKE operation failed. Opening says only *that* it failed, never why."""

    code = "crypto.hpke_open_failed"
    http_status = 422
    title = "Cannot open"


@dataclass(frozen=True, slots=True)
class HpkeSuite:
    """A ciphersuite of this module: the KEM and KDF are fixed, the AEAD varies."""

    aead_id: int

    def __post_init__(self) -> None:
        if self.aead_id not in (AEAD_AES_128_GCM, AEAD_AES_256_GCM):
            raise ValueError(f"unsupported AEAD id {self.aead_id:#06x}")

    @property
    def nk(self) -> int:
        """AEAD key length in bytes (§7.3)."""
        return 16 if self.aead_id == AEAD_AES_128_GCM else 32

    @property
    def suite_id(self) -> bytes:
        """``"HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)`` (§5.1)."""
        return (
            b"HPKE"
            + KEM_X25519_HKDF_SHA256.to_bytes(2, "big")
            + KDF_HKDF_SHA256.to_bytes(2, "big")
            + self.aead_id.to_bytes(2, "big")
        )


@dataclass(frozen=True, slots=True)
class _Schedule:
    key_schedule_context: bytes
    secret: bytes
    key: bytes
    base_nonce: bytes
    exporter_secret: bytes


class _Context:
    __slots__ = ("_aead", "_base_nonce", "_exporter_secret", "_seq", "_suite")

    def __init__(self, suite: HpkeSuite, schedule: _Schedule) -> None:
        self._suite = suite
        self._aead = AESGCM(schedule.key)
        self._base_nonce = int.from_bytes(schedule.base_nonce, "big")
        self._exporter_secret = schedule.exporter_secret
        self._seq = 0  # tests may set it (the RFC vectors skip numbers); nothing else may

    @property
    def seq(self) -> int:
        """The sequence number of the next message (§5.2)."""
        return self._seq

    def _nonce(self) -> bytes:
        # ComputeNonce: base_nonce XOR I2OSP(seq, Nn).
        return (self._base_nonce ^ self._seq).to_bytes(N_N, "big")

    def _nonce_at(self, seq: int) -> bytes:
        if not 0 <= seq < MAX_SEQ:  # §5.2: the sequence number must not wrap
            raise HpkeError("sequence number out of range", code="crypto.hpke_message_limit")
        return (self._base_nonce ^ seq).to_bytes(N_N, "big")

    def _increment(self) -> None:
        if self._seq >= MAX_SEQ:
            raise HpkeError("message limit reached", code="crypto.hpke_message_limit")
        self._seq += 1

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """``Context.Export`` (§5.3): a secret of ``length`` bytes bound to this context."""
        if not 0 <= length <= 255 * N_H:
            raise HpkeError("export too long", code="crypto.hpke_export_too_long")
        sid = self._suite.suite_id
        return labeled_expand(sid, self._exporter_secret, b"sec", exporter_context, length)


class SenderContext(_Context):
    """``ContextS``: seals messages in order; each one uses the next nonce."""

    __slots__ = ()

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        """``ContextS.Seal(aad, pt)``: ciphertext with its 16-byte tag appended."""
        if self._seq >= MAX_SEQ:
            raise HpkeError("message limit reached", code="crypto.hpke_message_limit")
        ct = self._aead.encrypt(self._nonce(), plaintext, aad)
        self._increment()
        return ct

    def seal_at(self, seq: int, aad: bytes, plaintext: bytes) -> bytes:
        """What :meth:`seal` returns when the context's sequence number is ``seq`` (§5.2).

        For senders that carry ``seq`` in the message so the recipient can open out of
        order (:meth:`RecipientContext.open_at`). The caller MUST use each ``seq`` at
        most once per context: a repeated nonce under one AES-GCM key loses both
        confidentiality and integrity. Does not touch :attr:`seq`.
        """
        return self._aead.encrypt(self._nonce_at(seq), plaintext, aad)


class RecipientContext(_Context):
    """``ContextR``: opens messages in the sender's order; a failure does not advance it."""

    __slots__ = ()

    def open(self, aad: bytes, ciphertext: bytes) -> bytes:
        """``ContextR.Open(aad, ct)``; raises :class:`HpkeError` on any failure."""
        if self._seq >= MAX_SEQ:
            raise HpkeError("message limit reached", code="crypto.hpke_message_limit")
        try:
            pt = self._aead.decrypt(self._nonce(), ciphertext, aad)
        except (InvalidTag, ValueError, OverflowError) as e:
            raise HpkeError("cannot open") from e
        self._increment()
        return pt

    def open_at(self, seq: int, aad: bytes, ciphertext: bytes) -> bytes:
        """``ContextR.Open`` at sequence number ``seq`` (§5.2), in any order.

        Opening a ``seq`` twice is not refused here: the caller's replay window must do
        that. Raises :class:`HpkeError` on any failure; does not touch :attr:`seq`.
        """
        try:
            return self._aead.decrypt(self._nonce_at(seq), ciphertext, aad)
        except (InvalidTag, ValueError, OverflowError) as e:
            raise HpkeError("cannot open") from e
