"""E2E key pairs of devices and apps, and the public records others seal to.

An owner (a device or an app, inside one tenant) holds an X25519 key pair; only the
public half ever leaves it, as a :class:`PublicKeyRecord` published to the hub's key
directory. A key is named by an 8-byte id derived from the public key, so nobody can
claim an id for a key they do not have, and the envelope header stays compact.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Final

from fleetward.crypto.hpke import HpkePrivateKey
from fleetward.errors import InvalidInputError

__all__ = [
    "KEY_ID_LEN",
    "PUBLIC_KEY_LEN",
    "E2EKeyPair",
    "KeyOwner",
    "OwnerKind",
    "PublicKeyRecord",
    "key_id_for",
]

KEY_ID_LEN: Final = 8
PUBLIC_KEY_LEN: Final = 32
MAX_ID_BYTES: Final = 128
_KEY_ID_LABEL: Final = b"fleetward-e2e/v1 key id\x00"


class OwnerKind(enum.IntEnum):
    """Who holds a key; the number is its wire value (``docs/e2e-format.md``)."""

    DEVICE = 1
    APP = 2


def key_id_for(public_key: bytes) -> bytes:
    """``SHA-256("fleetward-e2e/v1 key id" || 0x00 || public_key)[:8]``."""
    if len(public_key) != PUBLIC_KEY_LEN:
        raise InvalidInputError("an E2E public key is 32 bytes", code="e2e.key_invalid")
    return hashlib.sha256(_KEY_ID_LABEL + public_key).digest()[:KEY_ID_LEN]


def _check_id(value: str, what: str) -> None:
    raw = value.encode()
    if not raw or len(raw) > MAX_ID_BYTES or not value.isprintable():
        raise InvalidInputError(
            f"{what} must be 1 to {MAX_ID_BYTES} printable bytes", code="e2e.owner_invalid"
        )


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """The tenant-scoped identity that holds an E2E key."""

    tenant_id: str
    kind: OwnerKind
    owner_id: str

    def __post_init__(self) -> None:
        _check_id(self.tenant_id, "tenant id")
        _check_id(self.owner_id, "owner id")
        if not isinstance(self.kind, OwnerKind):
            raise InvalidInputError("unknown owner kind", code="e2e.owner_invalid")


@dataclass(frozen=True, slots=True)
class PublicKeyRecord:
    """A public key with its owner and id: what a sender seals to, what a receiver trusts."""

    owner: KeyOwner
    public_key: bytes
    key_id: bytes

    @classmethod
    def of(cls, owner: KeyOwner, public_key: bytes) -> PublicKeyRecord:
        """The record for ``public_key``; its id is derived, never supplied."""
        return cls(owner=owner, public_key=bytes(public_key), key_id=key_id_for(public_key))

    def __post_init__(self) -> None:
        if key_id_for(self.public_key) != self.key_id:
            raise InvalidInputError("key id does not match the key", code="e2e.key_invalid")


class E2EKeyPair:
    """An owner's private E2E key. Lives on the device or in the app, never in the hub."""

    __slots__ = ("_secret", "record")

    def __init__(self, owner: KeyOwner, secret: HpkePrivateKey) -> None:
        self._secret = secret
        self.record = PublicKeyRecord.of(owner, secret.public)

    @classmethod
    def generate(cls, owner: KeyOwner) -> E2EKeyPair:
        """A fresh key pair from the OS CSPRNG."""
        return cls(owner, HpkePrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, owner: KeyOwner, raw: bytes) -> E2EKeyPair:
        """Reload a key the owner stored with :meth:`private_bytes`."""
        return cls(owner, HpkePrivateKey.from_bytes(raw))

    @property
    def owner(self) -> KeyOwner:
        """Who holds this key."""
        return self.record.owner

    @property
    def key_id(self) -> bytes:
        """The 8-byte id of the public key."""
        return self.record.key_id

    def private_bytes(self) -> bytes:
        """The 32 raw private-key bytes, for the owner's own protected storage."""
        return self._secret.to_bytes()

    def hpke_key(self) -> HpkePrivateKey:
        """The HPKE private key, for :mod:`fleetward.e2e.envelope`."""
        return self._secret

    def __repr__(self) -> str:
        return f"E2EKeyPair(owner={self.owner!r}, key_id={self.key_id.hex()})"
