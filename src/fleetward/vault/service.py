"""The vault: per-owner data keys, envelope encryption at rest, KEK rotation, shredding.

Each owner gets one random AES-256 data key (DEK) on first use. Storage holds it only
wrapped by the key provider's KEK; the unwrapped key is cached in memory (bounded in
count and in age). Blobs name the DEK that sealed them (:mod:`fleetward.vault.blob`).

* KEK rotation re-wraps every live DEK under the new KEK; no blob is touched, because
  the DEKs themselves do not change. It is resumable: keys already under the new KEK are
  skipped, so a rotation cut short is finished by running it again.
* Shredding destroys the owner's wrapped DEK (crypto-shredding, NIST SP 800-88 r1
  §2.6 "cryptographic erase"): every blob sealed for that owner, in any table, backup or
  replica, becomes undecryptable at once, without finding and deleting each one.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleetward.clock import Clock
from fleetward.crypto import new_key
from fleetward.crypto.aead import RandomBytes
from fleetward.errors import InvalidInputError
from fleetward.vault.blob import (
    DEK_ID_BYTES,
    blob_dek_id,
    dek_context,
    open_blob,
    seal_blob,
    seal_blobs,
)
from fleetward.vault.ports import (
    DataKeyRecord,
    DataKeyStorage,
    KekMismatchError,
    OwnerRef,
    OwnerShreddedError,
    UndecryptableError,
)
from fleetward.vault.providers import KeyProvider

__all__ = ["RotationReport", "Vault"]

_ROTATION_PAGE = 500


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What a KEK rotation did."""

    old_kek_id: str
    new_kek_id: str
    rewrapped: int
    already_current: int


@dataclass(frozen=True, slots=True)
class _Cached:
    dek_id: str
    key: bytes
    loaded_at: dt.datetime


class Vault:
    """Encrypts and decrypts owners' data at rest; the API other services use."""

    __slots__ = (
        "_cache",
        "_cache_size",
        "_cache_ttl",
        "_clock",
        "_generation",
        "_lock",
        "_max_plaintext",
        "_provider",
        "_random",
        "_storage",
    )

    def __init__(
        self,
        storage: DataKeyStorage,
        provider: KeyProvider,
        clock: Clock,
        *,
        cache_size: int = 1024,
        cache_ttl: dt.timedelta = dt.timedelta(minutes=5),
        max_plaintext: int = 64 << 20,
        random: RandomBytes = os.urandom,
    ) -> None:
        self._storage = storage
        self._provider = provider
        self._clock = clock
        self._cache: OrderedDict[OwnerRef, _Cached] = OrderedDict()
        self._cache_size = cache_size
        self._cache_ttl = cache_ttl
        self._max_plaintext = max_plaintext
        self._random = random
        self._lock = threading.Lock()
        self._generation = 0
        """Bumped (under ``_lock``) by :meth:`shred` and :meth:`rotate_kek`: a key read from
        storage before a bump is used for the call in flight but never cached."""

    @property
    def kek_id(self) -> str:
        """The id of the KEK now in use."""
        return self._provider.kek_id

    def check(self) -> Mapping[str, int]:
        """Refuse to run with a KEK that does not wrap the stored keys (run at hub start).

        Returns live keys per KEK id. Raises :class:`KekMismatchError` naming the KEK ids
        found when any live key is wrapped by another KEK: the wrong key file or token is
        configured, or a rotation was cut short (finish it with the old KEK configured).
        """
        counts = dict(self._storage.kek_counts())
        foreign = {k: n for k, n in counts.items() if k != self._provider.kek_id}
        if foreign:
            listing = ", ".join(f"{n} under {k}" for k, n in sorted(foreign.items()))
            raise KekMismatchError(
                f"the configured KEK {self._provider.kek_id} does not wrap every data key "
                f"({listing}); configure the KEK that wrapped them, or finish the rotation"
            )
        return counts

    def ensure_key(self, owner: OwnerRef) -> None:
        """Create the owner's DEK now if it has none (same errors as :meth:`encrypt`).

        A first :meth:`encrypt` writes the key in its own transaction; on SQLite, call
        this (or encrypt) before opening a write transaction that will store the blob.
        """
        self._key_for(owner, create=True)

    def encrypt(self, owner: OwnerRef, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Seal ``plaintext`` for ``owner``; ``aad`` (say, table, column and row id) must be
        given again to decrypt. Creates the owner's DEK on first use.

        Raises :class:`OwnerShreddedError` for a shredded owner, :class:`UnknownOwnerError`
        for an owner that does not exist, :class:`InvalidInputError` past the size bound.
        """
        if len(plaintext) > self._max_plaintext:
            raise InvalidInputError(
                f"plaintext of {len(plaintext)} bytes exceeds {self._max_plaintext}",
                code="vault.too_large",
            )
        cached = self._key_for(owner, create=True)
        return seal_blob(cached.key, cached.dek_id, owner, plaintext, aad, self._random)

    def encrypt_many(self, owner: OwnerRef, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """:meth:`encrypt` of each ``(plaintext, aad)`` for one owner, with one key lookup
        (batched ingest). Same errors as :meth:`encrypt`."""
        for plaintext, _aad in items:
            if len(plaintext) > self._max_plaintext:
                raise InvalidInputError(
                    f"plaintext of {len(plaintext)} bytes exceeds {self._max_plaintext}",
                    code="vault.too_large",
                )
        cached = self._key_for(owner, create=True)
        return seal_blobs(cached.key, cached.dek_id, owner, items, self._random)

    def decrypt(self, owner: OwnerRef, blob: bytes, aad: bytes = b"") -> bytes:
        """Open a blob sealed for ``owner`` with the same ``aad``.

        Raises :class:`UndecryptableError`, one opaque error, when the blob is damaged,
        belongs to someone else, has other associated data, or its key was shredded.
        """
        dek_id = blob_dek_id(blob)
        try:
            cached = self._key_for(owner, create=False)
        except OwnerShreddedError:
            raise UndecryptableError("cannot decrypt") from None
        if cached.dek_id != dek_id:
            raise UndecryptableError("cannot decrypt")
        return open_blob(cached.key, owner, blob, aad)

    def is_shredded(self, owner: OwnerRef) -> bool:
        """Whether the owner's data key was destroyed."""
        record = self._storage.for_owner(owner)
        return record is not None and record.shredded_at is not None

    def shred(self, owner: OwnerRef) -> bool:
        """Destroy the owner's DEK: their blobs can never be decrypted again.

        Leaves a tombstone so no new DEK is made for this owner. Returns whether a live
        key was destroyed (``False`` if there was none or it was already shredded).
        This vault stops using the key before this returns (the cached key is dropped
        before and after the storage write, and a lookup racing it does not re-cache it);
        other processes stop decrypting within ``cache_ttl``.
        """
        self._forget(owner)
        try:
            return self._storage.shred(owner, self._new_dek_id(), self._clock.now())
        finally:
            self._forget(owner)

    def rotate_kek(self, new: KeyProvider) -> RotationReport:
        """Re-wrap every live DEK under ``new``, then use ``new``; data stays as it is.

        Each key is unwrapped with the current KEK, wrapped with the new one, checked to
        unwrap again, and written compare-and-set (a key shredded meanwhile stays
        shredded). Raises :class:`KekMismatchError` if a key is under a third KEK.
        """
        old = self._provider
        if new.kek_id == old.kek_id:
            raise InvalidInputError(
                f"the new KEK is the current one ({old.kek_id})", code="vault.same_kek"
            )
        rewrapped = already = 0
        after: str | None = None
        while True:
            page = self._storage.live_keys(after=after, limit=_ROTATION_PAGE)
            for record in page:
                if record.kek_id == new.kek_id:
                    already += 1
                    continue
                if self._rewrap(record, old, new):
                    rewrapped += 1
            if len(page) < _ROTATION_PAGE:
                break
            after = page[-1].dek_id
        with self._lock:  # cached DEKs are unchanged, but each is unwrapped again under
            self._provider = new  # the new KEK before use: a bad re-wrap shows at once
            self._generation += 1
            self._cache.clear()
        return RotationReport(old.kek_id, new.kek_id, rewrapped, already)

    def _rewrap(self, record: DataKeyRecord, old: KeyProvider, new: KeyProvider) -> bool:
        if record.kek_id != old.kek_id or record.wrapped_key is None:
            raise KekMismatchError(
                f"data key {record.dek_id} is under KEK {record.kek_id}, neither the current "
                f"({old.kek_id}) nor the new one ({new.kek_id})"
            )
        context = dek_context(record.dek_id, record.owner)
        dek = old.unwrap(record.wrapped_key, context)
        wrapped = new.wrap(dek, context)
        if new.unwrap(wrapped, context) != dek:  # never store what cannot be read back
            raise KekMismatchError(f"the new KEK {new.kek_id} does not unwrap what it wrapped")
        return self._storage.rewrap(record.dek_id, old.kek_id, wrapped, new.kek_id)

    def _key_for(self, owner: OwnerRef, *, create: bool) -> _Cached:
        now = self._clock.now()
        with self._lock:
            cached = self._cache.get(owner)
            if cached is not None and now - cached.loaded_at < self._cache_ttl:
                self._cache.move_to_end(owner)
                return cached
            generation = self._generation
        record = self._storage.for_owner(owner)
        if record is None:
            if not create:
                raise UndecryptableError("cannot decrypt")
            record = self._create(owner, now)
        if record.shredded_at is not None or record.wrapped_key is None:
            raise OwnerShreddedError(
                f"the data key of owner {owner.owner_id} was shredded", code="vault.shredded"
            )
        if record.kek_id != self._provider.kek_id:
            raise KekMismatchError(
                f"data key {record.dek_id} is under KEK {record.kek_id}, not the configured "
                f"{self._provider.kek_id}"
            )
        key = self._provider.unwrap(record.wrapped_key, dek_context(record.dek_id, owner))
        fresh = _Cached(record.dek_id, key, now)
        if self._cache_size > 0 and self._cache_ttl > dt.timedelta(0):
            with self._lock:
                if generation == self._generation:  # no shred or rotation since the read
                    self._cache[owner] = fresh
                    self._cache.move_to_end(owner)
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return fresh

    def _forget(self, owner: OwnerRef) -> None:
        with self._lock:
            self._generation += 1
            self._cache.pop(owner, None)

    def _create(self, owner: OwnerRef, now: dt.datetime) -> DataKeyRecord:
        dek_id = self._new_dek_id()
        dek = new_key(self._random)
        record = DataKeyRecord(
            dek_id=dek_id,
            owner=owner,
            wrapped_key=self._provider.wrap(dek, dek_context(dek_id, owner)),
            kek_id=self._provider.kek_id,
            created_at=now,
        )
        return self._storage.insert(record)  # another writer's key if it won the race

    def _new_dek_id(self) -> str:
        return self._random(DEK_ID_BYTES).hex()
