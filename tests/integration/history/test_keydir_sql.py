"""The key directory's storage on SQLite and PostgreSQL: rotation overlap, retirement."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fleetward.clock import ManualClock
from fleetward.e2e import E2EKeyPair, KeyOwner, OwnerKind, TrustedKeys
from fleetward.errors import ConflictError, InvalidInputError
from fleetward.keydir import KeyDirectoryService, open_directory_ring
from fleetward.registry import Store

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_rotation_retirement_and_scoping(store: Store, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    directory = KeyDirectoryService(
        store.engine,
        open_directory_ring(tmp_path / "data", T0),
        clock,
        overlap=dt.timedelta(days=1),
    )
    device = KeyOwner("t1", OwnerKind.DEVICE, "d1")
    first, second = E2EKeyPair.generate(device), E2EKeyPair.generate(device)
    directory.publish(device, "owner-1", first.record.public_key)
    clock.advance(dt.timedelta(hours=1))
    changed = directory.publish(device, "owner-1", second.record.public_key)
    assert len(changed) == 2  # the old key cut to the overlap, the new one
    with pytest.raises(ConflictError):
        directory.publish(KeyOwner("t1", OwnerKind.APP, "a"), "owner-1", first.record.public_key)
    with pytest.raises(InvalidInputError):
        directory.publish(device, "owner-1", b"short")
    now = clock.now()
    trusted = TrustedKeys(directory.verify_keys(), tenant_id="t1", max_age=dt.timedelta(days=2))
    for entry in directory.entries("t1", owner_id="owner-1"):
        trusted.add(entry, now=now)
    later = now + dt.timedelta(days=2)
    assert trusted.sender_key(first.key_id, now=now) == first.record  # inside the overlap
    assert trusted.sender_key(first.key_id, now=later) is None  # past it
    assert trusted.sender_key(second.key_id, now=later) == second.record
    assert directory.entries("t2") == []
    assert directory.entries("t1", owner_id="owner-2") == []

    directory.retire_device("t1", "d1")
    for entry in directory.entries("t1"):
        assert trusted.add(entry, now=now).retired_at is not None
    assert directory.delete_owner("t1", "owner-1") == 2
    assert directory.entries("t1") == []
