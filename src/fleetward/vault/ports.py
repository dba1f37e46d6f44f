"""The vault's vocabulary: whose data, the stored data-key record, errors, storage port.

A data key (DEK) belongs to one owner of one tenant. Storage keeps it only wrapped by
the key-encryption key (KEK), which lives elsewhere (see :mod:`fleetward.vault.providers`).
Shredding keeps a tombstone row (no key material, ``shredded_at`` set) so that nothing
can quietly start encrypting for an erased owner again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from fleetward.errors import ConflictError, FleetwardError, NotFoundError, UnavailableError

__all__ = [
    "DataKeyRecord",
    "DataKeyStorage",
    "KekMismatchError",
    "KeyProviderError",
    "OwnerRef",
    "OwnerShreddedError",
    "UndecryptableError",
    "UnknownOwnerError",
    "VaultError",
]


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """The owner whose data is sealed: always with its tenant, never one without the other."""

    tenant_id: str
    owner_id: str


@dataclass(frozen=True, slots=True)
class DataKeyRecord:
    """One stored data key. ``wrapped_key`` is ``None`` once shredded."""

    dek_id: str  # 32 lower-case hex digits (the 16 bytes a blob carries)
    owner: OwnerRef
    wrapped_key: bytes | None
    kek_id: str
    created_at: dt.datetime
    shredded_at: dt.datetime | None = None

    def __repr__(self) -> str:  # wrapped keys are not secret, but they are not for logs either
        return (
            f"DataKeyRecord(dek_id={self.dek_id!r}, owner={self.owner!r}, "
            f"kek_id={self.kek_id!r}, shredded={self.shredded_at is not None})"
        )


class VaultError(FleetwardError):
    """Encryption at rest failed."""

    code = "vault.error"


class UndecryptableError(VaultError):
    """A blob cannot be decrypted for this owner and associated data.

    One opaque error whatever the cause (tampered bytes, another owner's blob, wrong
    associated data, a shredded or unknown key), so callers cannot probe which.
    """

    code = "vault.undecryptable"


class KekMismatchError(VaultError):
    """A data key is wrapped by another KEK than the configured one."""

    code = "vault.kek_mismatch"


class KeyProviderError(UnavailableError):
    """The key provider (key file, HSM) failed to wrap or unwrap."""

    code = "vault.provider_failed"


class OwnerShreddedError(ConflictError):
    """The owner's data key was destroyed; nothing is encrypted for it again."""

    code = "vault.shredded"


class UnknownOwnerError(NotFoundError):
    """No such owner in this tenant (a data key needs an existing owner)."""

    code = "vault.unknown_owner"


class DataKeyStorage(Protocol):
    """Where wrapped data keys live (the SQL adapter, or memory in unit tests).

    Every method raises :class:`~fleetward.errors.StorageError` when the database fails.
    """

    def for_owner(self, owner: OwnerRef) -> DataKeyRecord | None:
        """The owner's data key (live or shredded), or ``None``."""
        ...

    def insert(self, record: DataKeyRecord) -> DataKeyRecord:
        """Store ``record`` unless the owner already has a key; return the one stored.

        Raises :class:`UnknownOwnerError` when the owner does not exist.
        """
        ...

    def rewrap(self, dek_id: str, old_kek_id: str, wrapped_key: bytes, kek_id: str) -> bool:
        """Replace a live key's wrapping if it is still under ``old_kek_id`` (compare and set)."""
        ...

    def shred(self, owner: OwnerRef, dek_id: str, now: dt.datetime) -> bool:
        """Destroy the owner's wrapped key, or record a tombstone under ``dek_id`` if it had
        none; whether a live key was destroyed. Overwrites the bytes where the database can."""
        ...

    def live_keys(self, *, after: str | None, limit: int) -> Sequence[DataKeyRecord]:
        """Live (unshredded) keys in ``dek_id`` order, after ``after`` (keyset pages)."""
        ...

    def kek_counts(self) -> Mapping[str, int]:
        """How many live keys each KEK wraps."""
        ...
