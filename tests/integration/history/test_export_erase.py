"""An owner's export holds everything about them and nothing else; erasure leaves nothing
decryptable with anything the hub holds (its KEK, every data key still stored)."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetward.crypto import AeadError
from fleetward.errors import NotFoundError
from fleetward.history import record_aad
from fleetward.history.sql import from_micros
from fleetward.presence import SqlAlertStore
from fleetward.presence.alerts import AlertKey, AlertKind, AlertSignal
from fleetward.registry import Scope
from fleetward.vault import OwnerRef, SqlDataKeys, UndecryptableError, build_key_provider
from fleetward.vault.blob import dek_context, open_blob

from ...support.broker import LiveBroker, live_broker
from ..broker._clients import Paho, wait_until
from ._world import HISTORY_ENV, Device, add_device

ALICE_MARK = b"alice-secret-reading"
BOB_MARK = b"bob-secret-reading"
EVE_MARK = b"eve-secret-reading"


@dataclass
class Fleet:
    tenant_id: str
    other_tenant_id: str
    alice: str
    bob: str
    eve: str
    alice_devices: list[Device]
    bob_device: Device
    eve_device: Device


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[LiveBroker]:
    with live_broker(tmp_path / "data", **HISTORY_ENV) as b:
        yield b


def _publish(lb: LiveBroker, d: Device, payload: bytes, n: int = 2) -> None:
    c = Paho(lb, client_id=f"dev-{d.device_id[:8]}", user=(d.device_id, d.token)).connected()
    try:
        for i in range(n):
            reason = c.publish(f"devices/{d.device_id}/telemetry/temp", payload + b"%d" % i, 1)
            assert reason is not None
            assert reason < 0x80
    finally:
        c.close()


def _alert(lb: LiveBroker, d: Device) -> None:
    store = SqlAlertStore(lb.hub.store.engine)
    key = AlertKey(d.tenant_id, AlertKind.OFFLINE, d.device_id)
    now = lb.hub.clock.now()
    store.apply(AlertSignal("raise", key, now, owner_id=d.owner_id, device_id=d.device_id))


@pytest.fixture
def fleet(lb: LiveBroker) -> Fleet:
    reg = lb.hub.registry
    t = reg.create_tenant("acme").id
    t2 = reg.create_tenant("globex").id
    alice = reg.create_owner(Scope(t), "alice", "alice@example.com").id
    bob = reg.create_owner(Scope(t), "bob").id
    eve = reg.create_owner(Scope(t2), "eve").id
    alice_devices = [add_device(lb, t, alice, "a1"), add_device(lb, t, alice, "a2")]
    bob_device = add_device(lb, t, bob, "b1")
    eve_device = add_device(lb, t2, eve, "e1")
    for d, mark in [
        (alice_devices[0], ALICE_MARK),
        (alice_devices[1], ALICE_MARK),
        (bob_device, BOB_MARK),
        (eve_device, EVE_MARK),
    ]:
        _publish(lb, d, mark)
        _alert(lb, d)
    history = lb.hub.data.history()
    wait_until(
        lambda: all(
            len(history.query(d.tenant_id, d.device_id)) == 2
            for d in [*alice_devices, bob_device, eve_device]
        ),
        what="every device's telemetry stored",
    )
    lb.hub.audit_log().flush()
    return Fleet(t, t2, alice, bob, eve, alice_devices, bob_device, eve_device)


def test_export_holds_every_record_about_the_owner_and_nothing_else(
    lb: LiveBroker, fleet: Fleet
) -> None:
    data = lb.hub.data.owner_data(lb.hub.access())
    bundle = data.export(Scope(fleet.tenant_id), fleet.alice)
    text = json.dumps(bundle)
    alice_ids = {d.device_id for d in fleet.alice_devices}
    assert bundle["owner"]["id"] == fleet.alice
    assert bundle["owner"]["email"] == "alice@example.com"
    assert {d["id"] for d in bundle["devices"]} == alice_ids
    # credential metadata only: a token device has none stored; never a hash field
    assert all("secret_hash" not in c for d in bundle["devices"] for c in d["credentials"])
    payloads = sorted(base64.b64decode(r["payload_b64"]) for r in bundle["telemetry"])
    assert payloads == sorted([ALICE_MARK + b"0", ALICE_MARK + b"1"] * 2)
    assert {r["device_id"] for r in bundle["telemetry"]} == alice_ids
    assert {a["device_id"] for a in bundle["alerts"]} == alice_ids
    minted = {e["target"] for e in bundle["audit"] if e["action"] == "token.minted"}
    assert minted == alice_ids
    # nothing about bob (same tenant) or eve (another tenant)
    for foreign in (fleet.bob, fleet.eve, fleet.bob_device.device_id, fleet.eve_device.device_id):
        assert foreign not in text
    assert base64.b64encode(BOB_MARK).decode()[:16] not in text
    assert "bob" not in text.lower()


def test_an_owner_key_exports_only_itself(lb: LiveBroker, fleet: Fleet) -> None:
    data = lb.hub.data.owner_data(lb.hub.access())
    with pytest.raises(NotFoundError):
        data.export(Scope(fleet.tenant_id, fleet.bob), fleet.alice)
    with pytest.raises(NotFoundError):
        data.export(Scope(fleet.other_tenant_id), fleet.alice)


def _raw_rows(lb: LiveBroker, owner_id: str) -> list[tuple[str, str, str, int, bool, bytes]]:
    with sqlite3.connect(lb.hub.settings.data_dir / "fleetward.db") as db:
        return [
            (t, d, s, us, bool(sealed), bytes(blob))
            for t, d, s, us, sealed, blob in db.execute(
                "SELECT tenant_id, device_id, stream, received_us, sealed, blob "
                "FROM telemetry_history WHERE owner_id = ?",
                (owner_id,),
            )
        ]


def test_erasure_leaves_nothing_decryptable(lb: LiveBroker, fleet: Fleet) -> None:
    hub = lb.hub
    vault = hub.data.vault()
    before = _raw_rows(lb, fleet.alice)  # an attacker's (or a backup's) copy
    assert len(before) == 4
    owner = OwnerRef(fleet.tenant_id, fleet.alice)
    for t, d, s, us, sealed, blob in before:  # they open before the erasure
        assert vault.decrypt(owner, blob, record_aad(t, d, s, from_micros(us), sealed))

    report = hub.data.owner_data(hub.access()).erase(Scope(fleet.tenant_id), fleet.alice, "test")
    assert (report.key_shredded, report.devices, report.telemetry, report.alerts) == (
        True,
        2,
        4,
        2,
    )

    # the rows are gone from the database file
    assert _raw_rows(lb, fleet.alice) == []
    with sqlite3.connect(hub.settings.data_dir / "fleetward.db") as db:
        tables = ("owners", "devices", "presence_alerts", "owner_data_keys")
        for table in tables:
            column = "id" if table == "owners" else "owner_id"
            n = db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (fleet.alice,))  # noqa: S608
            assert n.fetchone() == (0,), table
    # the copies taken before no longer open: not with the vault ...
    for t, d, s, us, sealed, blob in before:
        with pytest.raises(UndecryptableError):
            vault.decrypt(owner, blob, record_aad(t, d, s, from_micros(us), sealed))
    # ... nor with any data key the hub still holds, unwrapped by its own KEK
    provider = build_key_provider(hub.settings, create_missing=False)
    live = SqlDataKeys(hub.store.engine).live_keys(after=None, limit=10_000)
    assert live  # bob's and eve's keys are still there
    for record in live:
        assert record.wrapped_key is not None
        key = provider.unwrap(record.wrapped_key, dek_context(record.dek_id, record.owner))
        for t, d, s, us, sealed, blob in before:
            aad = record_aad(t, d, s, from_micros(us), sealed)
            for who in (record.owner, owner):
                with pytest.raises((UndecryptableError, AeadError)):
                    open_blob(key, who, blob, aad)
    # everyone else's history still reads
    rows = hub.data.history().query(fleet.tenant_id, fleet.bob_device.device_id)
    assert [r.payload for r in rows] == [BOB_MARK + b"0", BOB_MARK + b"1"]
    # and the erased owner's devices can no longer be recorded for
    assert hub.data.history().query(fleet.tenant_id, fleet.alice_devices[0].device_id) == []
