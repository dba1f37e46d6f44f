"""The signed key directory: publish, rotate, retire, and what a client refuses."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.crypto.signing import SigningKey
from fleetward.e2e import (
    DirectoryEntry,
    DirectoryError,
    E2EKeyPair,
    KeyDirectory,
    OwnerKind,
    PublicKeyRecord,
    SignedEntry,
    TrustedKeys,
    key_id_for,
    verify_entry,
)
from fleetward.errors import ConflictError, InvalidInputError, NotFoundError

from ._world import DAY, NOW, TENANT, make_world, owner


def _trusted(hub: SigningKey, **kw: object) -> TrustedKeys:
    return TrustedKeys({hub.kid: hub.public}, tenant_id=str(kw.get("tenant", TENANT)), max_age=DAY)


def test_entry_bytes_round_trip_and_verify() -> None:
    world = make_world()
    signed = world.directory.entry(world.device.key_id)
    assert signed is not None
    data = signed.to_bytes()
    assert data.startswith(b"FWE2EDIR\x01\x01")
    assert SignedEntry.from_bytes(data) == signed
    entry = verify_entry(data, {world.hub.kid: world.hub.public}, now=NOW, max_age=DAY)
    assert entry.record == world.device.record
    assert (entry.not_before, entry.not_after) == (NOW, NOW + 30 * DAY)
    assert entry.retired_at is None


def test_forged_or_altered_entries_are_refused() -> None:
    world = make_world()
    signed = world.directory.entry(world.device.key_id)
    assert signed is not None
    data = signed.to_bytes()
    keys = {world.hub.kid: world.hub.public}
    # another signer claiming the hub's kid
    forger = SigningKey.generate()
    forged = signed.entry.signed_bytes(world.hub.kid) + forger.sign(
        signed.entry.signed_bytes(world.hub.kid)
    )
    with pytest.raises(DirectoryError) as info:
        verify_entry(forged, keys, now=NOW, max_age=DAY)
    assert info.value.code == "e2e.entry_forged"
    # an attacker's key swapped in (id recomputed so that the entry still parses)
    mallory = E2EKeyPair.generate(world.device.owner)
    swapped = DirectoryEntry(mallory.record, NOW, NOW, NOW + DAY)
    with pytest.raises(DirectoryError):
        verify_entry(
            swapped.signed_bytes(world.hub.kid) + signed.signature, keys, now=NOW, max_age=DAY
        )
    # any flipped byte: malformed or forged, never accepted
    for i in range(len(data)):
        with pytest.raises(DirectoryError):
            verify_entry(
                data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :], keys, now=NOW, max_age=DAY
            )
    with pytest.raises(DirectoryError) as info:
        SignedEntry.from_bytes(data + b"\x00")
    assert info.value.code == "e2e.directory_invalid"
    # an unknown signer
    with pytest.raises(DirectoryError):
        verify_entry(data, {}, now=NOW, max_age=DAY)


def test_stale_and_foreign_entries_are_refused() -> None:
    world = make_world()
    signed = world.directory.entry(world.device.key_id)
    assert signed is not None
    with pytest.raises(DirectoryError) as info:
        _trusted(world.hub).add(signed.to_bytes(), now=NOW + 2 * DAY)
    assert info.value.code == "e2e.entry_stale"
    with pytest.raises(DirectoryError) as info:
        _trusted(world.hub, tenant="t2").add(signed.to_bytes(), now=NOW)
    assert info.value.code == "e2e.entry_foreign"
    # the hub re-signs: the fresh statement is accepted
    fresh = {
        s.entry.record.key_id: s
        for s in world.directory.refresh(now=NOW + 2 * DAY, signer=world.hub)
    }
    _trusted(world.hub).add(fresh[world.device.key_id].to_bytes(), now=NOW + 2 * DAY)


def test_rotation_overlap() -> None:
    world = make_world()
    trusted = _trusted(world.hub)
    old = world.device
    new = E2EKeyPair.generate(old.owner)
    changed = world.directory.publish(new.record, now=NOW + DAY, signer=world.hub)
    for signed in changed:
        trusted.add(signed.to_bytes(), now=NOW + DAY)
    assert trusted.current_for(old.owner, now=NOW + DAY) == new.record
    # the old key still authenticates senders through the overlap, not after
    assert trusted.sender_key(old.key_id, now=NOW + DAY + DAY / 2) == old.record
    assert trusted.sender_key(old.key_id, now=NOW + 2 * DAY) is None
    assert trusted.sender_key(new.key_id, now=NOW + 2 * DAY) == new.record
    assert trusted.prune(now=NOW + 2 * DAY) == [old.key_id]


def test_retire_owner_retires_every_key_and_cannot_be_rolled_back() -> None:
    world = make_world()
    trusted = _trusted(world.hub)
    second = E2EKeyPair.generate(world.device.owner)
    before = [
        s.to_bytes() for s in world.directory.publish(second.record, now=NOW, signer=world.hub)
    ]
    for data in before:
        trusted.add(data, now=NOW)
    retired = world.directory.retire_owner(
        world.device.owner, now=NOW + 60 * dt.timedelta(seconds=1), signer=world.hub
    )
    assert {s.entry.record.key_id for s in retired} == {world.device.key_id, second.key_id}
    assert world.directory.retire_owner(world.device.owner, now=NOW, signer=world.hub) == []
    later = NOW + dt.timedelta(minutes=2)
    for signed in retired:
        trusted.add(signed.to_bytes(), now=later)
    assert trusted.sender_key(second.key_id, now=later) is None
    assert trusted.current_for(world.device.owner, now=later) is None
    # an older, unretired statement is refused (rollback), before and after pruning
    with pytest.raises(DirectoryError) as info:
        trusted.add(before[-1], now=later)
    assert info.value.code == "e2e.entry_rollback"
    assert set(trusted.prune(now=later)) == {world.device.key_id, second.key_id}
    with pytest.raises(DirectoryError):
        trusted.add(before[-1], now=later)
    # the app's key is untouched
    assert trusted.sender_key(world.app.key_id, now=later) is None  # never added here


def test_one_key_one_owner_and_bad_inputs() -> None:
    world = make_world()
    thief = PublicKeyRecord.of(owner(OwnerKind.DEVICE, "d9"), world.device.record.public_key)
    with pytest.raises(ConflictError) as info:
        world.directory.publish(thief, now=NOW, signer=world.hub)
    assert info.value.code == "e2e.key_exists"
    with pytest.raises(NotFoundError):
        world.directory.retire_key(b"\x00" * 8, now=NOW, signer=world.hub)
    signed = world.directory.retire_key(world.app.key_id, now=NOW, signer=world.hub)
    assert signed.entry.retired_at == NOW
    assert world.directory.retire_key(world.app.key_id, now=NOW, signer=world.hub) == signed
    with pytest.raises(InvalidInputError):
        PublicKeyRecord(world.app.owner, world.app.record.public_key, b"\x00" * 8)
    with pytest.raises(InvalidInputError):
        key_id_for(b"short")
    with pytest.raises(InvalidInputError):
        owner(OwnerKind.APP, "")
    with pytest.raises(ValueError, match="overlap"):
        KeyDirectory(lifetime=DAY, overlap=DAY)
