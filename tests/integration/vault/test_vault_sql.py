"""The vault on a real database: the raw SQLite file holds no plaintext, KEK rotation
keeps every blob readable, shredding destroys the key bytes, and owners stay in their
tenant. The adapter tests run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert, select, text

from fleetward.clock import ManualClock
from fleetward.config import load_settings
from fleetward.errors import ConfigError
from fleetward.registry import RegistryService, Scope, Store
from fleetward.vault import (
    FileKeyProvider,
    KekMismatchError,
    OwnerRef,
    SqlDataKeys,
    UndecryptableError,
    UnknownOwnerError,
    Vault,
    build_key_provider,
    build_vault,
    create_key_file,
)

MARKER = b"PLAINTEXT-MARKER-7f3a9c"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))


def _kek(tmp_path: Path, name: str) -> FileKeyProvider:
    keys, data = tmp_path / "keys", tmp_path / "data"
    create_key_file(keys / name, data)
    return FileKeyProvider.load(keys / name, data)


def _owners(store: Store, clock: ManualClock, n: int = 2) -> list[OwnerRef]:
    registry = RegistryService(store, clock)
    tenant = registry.create_tenant(f"acme-{os.urandom(3).hex()}")
    return [
        OwnerRef(tenant.id, registry.create_owner(Scope(tenant.id), f"owner-{i}").id)
        for i in range(n)
    ]


def _raw(db: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, its WAL and its journal."""
    data = b""
    for suffix in ("", "-wal", "-journal"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            with path.open("rb") as fh:
                data += fh.read()
    return data


# -- SQLite file, read raw -----------------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    db = tmp_path / "data" / "fleetward.db"
    db.parent.mkdir(mode=0o700)
    s = Store(f"sqlite:///{db}")
    s.migrate()
    yield s, db
    s.close()


def test_raw_sqlite_file_holds_no_plaintext(
    sqlite_store: tuple[Store, Path], tmp_path: Path, clock: ManualClock
) -> None:
    store, db = sqlite_store
    kek = _kek(tmp_path, "kek")
    vault = Vault(SqlDataKeys(store.engine), kek, clock)
    alice, bob = _owners(store, clock)
    # A caller's table of sealed values, in the same database file.
    secrets_table = Table(
        "test_sealed",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("blob", LargeBinary, nullable=False),
    )
    secrets_table.create(store.engine)
    # Seal first: a first use creates the owner's key in its own transaction, which on
    # SQLite must not wait behind the caller's open write transaction.
    blobs = [
        vault.encrypt(owner, MARKER + b"-%d" % i, b"test_sealed/%d" % i)
        for i, owner in enumerate((alice, bob, alice))
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(secrets_table), [{"id": i, "blob": b} for i, b in enumerate(blobs)])
    with store.engine.connect() as conn:
        rows = conn.execute(select(secrets_table).order_by(secrets_table.c.id)).all()
    owners = (alice, bob, alice)
    assert [vault.decrypt(owners[r.id], r.blob, b"test_sealed/%d" % r.id) for r in rows] == [
        MARKER + b"-0",
        MARKER + b"-1",
        MARKER + b"-2",
    ]

    raw = _raw(db)
    assert len(raw) > 0
    assert MARKER not in raw
    assert MARKER.hex().encode() not in raw
    kek_bytes = (tmp_path / "keys" / "kek").read_bytes()
    assert kek_bytes not in raw
    cached = [vault._key_for(o, create=False).key for o in (alice, bob)]  # the unwrapped DEKs
    for dek in cached:
        assert dek not in raw
        assert dek.hex().encode() not in raw


def test_shredding_removes_the_wrapped_key_bytes_from_the_file(
    sqlite_store: tuple[Store, Path], tmp_path: Path, clock: ManualClock
) -> None:
    store, db = sqlite_store
    storage = SqlDataKeys(store.engine)
    vault = Vault(storage, _kek(tmp_path, "kek"), clock)
    alice, bob = _owners(store, clock)
    blob = vault.encrypt(alice, MARKER, b"")
    other = vault.encrypt(bob, b"bob's", b"")
    record = storage.for_owner(alice)
    assert record is not None
    assert record.wrapped_key is not None
    with store.engine.connect() as conn:  # move the key from the WAL into the main file
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    assert record.wrapped_key in db.read_bytes()

    assert vault.shred(alice) is True
    raw = _raw(db)  # secure_delete zeroed the freed cell; the WAL was truncated
    pieces = [record.wrapped_key[i : i + 12] for i in range(0, len(record.wrapped_key), 12)]
    assert [p for p in pieces if p in raw] == []
    with pytest.raises(UndecryptableError):
        vault.decrypt(alice, blob, b"")
    fresh = Vault(storage, vault._provider, clock)  # a restarted hub
    with pytest.raises(UndecryptableError):
        fresh.decrypt(alice, blob, b"")
    assert fresh.decrypt(bob, other, b"") == b"bob's"


def test_hub_start_refuses_a_kek_that_did_not_wrap_the_keys(
    sqlite_store: tuple[Store, Path], tmp_path: Path, clock: ManualClock
) -> None:
    store, _db = sqlite_store
    data = tmp_path / "data"
    settings = load_settings(None, {"FLEETWARD_DATA_DIR": str(data)})
    provider = build_key_provider(settings)
    vault = build_vault(settings, store.engine, clock, provider)
    (alice,) = _owners(store, clock, 1)
    vault.encrypt(alice, b"x", b"")
    assert build_vault(settings, store.engine, clock, provider).check() == {provider.kek_id: 1}
    other = _kek(tmp_path, "another")
    with pytest.raises(ConfigError) as info:
        build_vault(settings, store.engine, clock, other)
    assert info.value.code == "vault.kek_mismatch"
    assert provider.kek_id in info.value.detail


# -- the adapter on SQLite and PostgreSQL --------------------------------------------------


def test_rotation_keeps_data_readable_and_retires_the_old_kek(
    store: Store, tmp_path: Path, clock: ManualClock
) -> None:
    storage = SqlDataKeys(store.engine)
    old = _kek(tmp_path, "old")
    vault = Vault(storage, old, clock)
    owners = _owners(store, clock, 4)
    blobs = {o: vault.encrypt(o, MARKER + o.owner_id.encode(), b"aad") for o in owners}
    vault.shred(owners[0])
    dek_ids = {o: storage.for_owner(o) for o in owners}

    new = _kek(tmp_path, "new")
    report = vault.rotate_kek(new)
    assert (report.rewrapped, report.already_current) == (3, 0)
    assert dict(storage.kek_counts()) == {new.kek_id: 3}

    restarted = Vault(storage, new, clock)
    assert restarted.check() == {new.kek_id: 3}
    for o in owners[1:]:
        after, before = storage.for_owner(o), dek_ids[o]
        assert after is not None
        assert before is not None
        assert after.dek_id == before.dek_id
        assert restarted.decrypt(o, blobs[o], b"aad") == MARKER + o.owner_id.encode()
        assert after.wrapped_key is not None
        with pytest.raises(KekMismatchError):
            old.unwrap(after.wrapped_key, b"")
    with pytest.raises(UndecryptableError):
        restarted.decrypt(owners[0], blobs[owners[0]], b"aad")
    with pytest.raises(KekMismatchError):
        Vault(storage, old, clock).check()


def test_keys_only_for_existing_owners_of_the_tenant(
    store: Store, tmp_path: Path, clock: ManualClock
) -> None:
    storage = SqlDataKeys(store.engine)
    vault = Vault(storage, _kek(tmp_path, "kek"), clock)
    (alice,) = _owners(store, clock, 1)
    (mallory,) = _owners(store, clock, 1)  # another tenant
    with pytest.raises(UnknownOwnerError):
        vault.encrypt(OwnerRef(mallory.tenant_id, alice.owner_id), b"x", b"")
    with pytest.raises(UnknownOwnerError):
        vault.encrypt(OwnerRef(alice.tenant_id, "no-such-owner"), b"x", b"")
    with pytest.raises(UnknownOwnerError):
        vault.shred(OwnerRef(mallory.tenant_id, alice.owner_id))
    assert storage.for_owner(OwnerRef(mallory.tenant_id, alice.owner_id)) is None
    blob = vault.encrypt(alice, b"x", b"")
    with pytest.raises(UndecryptableError):
        vault.decrypt(OwnerRef(mallory.tenant_id, alice.owner_id), blob, b"")


def test_concurrent_first_use_yields_one_key(
    store: Store, tmp_path: Path, clock: ManualClock
) -> None:
    kek = _kek(tmp_path, "kek")
    (alice,) = _owners(store, clock, 1)
    one = Vault(SqlDataKeys(store.engine), kek, clock)
    two = Vault(SqlDataKeys(store.engine), kek, clock)
    # Both miss the key; the second's insert loses the race and adopts the stored key.
    record = one._create(alice, clock.now())
    adopted = two._create(alice, clock.now())
    assert adopted.dek_id == record.dek_id
    assert two.decrypt(alice, one.encrypt(alice, b"x", b""), b"") == b"x"


def test_deleting_the_owner_deletes_its_key(
    store: Store, tmp_path: Path, clock: ManualClock
) -> None:
    storage = SqlDataKeys(store.engine)
    vault = Vault(storage, _kek(tmp_path, "kek"), clock)
    (alice,) = _owners(store, clock, 1)
    vault.encrypt(alice, b"x", b"")
    RegistryService(store, clock).delete_owner(Scope(alice.tenant_id), alice.owner_id)
    assert storage.for_owner(alice) is None
    assert storage.kek_counts() == {}
