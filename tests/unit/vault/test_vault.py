"""The vault on in-memory key storage: blob format, refusals, shredding, rotation, caching."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.clock import ManualClock
from fleetward.errors import InvalidInputError
from fleetward.vault import (
    KekMismatchError,
    MemoryDataKeys,
    OwnerRef,
    OwnerShreddedError,
    UndecryptableError,
    Vault,
)
from fleetward.vault.blob import HEADER_BYTES, VERSION

from ._world import ALICE, BOB, new_kek

ALICE_ELSEWHERE = OwnerRef("tenant-2", "alice")


def test_round_trip_and_blob_layout(vault: Vault, storage: MemoryDataKeys) -> None:
    blob = vault.encrypt(ALICE, b"wifi password: hunter2", b"integrations/7/secret")
    record = storage.for_owner(ALICE)
    assert record is not None
    assert blob[0] == VERSION == 1
    assert blob[1:HEADER_BYTES].hex() == record.dek_id
    assert len(blob) == HEADER_BYTES + 12 + len(b"wifi password: hunter2") + 16
    assert b"hunter2" not in blob
    assert vault.decrypt(ALICE, blob, b"integrations/7/secret") == b"wifi password: hunter2"
    # one data key per owner, reused
    vault.encrypt(ALICE, b"more", b"")
    assert storage.for_owner(ALICE) == record
    assert record.kek_id == vault.kek_id
    assert record.wrapped_key is not None
    assert len(record.wrapped_key) == 60


def test_owners_get_different_keys(vault: Vault, storage: MemoryDataKeys) -> None:
    vault.encrypt(ALICE, b"a", b"")
    vault.encrypt(BOB, b"b", b"")
    a, b = storage.for_owner(ALICE), storage.for_owner(BOB)
    assert a is not None
    assert b is not None
    assert a.dek_id != b.dek_id


def _opaque(vault: Vault, owner: OwnerRef, blob: bytes, aad: bytes) -> UndecryptableError:
    with pytest.raises(UndecryptableError) as info:
        vault.decrypt(owner, blob, aad)
    assert (info.value.code, info.value.detail) == ("vault.undecryptable", "cannot decrypt")
    return info.value


def test_every_tampered_byte_is_refused_with_one_opaque_error(vault: Vault) -> None:
    blob = vault.encrypt(ALICE, b"reading=21.5C", b"row-9")
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        _opaque(vault, ALICE, bytes(tampered), b"row-9")
    for cut in (0, 1, HEADER_BYTES, len(blob) - 1):
        _opaque(vault, ALICE, blob[:cut], b"row-9")
    _opaque(vault, ALICE, blob + b"\x00", b"row-9")


def test_wrong_owner_tenant_or_aad_is_refused(vault: Vault) -> None:
    blob = vault.encrypt(ALICE, b"private", b"row-1")
    vault.encrypt(BOB, b"bob's", b"row-1")
    vault.encrypt(ALICE_ELSEWHERE, b"x", b"row-1")
    _opaque(vault, BOB, blob, b"row-1")
    _opaque(vault, ALICE_ELSEWHERE, blob, b"row-1")
    _opaque(vault, ALICE, blob, b"row-2")
    _opaque(vault, ALICE, blob, b"")
    _opaque(vault, OwnerRef("tenant-1", "nobody"), blob, b"row-1")
    assert vault.decrypt(ALICE, blob, b"row-1") == b"private"


def test_unknown_version_is_refused(vault: Vault) -> None:
    blob = vault.encrypt(ALICE, b"x", b"")
    _opaque(vault, ALICE, b"\x02" + blob[1:], b"")


def test_shredding_makes_blobs_undecryptable_and_stops_new_data(
    vault: Vault, storage: MemoryDataKeys
) -> None:
    blob = vault.encrypt(ALICE, b"history", b"")
    other = vault.encrypt(BOB, b"bob", b"")
    assert vault.shred(ALICE) is True
    assert vault.is_shredded(ALICE)
    assert not vault.is_shredded(BOB)
    record = storage.for_owner(ALICE)
    assert record is not None
    assert record.wrapped_key is None
    _opaque(vault, ALICE, blob, b"")
    with pytest.raises(OwnerShreddedError) as info:
        vault.encrypt(ALICE, b"again", b"")
    assert info.value.code == "vault.shredded"
    assert vault.shred(ALICE) is False  # idempotent
    assert vault.decrypt(BOB, other, b"") == b"bob"


def test_shredding_an_owner_without_a_key_leaves_a_tombstone(vault: Vault) -> None:
    assert vault.shred(BOB) is False
    assert vault.is_shredded(BOB)
    with pytest.raises(OwnerShreddedError):
        vault.encrypt(BOB, b"x", b"")


def test_another_process_stops_decrypting_after_the_cache_ttl(
    storage: MemoryDataKeys, clock: ManualClock
) -> None:
    kek = new_kek()
    hub = Vault(storage, kek, clock, cache_ttl=dt.timedelta(minutes=5))
    cli = Vault(storage, kek, clock)
    blob = hub.encrypt(ALICE, b"x", b"")
    cli.shred(ALICE)
    assert hub.decrypt(ALICE, blob, b"") == b"x"  # still cached: bounded by the TTL
    clock.advance(dt.timedelta(minutes=5))
    _opaque(hub, ALICE, blob, b"")


def test_cache_is_bounded(storage: MemoryDataKeys, clock: ManualClock) -> None:
    vault = Vault(storage, new_kek(), clock, cache_size=2)
    owners = [OwnerRef("t", f"o{i}") for i in range(5)]
    blobs = [vault.encrypt(o, b"x", b"") for o in owners]
    assert len(vault._cache) == 2
    assert all(vault.decrypt(o, b, b"") == b"x" for o, b in zip(owners, blobs, strict=True))


def test_rotation_rewraps_keys_and_keeps_data_readable(
    vault: Vault, storage: MemoryDataKeys, clock: ManualClock
) -> None:
    owners = [OwnerRef("t", f"o{i}") for i in range(7)]
    blobs = {o: vault.encrypt(o, o.owner_id.encode(), b"") for o in owners}
    vault.shred(owners[0])
    before = {o: storage.for_owner(o) for o in owners}
    old_kek_id = vault.kek_id
    new = new_kek()
    report = vault.rotate_kek(new)
    assert (report.rewrapped, report.already_current) == (6, 0)
    assert (report.old_kek_id, report.new_kek_id) == (old_kek_id, new.kek_id)
    assert vault.kek_id == new.kek_id
    assert dict(storage.kek_counts()) == {new.kek_id: 6}
    for o in owners[1:]:
        after = storage.for_owner(o)
        assert after is not None
        assert before[o] is not None
        assert after.dek_id == before[o].dek_id  # same data key: no data re-encrypted
        assert after.wrapped_key != before[o].wrapped_key
    fresh = Vault(storage, new, clock)  # a restarted hub with only the new KEK
    for o in owners[1:]:
        assert fresh.decrypt(o, blobs[o], b"") == o.owner_id.encode()
    _opaque(fresh, owners[0], blobs[owners[0]], b"")


def test_the_old_kek_no_longer_opens_rotated_keys(
    vault: Vault, storage: MemoryDataKeys, clock: ManualClock
) -> None:
    blob = vault.encrypt(ALICE, b"x", b"")
    old = vault._provider
    vault.rotate_kek(new_kek())
    stale = Vault(storage, old, clock)
    with pytest.raises(KekMismatchError):
        stale.check()
    with pytest.raises(KekMismatchError):
        stale.decrypt(ALICE, blob, b"")
    record = storage.for_owner(ALICE)
    assert record is not None
    assert record.wrapped_key is not None
    with pytest.raises(KekMismatchError):
        old.unwrap(record.wrapped_key, b"any")


def test_rotation_resumes_and_refuses_a_third_kek(vault: Vault, storage: MemoryDataKeys) -> None:
    for i in range(3):
        vault.encrypt(OwnerRef("t", f"o{i}"), b"x", b"")
    new = new_kek()
    first = storage.live_keys(after=None, limit=1)[0]
    old = vault._provider
    from fleetward.vault.blob import dek_context

    assert first.wrapped_key is not None
    dek = old.unwrap(first.wrapped_key, dek_context(first.dek_id, first.owner))
    storage.rewrap(
        first.dek_id, old.kek_id, new.wrap(dek, dek_context(first.dek_id, first.owner)), new.kek_id
    )
    report = vault.rotate_kek(new)  # a rotation cut short after one key, run again
    assert (report.rewrapped, report.already_current) == (2, 1)
    with pytest.raises(InvalidInputError):
        vault.rotate_kek(new)
    with pytest.raises(KekMismatchError):
        Vault(storage, new_kek(), vault._clock).rotate_kek(new_kek())


def test_check_reports_counts(vault: Vault) -> None:
    assert vault.check() == {}
    vault.encrypt(ALICE, b"x", b"")
    assert vault.check() == {vault.kek_id: 1}


def test_plaintext_size_is_bounded(storage: MemoryDataKeys, clock: ManualClock) -> None:
    vault = Vault(storage, new_kek(), clock, max_plaintext=8)
    vault.encrypt(ALICE, b"12345678", b"")
    with pytest.raises(InvalidInputError) as info:
        vault.encrypt(ALICE, b"123456789", b"")
    assert info.value.code == "vault.too_large"
