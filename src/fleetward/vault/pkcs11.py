"""The PKCS#11 key provider: the KEK is an AES key on a token and never leaves it.

Wrapping is ``CKM_AES_GCM`` encryption of the data key by the token (PKCS#11 v2.40
§2.10.4) with a host-drawn random 96-bit nonce and the same binding context as the
other providers, so the construction matches :func:`fleetward.crypto.wrap_key`. The
key is created (``CKA_SENSITIVE``, not ``CKA_EXTRACTABLE``) on first use when asked, and
an existing key that could be extracted is refused. Debian's SoftHSM2 is the HSM in
tests; any PKCS#11 v2.40 token with AES-GCM works.

``python-pkcs11`` is the optional ``hsm`` extra: it is imported only when this provider
is built. The library reads nothing from Fleetward's settings beyond what is passed in
(SoftHSM2 itself finds its token directory through ``SOFTHSM2_CONF``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from fleetward.crypto.aead import KEY_BYTES, NONCE_BYTES, TAG_BYTES, RandomBytes
from fleetward.errors import ConfigError
from fleetward.vault.ports import KekMismatchError, KeyProviderError

if TYPE_CHECKING:
    from pkcs11 import Attribute, GCMParams, Mechanism, Session, Token

__all__ = ["SOFTHSM2_CANDIDATES", "Pkcs11KeyProvider", "find_pkcs11_module"]

SOFTHSM2_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib64/pkcs11/libsofthsm2.so"),
    Path("/opt/homebrew/lib/softhsm/libsofthsm2.so"),
)
_WRAP_LABEL = b"fleetward/pkcs11-gcm-keywrap/v1\x00"


class _AesKey(Protocol):
    """What we use of python-pkcs11's AES key object (its stubs split it into mixins)."""

    def __getitem__(self, key: Attribute) -> object: ...

    def encrypt(self, data: bytes, *, mechanism: Mechanism, mechanism_param: GCMParams) -> bytes:
        """C_Encrypt on the token."""
        ...

    def decrypt(self, data: bytes, *, mechanism: Mechanism, mechanism_param: GCMParams) -> bytes:
        """C_Decrypt on the token."""
        ...


def _login(token: Token, pin: str) -> Session:
    """A logged-in R/W session. PKCS#11 logins are per application, not per session
    (PKCS#11 v2.40 §5.6 C_Login): if this process is already logged in to the token
    (another provider during a rotation), the new session shares that login."""
    from pkcs11.exceptions import UserAlreadyLoggedIn

    try:
        return token.open(rw=True, user_pin=pin)
    except UserAlreadyLoggedIn:
        return token.open(rw=True)


def find_pkcs11_module(
    configured: Path | None, candidates: Iterable[Path] = SOFTHSM2_CANDIDATES
) -> Path:
    """The configured PKCS#11 library, or the first SoftHSM2 library found.

    Raises :class:`ConfigError` (``vault.pkcs11_module``) naming what was tried.
    """
    tried = [configured] if configured is not None else list(candidates)
    for path in tried:
        if path.is_file():
            return path
    raise ConfigError(
        "vault.pkcs11_module: no PKCS#11 library at "
        + ", ".join(str(p) for p in tried)
        + " (install softhsm2 or set vault.pkcs11_module)",
        code="vault.pkcs11_module",
    )


class Pkcs11KeyProvider:
    """Wraps data keys with a non-extractable AES-256 key held by a PKCS#11 token."""

    __slots__ = ("_kek_id", "_key", "_lock", "_random", "_session")

    def __init__(
        self,
        module: Path,
        *,
        token_label: str,
        key_label: str,
        pin: str,
        create_missing: bool = False,
        random: RandomBytes = os.urandom,
    ) -> None:
        """Open a logged-in session on the token and find (or create) the KEK.

        Raises :class:`ConfigError` when the library, token, PIN or key is unusable.
        """
        import pkcs11
        from pkcs11 import exceptions as p11e

        self._random = random
        self._lock = threading.Lock()
        where = f"token {token_label!r} via {module}"
        try:
            lib = pkcs11.lib(str(module))
            token = lib.get_token(token_label=token_label)
        except p11e.NoSuchToken:
            raise ConfigError(
                f"vault.pkcs11_token_label: no {where}", code="vault.pkcs11_token"
            ) from None
        except p11e.PKCS11Error as e:
            raise ConfigError(
                f"vault.pkcs11_module: cannot use {module}: {type(e).__name__}",
                code="vault.pkcs11_module",
            ) from e
        try:
            self._session: Session = _login(token, pin)
        except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange, p11e.PinLocked) as e:
            raise ConfigError(
                f"vault.pkcs11_pin: the PIN for {where} was refused ({type(e).__name__})",
                code="vault.pkcs11_login",
            ) from None
        except p11e.PKCS11Error as e:
            raise ConfigError(
                f"vault.pkcs11_token_label: cannot log in to {where}: {type(e).__name__}",
                code="vault.pkcs11_login",
            ) from e
        try:
            self._key = self._find_or_create(key_label, create_missing=create_missing)
        except BaseException:
            self._session.close()
            raise
        raw_id = self._key[pkcs11.Attribute.ID]
        key_id = raw_id if isinstance(raw_id, bytes) else b""
        name = key_id or hashlib.sha256(f"{token_label}/{key_label}".encode()).digest()[:8]
        self._kek_id = "p11-" + name.hex()

    @property
    def kek_id(self) -> str:
        """``p11-`` and the key's ``CKA_ID`` in hex."""
        return self._kek_id

    def wrap(self, dek: bytes, context: bytes) -> bytes:
        """``nonce || AES-GCM(kek, nonce, dek, context)``, computed inside the token."""
        from pkcs11 import GCMParams, Mechanism
        from pkcs11.exceptions import PKCS11Error

        if len(dek) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes")
        nonce = self._random(NONCE_BYTES)
        params = GCMParams(nonce, _WRAP_LABEL + context, TAG_BYTES * 8)
        try:
            with self._lock:
                sealed = self._key.encrypt(dek, mechanism=Mechanism.AES_GCM, mechanism_param=params)
        except PKCS11Error as e:
            raise KeyProviderError(f"HSM refused to wrap: {type(e).__name__}") from e
        return nonce + bytes(sealed)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """The data key, or :class:`KekMismatchError` if the token's key did not wrap it."""
        from pkcs11.exceptions import (
            DataInvalid,
            EncryptedDataInvalid,
            EncryptedDataLenRange,
            GeneralError,
            PKCS11Error,
            SignatureInvalid,
        )

        mismatch = KekMismatchError(f"data key does not unwrap with KEK {self._kek_id}")
        if len(wrapped) != NONCE_BYTES + KEY_BYTES + TAG_BYTES:
            raise mismatch
        try:
            dek = self._decrypt(wrapped, context)
        except (DataInvalid, EncryptedDataInvalid, EncryptedDataLenRange, SignatureInvalid):
            raise mismatch from None
        except GeneralError as e:
            # SoftHSM2 reports a failed GCM tag check as CKR_GENERAL_ERROR. Tell that from a
            # sick token by asking it to open something it has just sealed.
            if self._answers():
                raise mismatch from None
            raise KeyProviderError(f"HSM refused to unwrap: {type(e).__name__}") from e
        except PKCS11Error as e:
            raise KeyProviderError(f"HSM refused to unwrap: {type(e).__name__}") from e
        if len(dek) != KEY_BYTES:
            raise KekMismatchError(f"data key does not unwrap with KEK {self._kek_id}")
        return bytes(dek)

    def _decrypt(self, wrapped: bytes, context: bytes) -> bytes:
        from pkcs11 import GCMParams, Mechanism

        params = GCMParams(wrapped[:NONCE_BYTES], _WRAP_LABEL + context, TAG_BYTES * 8)
        with self._lock:
            return self._key.decrypt(
                wrapped[NONCE_BYTES:], mechanism=Mechanism.AES_GCM, mechanism_param=params
            )

    def _answers(self) -> bool:
        """Whether the token still seals and opens (a probe, no data key involved)."""
        from pkcs11.exceptions import PKCS11Error

        probe = bytes(KEY_BYTES)
        try:
            return self._decrypt(self.wrap(probe, b"probe"), b"probe") == probe
        except (PKCS11Error, KeyProviderError):
            return False

    def close(self) -> None:
        """Log out and close the session."""
        with self._lock:
            self._session.close()

    def __repr__(self) -> str:
        return f"Pkcs11KeyProvider(kek_id={self._kek_id!r})"

    def _find_or_create(self, label: str, *, create_missing: bool) -> _AesKey:
        from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass
        from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey, PKCS11Error

        try:
            key = self._session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=label)
        except MultipleObjectsReturned:
            raise ConfigError(
                f"vault.pkcs11_key_label: several AES keys are labelled {label!r}",
                code="vault.pkcs11_key",
            ) from None
        except NoSuchKey:
            if not create_missing:
                raise ConfigError(
                    f"vault.pkcs11_key_label: no AES key labelled {label!r} on the token",
                    code="vault.pkcs11_key",
                ) from None
            try:
                key = self._session.generate_key(
                    KeyType.AES,
                    KEY_BYTES * 8,
                    id=self._random(8),
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                    template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
                )
            except PKCS11Error as e:
                raise ConfigError(
                    f"vault.pkcs11_key_label: cannot create {label!r}: {type(e).__name__}",
                    code="vault.pkcs11_key",
                ) from e
        if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
            raise ConfigError(
                f"vault.pkcs11_key_label: key {label!r} can leave the token "
                "(CKA_EXTRACTABLE set or CKA_SENSITIVE unset); use a non-extractable key",
                code="vault.pkcs11_key",
            )
        return cast("_AesKey", key)
