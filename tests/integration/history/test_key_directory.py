"""The E2E key directory: devices publish over MQTT, apps over REST, clients verify, and
revoking a device retires its keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from fleetward.audit import SqlAuditStore
from fleetward.crypto.signing import VerifyKey
from fleetward.e2e import DirectoryError, KeyOwner, OwnerKind, TrustedKeys
from fleetward.errors import StorageError
from fleetward.registry import Scope

from ...support.api import assert_problem, make_owner, ok
from ...support.broker import LiveBroker, live_broker
from ...support.hub import LiveHub
from ..broker._clients import Paho
from ._world import Device, add_device, e2e_pair, world

MAX_AGE = dt.timedelta(days=1)


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[LiveBroker]:
    with live_broker(tmp_path / "data") as b:
        yield b


def _hub_keys(body: dict[str, object]) -> dict[str, VerifyKey]:
    keys = body["hub_keys"]
    assert isinstance(keys, dict)
    return {kid: VerifyKey.from_raw(_b64url(jwk["x"])) for kid, jwk in keys.items()}


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _put_key(lb: LiveBroker, d: Device, public_key: bytes) -> dict[str, object]:
    c = Paho(lb, client_id=f"keys-{d.device_id[:8]}", user=(d.device_id, d.token)).connected()
    try:
        assert c.subscribe(f"$fleet/keys/{d.device_id}/result", qos=1) == [1]
        assert c.publish(f"$fleet/keys/{d.device_id}/put", public_key, qos=1) == 0
        answer: dict[str, object] = json.loads(c.get().payload)
        return answer
    finally:
        c.close()


def test_device_publishes_its_key_and_revocation_retires_it(lb: LiveBroker) -> None:
    tenant_id, owner_id, dev = world(lb)
    pair = e2e_pair(tenant_id, OwnerKind.DEVICE, dev.device_id)
    answer = _put_key(lb, dev, pair.record.public_key)
    now = lb.hub.clock.now()
    trusted = TrustedKeys(_hub_keys(answer), tenant_id=tenant_id, max_age=MAX_AGE)
    entries = answer["entries"]
    assert isinstance(entries, list)
    (entry,) = [trusted.add(base64.b64decode(e), now=now) for e in entries]
    assert entry.record == pair.record  # the hub vouches for exactly the device's key
    assert trusted.sender_key(pair.key_id, now=now) == pair.record
    # a forged copy does not verify
    forged = bytearray(base64.b64decode(entries[0]))
    forged[-1] ^= 1
    with pytest.raises(DirectoryError, match="signature"):
        TrustedKeys(_hub_keys(answer), tenant_id=tenant_id, max_age=MAX_AGE).add(
            bytes(forged), now=now
        )

    lb.hub.access().devices.revoke_device(Scope(tenant_id), dev.device_id, "test")
    directory = lb.hub.data.keydir()
    (stored,) = directory.entries(tenant_id, owner_id=owner_id)
    later = trusted.add(stored, now=now)
    assert later.retired_at is not None
    assert trusted.sender_key(pair.key_id, now=now + dt.timedelta(seconds=1)) is None


def test_a_device_cannot_publish_a_key_for_another(lb: LiveBroker) -> None:
    tenant_id, owner_id, dev = world(lb)
    other = add_device(lb, tenant_id, owner_id, "other")
    pair = e2e_pair(tenant_id, OwnerKind.DEVICE, other.device_id)
    c = Paho(lb, client_id="keys-intruder", user=(dev.device_id, dev.token)).connected()
    try:
        topic = f"$fleet/keys/{other.device_id}/put"
        assert c.publish(topic, pair.record.public_key, qos=1) == 0x87
        assert c.subscribe(f"$fleet/keys/{other.device_id}/result", qos=1) == [0x87]
    finally:
        c.close()
    assert lb.hub.data.keydir().entries(tenant_id) == []


def test_apps_publish_over_rest_scoped_to_their_owner(hub: LiveHub) -> None:
    with hub.operator() as op:
        a = make_owner(hub, op, "acme")
        b = make_owner(hub, op, "acme", tenant_id=a.tenant_id)
        pair = e2e_pair(a.tenant_id, OwnerKind.APP, "phone")
        body = {
            "app_id": "phone",
            "public_key_b64": base64.b64encode(pair.record.public_key).decode(),
        }
        url = f"/v1/tenants/{a.tenant_id}/e2e-keys"
        with hub.client(a.token) as alice:
            published = ok(alice.post(url, json=body), 201)
            assert_problem(alice.post(url, json=body), 409, "e2e.key_exists")
            bad = {**body, "public_key_b64": base64.b64encode(b"short").decode()}
            assert_problem(alice.post(url, json=bad), 422)
            listed = ok(alice.get(url))
            assert listed["entries"] == published["entries"]
            assert_problem(alice.get(url, params={"owner": b.owner_id}), 404)
        with hub.client(b.token) as bob:
            assert ok(bob.get(url))["entries"] == []  # bob's own owner: nothing
        now = hub.clock.now()
        trusted = TrustedKeys(_hub_keys(published), tenant_id=a.tenant_id, max_age=MAX_AGE)
        (entry,) = [trusted.add(base64.b64decode(e), now=now) for e in listed["entries"]]
        assert entry.record.owner == KeyOwner(a.tenant_id, OwnerKind.APP, "phone")
        # operators must say whose app it is
        assert_problem(op.post(url, json=body), 422, "e2e.owner_required")
        # the owner's export carries the entry
        export = ok(op.get(f"/v1/tenants/{a.tenant_id}/owners/{a.owner_id}/export"))
        assert export["e2e_keys"] == listed["entries"]


def test_a_revocation_whose_write_fails_stays_cut_and_writes_nothing(lb: LiveBroker) -> None:
    """Cut first, then one transaction: a storage failure surfaces, the session is gone,
    the device stays refused, and the database is not left half-revoked."""
    tenant_id, owner_id, dev = world(lb)
    pair = e2e_pair(tenant_id, OwnerKind.DEVICE, dev.device_id)
    _put_key(lb, dev, pair.record.public_key)
    before = lb.hub.data.keydir().entries(tenant_id, owner_id=owner_id)
    c = Paho(lb, client_id="doomed", user=(dev.device_id, dev.token)).connected()
    engine = lb.hub.store.engine
    with engine.begin() as conn:  # the change feed's table goes away: its insert fails
        conn.execute(text("ALTER TABLE access_changes RENAME TO access_changes_away"))
    try:
        with pytest.raises(StorageError):
            lb.hub.access().devices.revoke_device(Scope(tenant_id), dev.device_id, "test")
        assert c.wait_disconnect() == 0x87
    finally:
        c.close()
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE access_changes_away RENAME TO access_changes"))
    again = Paho(lb, client_id="comeback", user=(dev.device_id, dev.token))
    try:
        assert again.connect().reason == 0x87  # refused in this process
    finally:
        again.close()
    # Nothing of the revocation was written: status, credentials and keys as before.
    assert lb.hub.registry.get_device(Scope(tenant_id), dev.device_id).status == "active"
    assert lb.hub.data.keydir().entries(tenant_id, owner_id=owner_id) == before
    lb.hub.audit_log().flush()
    (entry,) = [
        e
        for e in SqlAuditStore(lb.hub.store.engine).tail(1000)
        if e.action == "device.revoked" and e.target == dev.device_id
    ]
    assert entry.outcome == "unsaved"
