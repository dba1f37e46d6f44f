"""The vault's key cache: shredding and KEK rotation invalidate it at once, races included."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.clock import ManualClock
from fleetward.vault import (
    DataKeyRecord,
    MemoryDataKeys,
    OwnerRef,
    OwnerShreddedError,
    UndecryptableError,
    Vault,
)

from ._world import ALICE, BOB, new_kek

HOUR = dt.timedelta(hours=1)


class _CountingKek:
    """A real KEK that counts its unwraps (how often the vault missed its cache)."""

    def __init__(self) -> None:
        self.inner = new_kek()
        self.unwraps = 0

    @property
    def kek_id(self) -> str:
        return self.inner.kek_id

    def wrap(self, key: bytes, context: bytes) -> bytes:
        return self.inner.wrap(key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        self.unwraps += 1
        return self.inner.unwrap(wrapped, context)


class _ShredDuringRead(MemoryDataKeys):
    """Storage where a shred lands between a lookup's read and its caching (the race)."""

    vault: Vault | None = None
    armed = False

    def for_owner(self, owner: OwnerRef) -> DataKeyRecord | None:
        record = super().for_owner(owner)  # still live when read...
        if self.armed and self.vault is not None:
            self.armed = False
            self.vault.shred(owner)  # ...shredded before the reader caches it
        return record


def test_the_cache_spares_unwraps_until_the_ttl(clock: ManualClock) -> None:
    kek = _CountingKek()
    vault = Vault(MemoryDataKeys(), kek, clock, cache_ttl=HOUR)
    for _ in range(5):
        vault.encrypt_many(ALICE, [(b"x", b"a")] * 10)
    blob = vault.encrypt(ALICE, b"x", b"a")
    assert vault.decrypt(ALICE, blob, b"a") == b"x"
    assert kek.unwraps == 1
    clock.advance(HOUR)
    vault.encrypt(ALICE, b"x", b"a")
    assert kek.unwraps == 2


def test_shred_drops_the_cached_key_in_the_same_call(clock: ManualClock) -> None:
    vault = Vault(MemoryDataKeys(), new_kek(), clock, cache_ttl=HOUR)
    blob = vault.encrypt(ALICE, b"history", b"row")
    kept = vault.encrypt(BOB, b"bob", b"row")
    assert ALICE in vault._cache
    vault.shred(ALICE)
    assert ALICE not in vault._cache  # gone now, not at the TTL
    assert BOB in vault._cache  # other owners keep theirs
    with pytest.raises(UndecryptableError):
        vault.decrypt(ALICE, blob, b"row")
    with pytest.raises(OwnerShreddedError):  # no fresh key for an erased owner: by design
        vault.encrypt_many(ALICE, [(b"new", b"row")])
    assert ALICE not in vault._cache
    assert vault.decrypt(BOB, kept, b"row") == b"bob"


def test_a_lookup_racing_a_shred_does_not_cache_the_dead_key(clock: ManualClock) -> None:
    storage = _ShredDuringRead()
    vault = Vault(storage, new_kek(), clock, cache_ttl=HOUR)
    storage.vault = vault
    blob = vault.encrypt(ALICE, b"history", b"row")
    vault._cache.clear()  # the next use reads storage
    storage.armed = True
    # the call in flight read the key before the shred committed: it may finish...
    assert vault.decrypt(ALICE, blob, b"row") == b"history"
    # ...but the key must not outlive it in the cache
    assert ALICE not in vault._cache
    with pytest.raises(UndecryptableError):
        vault.decrypt(ALICE, blob, b"row")
    with pytest.raises(OwnerShreddedError):
        vault.encrypt(ALICE, b"again", b"row")


def test_rotation_empties_the_cache_and_unwraps_again_under_the_new_kek(
    clock: ManualClock,
) -> None:
    storage = MemoryDataKeys()
    vault = Vault(storage, new_kek(), clock, cache_ttl=HOUR)
    blobs = {o: vault.encrypt(o, o.owner_id.encode(), b"row") for o in (ALICE, BOB)}
    assert len(vault._cache) == 2
    new = _CountingKek()
    vault.rotate_kek(new)
    assert len(vault._cache) == 0
    unwraps = new.unwraps  # the rotation's own read-back checks
    assert vault.decrypt(ALICE, blobs[ALICE], b"row") == b"alice"
    assert vault.decrypt(BOB, blobs[BOB], b"row") == b"bob"
    assert new.unwraps == unwraps + 2  # each key came back through the new KEK
    vault.decrypt(ALICE, blobs[ALICE], b"row")
    assert new.unwraps == unwraps + 2  # and is cached again
