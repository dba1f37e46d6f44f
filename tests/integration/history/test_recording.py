"""Telemetry history through the real broker: opt-in per stream, encrypted at rest."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetward.e2e import OwnerKind, seal_envelope
from fleetward.history import looks_sealed

from ...support.broker import LiveBroker, live_broker
from ..broker._clients import Paho, wait_until
from ._world import HISTORY_ENV, Device, add_device, e2e_pair, world

MARKER = b"PLAINTEXT-MARKER-3f9a"


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[LiveBroker]:
    with live_broker(tmp_path / "data", **HISTORY_ENV) as b:
        yield b


def _device_client(lb: LiveBroker, d: Device) -> Paho:
    return Paho(lb, client_id=f"dev-{d.device_id[:8]}", user=(d.device_id, d.token)).connected()


def _accepted(reason: int | None) -> bool:
    """PUBACK success, or 0x10 No matching subscribers (MQTT 5 §3.4.2.1)."""
    return reason is not None and reason < 0x80


def _raw_files(data_dir: Path) -> bytes:
    """Every byte of the SQLite database, its WAL and journal, read as files."""
    return b"".join(p.read_bytes() for p in data_dir.glob("fleetward.db*"))


def test_opted_in_streams_are_stored_encrypted_and_read_back(lb: LiveBroker) -> None:
    tenant_id, owner_id, dev = world(lb)
    client = _device_client(lb, dev)
    try:
        for i in range(3):
            topic = f"devices/{dev.device_id}/telemetry/temp"
            assert _accepted(client.publish(topic, MARKER + b"%d" % i, qos=1))
        client.publish(f"devices/{dev.device_id}/telemetry/humidity", MARKER + b"-h", qos=1)
    finally:
        client.close()
    history = lb.hub.data.history()
    rows = wait_until(
        lambda: (r := history.query(tenant_id, dev.device_id)) and len(r) >= 3 and r,
        what="three stored records",
    )
    assert [r.payload for r in rows] == [MARKER + b"0", MARKER + b"1", MARKER + b"2"]
    assert {r.stream for r in rows} == {"temp"}  # humidity is not opted in
    assert all(not r.sealed and r.owner_id == owner_id for r in rows)
    assert all(r.expires_at - r.received_at == dt.timedelta(days=1) for r in rows)
    # at rest: the blob column holds ciphertext only, and the files contain no marker
    with sqlite3.connect(lb.hub.settings.data_dir / "fleetward.db") as db:
        blobs = [bytes(b) for (b,) in db.execute("SELECT blob FROM telemetry_history")]
    assert len(blobs) == 3
    assert all(MARKER not in b for b in blobs)
    assert MARKER not in _raw_files(lb.hub.settings.data_dir)


def test_sealed_payloads_stay_sealed_at_rest_and_on_read(lb: LiveBroker) -> None:
    tenant_id, _owner_id, dev = world(lb)
    device_key = e2e_pair(tenant_id, OwnerKind.DEVICE, dev.device_id)
    app_key = e2e_pair(tenant_id, OwnerKind.APP, "app-1")
    topic = f"devices/{dev.device_id}/telemetry/sealed/power"
    envelope = seal_envelope(
        MARKER, topic=topic, sender=device_key, recipients=[app_key.record], seq=1
    )
    client = _device_client(lb, dev)
    try:
        assert _accepted(client.publish(topic, envelope, qos=1))
    finally:
        client.close()
    history = lb.hub.data.history()
    rows = wait_until(lambda: history.query(tenant_id, dev.device_id), what="a stored record")
    assert rows[0].sealed
    assert looks_sealed(rows[0].payload)
    assert rows[0].payload == envelope  # the hub undid only its own layer
    assert rows[0].stream == "sealed/power"
    assert MARKER not in _raw_files(lb.hub.settings.data_dir)


def test_a_device_cannot_record_into_another_devices_history(lb: LiveBroker) -> None:
    """The broker's policy refuses the publish; the recorder never sees it."""
    tenant_id, owner_id, dev = world(lb)
    other = add_device(lb, tenant_id, owner_id, "other")
    client = _device_client(lb, dev)
    try:
        assert client.publish(f"devices/{other.device_id}/telemetry/temp", MARKER, 1) == 0x87
        assert _accepted(client.publish(f"devices/{dev.device_id}/telemetry/temp", b"mine", 1))
    finally:
        client.close()
    history = lb.hub.data.history()
    wait_until(lambda: history.query(tenant_id, dev.device_id), what="own record")
    assert history.query(tenant_id, other.device_id) == []
