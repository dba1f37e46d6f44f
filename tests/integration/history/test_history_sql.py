"""The history service on SQLite and PostgreSQL: round trip, scoping, retention, binding."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from fleetward.clock import ManualClock
from fleetward.history import HistoryService, Pending, SqlHistory, telemetry_history
from fleetward.registry import RegistryService, Scope, Store
from fleetward.vault import (
    FileKeyProvider,
    OwnerRef,
    UndecryptableError,
    Vault,
    create_key_file,
)
from fleetward.vault.sql import SqlDataKeys

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


def _service(store: Store, tmp_path: Path, owners: dict[tuple[str, str], str]) -> HistoryService:
    create_key_file(tmp_path / "keys" / "kek", tmp_path / "data")
    kek = FileKeyProvider.load(tmp_path / "keys" / "kek", tmp_path / "data")
    vault = Vault(SqlDataKeys(store.engine), kek, ManualClock(T0))
    return HistoryService(SqlHistory(store.engine), vault, lambda t, d: owners.get((t, d)))


def _pending(
    t: str, d: str, stream: str, at: dt.datetime, payload: bytes, days: int = 1
) -> Pending:
    return Pending(t, d, stream, at, dt.timedelta(days=days), payload)


def test_round_trip_scoping_and_retention(store: Store, tmp_path: Path) -> None:
    reg = RegistryService(store, ManualClock(T0))
    t = reg.create_tenant("acme").id
    o = reg.create_owner(Scope(t), "alice").id
    owners = {(t, "dev-1"): o, (t, "dev-2"): o}
    history = _service(store, tmp_path, owners)
    stored = history.store_batch(
        [
            _pending(t, "dev-1", "temp", T0, b"21.5"),
            _pending(t, "dev-1", "temp", T0 + dt.timedelta(seconds=1), b"21.6", days=3),
            _pending(t, "dev-1", "rpm", T0 + dt.timedelta(seconds=2), b"900"),
            _pending(t, "dev-2", "temp", T0, b"other device"),
            _pending(t, "ghost", "temp", T0, b"no owner: skipped"),
        ]
    )
    assert stored == 4
    assert history.skipped == 1
    rows = history.query(t, "dev-1")
    assert [r.payload for r in rows] == [b"21.5", b"21.6", b"900"]
    assert rows[0].received_at == T0  # microseconds survive (they are bound into the AAD)
    assert [r.payload for r in history.query(t, "dev-1", stream="temp")] == [b"21.5", b"21.6"]
    later = history.query(t, "dev-1", since=T0 + dt.timedelta(seconds=1), limit=1)
    assert [r.payload for r in later] == [b"21.6"]
    assert history.query("another-tenant", "dev-1") == []
    # retention: a day later only the three-day record of dev-1 is left
    assert history.purge(T0 + dt.timedelta(days=1, seconds=5)) == 3
    assert [r.payload for r in history.query(t, "dev-1")] == [b"21.6"]
    assert [r.payload for r in history.for_owner(t, o)] == [b"21.6"]


def test_a_blob_moved_to_another_row_does_not_open(store: Store, tmp_path: Path) -> None:
    """The AAD binds device, stream and time: a swapped blob is refused, not misread."""
    reg = RegistryService(store, ManualClock(T0))
    t = reg.create_tenant("acme").id
    o = reg.create_owner(Scope(t), "alice").id
    history = _service(store, tmp_path, {(t, "d"): o})
    history.store_batch([_pending(t, "d", "temp", T0, b"one"), _pending(t, "d", "rpm", T0, b"two")])
    first, second = history.query(t, "d")
    c = telemetry_history.c
    with store.engine.begin() as conn:
        conn.execute(update(telemetry_history).where(c.id == first.id).values(stream="rpm2"))
    with pytest.raises(UndecryptableError):
        history.query(t, "d", stream="rpm2")
    assert [r.payload for r in history.query(t, "d", stream=second.stream)] == [b"two"]


def test_blobs_swapped_between_rows_do_not_open(store: Store, tmp_path: Path) -> None:
    """Same owner, same key: swapping two rows' blobs (times or devices apart) is refused."""
    reg = RegistryService(store, ManualClock(T0))
    t = reg.create_tenant("acme").id
    o = reg.create_owner(Scope(t), "alice").id
    history = _service(store, tmp_path, {(t, "d1"): o, (t, "d2"): o})
    later = T0 + dt.timedelta(microseconds=1)
    history.store_batch(
        [
            _pending(t, "d1", "temp", T0, b"21.5"),
            _pending(t, "d1", "temp", later, b"99.9"),
            _pending(t, "d2", "temp", T0, b"other device"),
        ]
    )
    first, second = history.query(t, "d1")
    (third,) = history.query(t, "d2")
    c = telemetry_history.c

    def blob(row_id: int) -> bytes:
        with store.engine.connect() as conn:
            return bytes(conn.execute(select(c.blob).where(c.id == row_id)).scalar_one())

    def swap(a: int, b: int) -> None:
        blob_a, blob_b = blob(a), blob(b)
        with store.engine.begin() as conn:
            conn.execute(update(telemetry_history).where(c.id == a).values(blob=blob_b))
            conn.execute(update(telemetry_history).where(c.id == b).values(blob=blob_a))

    swap(first.id, second.id)  # one microsecond apart
    with pytest.raises(UndecryptableError):
        history.query(t, "d1")
    swap(first.id, second.id)
    assert [r.payload for r in history.query(t, "d1")] == [b"21.5", b"99.9"]
    swap(first.id, third.id)  # same time, same stream, another device
    with pytest.raises(UndecryptableError):
        history.query(t, "d1")
    with pytest.raises(UndecryptableError):
        history.query(t, "d2")


def test_shredding_stops_ingest_and_reads_at_once_despite_the_cache(
    store: Store, tmp_path: Path
) -> None:
    """The history's vault has the owner's key cached; the shred still takes effect in the
    same call: later batches for that owner are refused, stored rows no longer open."""
    reg = RegistryService(store, ManualClock(T0))
    t = reg.create_tenant("acme").id
    alice = reg.create_owner(Scope(t), "alice").id
    bob = reg.create_owner(Scope(t), "bob").id
    create_key_file(tmp_path / "keys" / "kek", tmp_path / "data")
    kek = FileKeyProvider.load(tmp_path / "keys" / "kek", tmp_path / "data")
    vault = Vault(SqlDataKeys(store.engine), kek, ManualClock(T0), cache_ttl=dt.timedelta(days=1))
    owners = {"d1": alice, "d2": bob}
    history = HistoryService(SqlHistory(store.engine), vault, lambda _t, d: owners.get(d))
    assert (
        history.store_batch(
            [_pending(t, "d1", "temp", T0, b"a"), _pending(t, "d2", "temp", T0, b"b")]
        )
        == 2
    )
    assert [r.payload for r in history.query(t, "d1")] == [b"a"]  # alice's key is cached
    vault.shred(OwnerRef(t, alice))
    with pytest.raises(UndecryptableError):
        history.query(t, "d1")
    later = T0 + dt.timedelta(seconds=1)
    stored = history.store_batch(
        [_pending(t, "d1", "temp", later, b"a2"), _pending(t, "d2", "temp", later, b"b2")]
    )
    assert stored == 1  # bob's only; alice gets no fresh key
    assert history.skipped == 1
    assert history.erase_owner(t, alice) == 1
    assert [r.payload for r in history.query(t, "d2")] == [b"b", b"b2"]
