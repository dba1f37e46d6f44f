"""HPKE (RFC 9180) for one KEM: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-GCM.

Base mode (§5.1.1) and auth mode (§5.1.3), the single-shot API (§6) and the context API
with its nonce schedule (§5.2) and secret export (§5.3), composed from ``cryptography``
primitives: X25519 for the DH, HMAC-SHA256 (stdlib ``hmac``, backed by OpenSSL) for
HKDF-Extract/Expand (RFC 5869) and ``AESGCM`` for the AEAD.

Why composed rather than ``cryptography.hazmat.primitives.hpke``: that module (cryptography
50) offers base mode only, single-shot only, and takes no associated data in its public
API. Fleetward's envelope needs auth mode (the sender is authenticated by its static
X25519 key) and the topic bound as AAD; see ``docs/decisions/0005-e2e-envelope.md``.
The base mode here is checked against it in the tests, both ways.

The ephemeral key is always fresh from the OS CSPRNG; the only way to inject one is the
private :func:`_setup_sender` seam, used by the RFC 9180 Appendix A known-answer tests.
Every failure to open is one :class:`HpkeError` (``crypto.hpke_open_failed``).
"""

from __future__ import annotations

import contextlib
import functools
import hmac
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from fleetward.crypto._hkdf import N_H, labeled_expand, labeled_extract
from fleetward.crypto._hpke_context import (
    AEAD_AES_128_GCM,
    AEAD_AES_256_GCM,
    KEM_X25519_HKDF_SHA256,
    N_N,
    N_T,
    HpkeError,
    HpkeSuite,
    RecipientContext,
    SenderContext,
    _Schedule,
)

__all__ = [
    "MODE_AUTH",
    "MODE_BASE",
    "N_N",
    "N_PK",
    "N_T",
    "SUITE_X25519_SHA256_AES128GCM",
    "SUITE_X25519_SHA256_AES256GCM",
    "HpkeError",
    "HpkePrivateKey",
    "HpkeSuite",
    "RecipientContext",
    "SenderContext",
    "open_auth",
    "open_base",
    "seal_auth",
    "seal_base",
    "setup_auth_recipient",
    "setup_auth_sender",
    "setup_base_recipient",
    "setup_base_sender",
]

MODE_BASE: Final = 0x00  # RFC 9180 §5, table 1
MODE_AUTH: Final = 0x02

N_SECRET: Final = 32  # DHKEM(X25519): Nsecret = Npk = Nsk = Nenc = 32
N_PK: Final = 32
_KEM_SUITE_ID: Final = b"KEM" + KEM_X25519_HKDF_SHA256.to_bytes(2, "big")  # §4.1
_ZERO_DH: Final = bytes(32)
_STATIC_CACHE: Final = 256  # peers whose static-static DH a key keeps
SUITE_X25519_SHA256_AES128GCM: Final = HpkeSuite(AEAD_AES_128_GCM)
SUITE_X25519_SHA256_AES256GCM: Final = HpkeSuite(AEAD_AES_256_GCM)


# -- keys and DHKEM (§4.1, §7.1) -----------------------------------------------------------


class HpkePrivateKey:
    """An X25519 private key for HPKE. Its bytes leave only through :meth:`to_bytes`."""

    __slots__ = ("_key", "_static", "public")

    def __init__(self, key: X25519PrivateKey) -> None:
        self._key = key
        self.public: bytes = key.public_key().public_bytes_raw()
        self._static: dict[bytes, bytes] = {}

    @classmethod
    def generate(cls) -> HpkePrivateKey:
        """A fresh key from the OS CSPRNG."""
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> HpkePrivateKey:
        """Load 32 raw private-key bytes (``DeserializePrivateKey``, §7.1.2)."""
        if len(raw) != N_PK:
            raise HpkeError("an X25519 private key is 32 bytes", code="crypto.hpke_invalid_key")
        return cls(X25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def derive(cls, ikm: bytes) -> HpkePrivateKey:
        """``DeriveKeyPair(ikm)`` for X25519 (§7.1.3): deterministic, for seeds and vectors."""
        if len(ikm) < N_SECRET:
            raise HpkeError("ikm shorter than Nsk", code="crypto.hpke_invalid_key")
        prk = labeled_extract(_KEM_SUITE_ID, b"", b"dkp_prk", ikm)
        return cls.from_bytes(labeled_expand(_KEM_SUITE_ID, prk, b"sk", b"", N_SECRET))

    def to_bytes(self) -> bytes:
        """The 32 raw private-key bytes (``SerializePrivateKey``), for the owner's own store."""
        return self._key.private_bytes_raw()

    def _dh(self, public: bytes) -> bytes:
        if len(public) != N_PK:
            raise HpkeError("an X25519 public key is 32 bytes", code="crypto.hpke_invalid_key")
        try:
            shared = self._key.exchange(X25519PublicKey.from_public_bytes(public))
        except ValueError as e:  # OpenSSL refuses low-order points
            raise HpkeError("DH failed", code="crypto.hpke_invalid_key") from e
        if hmac.compare_digest(shared, _ZERO_DH):  # §7.1.4: all-zero output is an error
            raise HpkeError("DH output is zero", code="crypto.hpke_invalid_key")
        return shared

    def _static_dh(self, public: bytes) -> bytes:
        # The auth-mode DH between two static keys is the same for every message between
        # them, so it is kept (bounded, oldest out): it saves one of the five X25519
        # operations on each side. It is as secret as this key and lives as long.
        shared = self._static.get(public)
        if shared is None:
            shared = self._dh(public)
            if len(self._static) >= _STATIC_CACHE:
                # another thread may evict at the same time; losing that race is harmless
                with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                    del self._static[next(iter(self._static))]
            self._static[public] = shared
        return shared


def _extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = labeled_extract(_KEM_SUITE_ID, b"", b"eae_prk", dh)
    return labeled_expand(_KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, N_SECRET)


def _encap(pk_r: bytes, sk_e: HpkePrivateKey, sk_s: HpkePrivateKey | None) -> tuple[bytes, bytes]:
    """``Encap`` (§4.1) or ``AuthEncap`` (when ``sk_s`` is given): ``(shared_secret, enc)``."""
    dh = sk_e._dh(pk_r)
    enc = sk_e.public
    kem_context = enc + pk_r
    if sk_s is not None:
        dh += sk_s._static_dh(pk_r)
        kem_context += sk_s.public
    return _extract_and_expand(dh, kem_context), enc


def _decap(enc: bytes, sk_r: HpkePrivateKey, pk_s: bytes | None) -> bytes:
    """``Decap`` or ``AuthDecap`` (§4.1): the shared secret."""
    dh = sk_r._dh(enc)
    kem_context = enc + sk_r.public
    if pk_s is not None:
        dh += sk_r._static_dh(pk_s)
        kem_context += pk_s
    return _extract_and_expand(dh, kem_context)


# -- key schedule (§5.1) -------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _schedule_context(suite: HpkeSuite, mode: int, info: bytes) -> bytes:
    # Depends on (suite, mode, info) only when there is no PSK, so it is cached: the
    # envelope uses one fixed info string, which saves two HMACs a message.
    sid = suite.suite_id
    psk_id_hash = labeled_extract(sid, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(sid, b"", b"info_hash", info)
    return bytes([mode]) + psk_id_hash + info_hash


def _key_schedule(suite: HpkeSuite, mode: int, shared_secret: bytes, info: bytes) -> _Schedule:
    """``KeySchedule`` for base and auth modes (no PSK: ``psk = psk_id = ""``)."""
    sid = suite.suite_id
    context = _schedule_context(suite, mode, bytes(info))
    secret = labeled_extract(sid, shared_secret, b"secret", b"")
    return _Schedule(
        key_schedule_context=context,
        secret=secret,
        key=labeled_expand(sid, secret, b"key", context, suite.nk),
        base_nonce=labeled_expand(sid, secret, b"base_nonce", context, N_N),
        exporter_secret=labeled_expand(sid, secret, b"exp", context, N_H),
    )


def _setup_sender(
    suite: HpkeSuite,
    pk_r: bytes,
    info: bytes,
    *,
    sk_s: HpkePrivateKey | None,
    ephemeral: HpkePrivateKey | None = None,
) -> tuple[bytes, SenderContext]:
    """Test seam: ``SetupBaseS``/``SetupAuthS`` with an injected ephemeral key (vectors only)."""
    sk_e = ephemeral if ephemeral is not None else HpkePrivateKey.generate()
    shared_secret, enc = _encap(pk_r, sk_e, sk_s)
    mode = MODE_BASE if sk_s is None else MODE_AUTH
    return enc, SenderContext(suite, _key_schedule(suite, mode, shared_secret, info))


def _setup_recipient(
    suite: HpkeSuite, enc: bytes, sk_r: HpkePrivateKey, info: bytes, pk_s: bytes | None
) -> RecipientContext:
    try:
        shared_secret = _decap(enc, sk_r, pk_s)
    except HpkeError as e:
        raise HpkeError("cannot open") from e
    mode = MODE_BASE if pk_s is None else MODE_AUTH
    return RecipientContext(suite, _key_schedule(suite, mode, shared_secret, info))


def setup_base_sender(suite: HpkeSuite, pk_r: bytes, info: bytes) -> tuple[bytes, SenderContext]:
    """``SetupBaseS(pkR, info)`` (§5.1.1): ``(enc, context)``."""
    return _setup_sender(suite, pk_r, info, sk_s=None)


def setup_base_recipient(
    suite: HpkeSuite, enc: bytes, sk_r: HpkePrivateKey, info: bytes
) -> RecipientContext:
    """``SetupBaseR(enc, skR, info)`` (§5.1.1)."""
    return _setup_recipient(suite, enc, sk_r, info, None)


def setup_auth_sender(
    suite: HpkeSuite, pk_r: bytes, info: bytes, sk_s: HpkePrivateKey
) -> tuple[bytes, SenderContext]:
    """``SetupAuthS(pkR, info, skS)`` (§5.1.3): the recipient learns the sender holds skS."""
    return _setup_sender(suite, pk_r, info, sk_s=sk_s)


def setup_auth_recipient(
    suite: HpkeSuite, enc: bytes, sk_r: HpkePrivateKey, info: bytes, pk_s: bytes
) -> RecipientContext:
    """``SetupAuthR(enc, skR, info, pkS)`` (§5.1.3)."""
    return _setup_recipient(suite, enc, sk_r, info, pk_s)


def seal_base(
    suite: HpkeSuite, pk_r: bytes, info: bytes, aad: bytes, plaintext: bytes
) -> tuple[bytes, bytes]:
    """Single-shot ``SealBase`` (§6.1): ``(enc, ciphertext)``."""
    enc, ctx = setup_base_sender(suite, pk_r, info)
    return enc, ctx.seal(aad, plaintext)


def open_base(
    suite: HpkeSuite, enc: bytes, sk_r: HpkePrivateKey, info: bytes, aad: bytes, ct: bytes
) -> bytes:
    """Single-shot ``OpenBase`` (§6.1)."""
    return setup_base_recipient(suite, enc, sk_r, info).open(aad, ct)


def seal_auth(
    suite: HpkeSuite,
    pk_r: bytes,
    info: bytes,
    aad: bytes,
    plaintext: bytes,
    sk_s: HpkePrivateKey,
) -> tuple[bytes, bytes]:
    """Single-shot ``SealAuth`` (§6.1): ``(enc, ciphertext)``."""
    enc, ctx = setup_auth_sender(suite, pk_r, info, sk_s)
    return enc, ctx.seal(aad, plaintext)


def open_auth(
    suite: HpkeSuite,
    enc: bytes,
    sk_r: HpkePrivateKey,
    info: bytes,
    aad: bytes,
    ct: bytes,
    pk_s: bytes,
) -> bytes:
    """Single-shot ``OpenAuth`` (§6.1)."""
    return setup_auth_recipient(suite, enc, sk_r, info, pk_s).open(aad, ct)
